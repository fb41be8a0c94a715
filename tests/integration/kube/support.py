"""Helpers of the Kubernetes integration tests: an executor publishing to real Kafka, and readers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from custody.events import decode
from custody.kafka import ManualCommitConsumer, ensure_topics
from custody.settings import KafkaSettings, Settings
from processors.executors.kubernetes import KubernetesExecutor
from processors.k8s_api import KubeApi
from processors.k8s_settings import KubernetesSettings
from processors.publishing import EventPublisher
from processors.settings import ProcessorSettings


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def make_executor(kafka: KafkaSettings, prefix: str, kube: KubernetesSettings, state_dir: Path) -> KubernetesExecutor:
    ensure_topics(kafka, prefix=prefix)
    settings = Settings(kafka=kafka, topic_prefix=prefix)
    publisher = EventPublisher(settings)
    return KubernetesExecutor(settings, ProcessorSettings(state_dir=state_dir), publisher, kube_settings=kube)


class JobEventReader:
    """Reads the job events of one topic prefix from the start."""

    def __init__(self, kafka: KafkaSettings, prefix: str, group: str) -> None:
        self.consumer = ManualCommitConsumer(kafka, group_id=group)
        self.consumer.subscribe([f"{prefix}custody.jobs"])
        self.events: list[Any] = []

    def wait_for(self, job_id: str, predicate: Callable[[list[Any]], bool], timeout_s: float = 90.0) -> list[Any]:
        """Poll until the events of `job_id` satisfy `predicate`; return them (the caller asserts)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            message = self.consumer.poll(0.5)
            if message is not None and message.error() is None:
                self.events.append(decode(message.value()))
            mine = self.of(job_id)
            if predicate(mine):
                return mine
        return self.of(job_id)

    def drain(self, seconds: float) -> None:
        """Read for `seconds` more, to catch events that should not come."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            message = self.consumer.poll(0.3)
            if message is not None and message.error() is None:
                self.events.append(decode(message.value()))

    def of(self, job_id: str) -> list[Any]:
        return [event for event in self.events if event.data.job_id == job_id]

    def close(self) -> None:
        self.consumer.close()


def summary(events: list[Any]) -> list[tuple[str, int, bool | None]]:
    """Return (kind, attempt, final) per event, for readable assertions."""
    rows = []
    for event in events:
        kind = event.type.split(".")[3]
        if kind == "scheduled":
            continue
        rows.append((kind, event.data.attempt, getattr(event.data, "final", None)))
    return rows


def wait_job(api: KubeApi, namespace: str, name: str, condition: str, timeout_s: float = 90.0) -> dict:
    """Poll the Job until it has `condition` (Complete or Failed); return it as a dictionary."""
    deadline = time.monotonic() + timeout_s
    job: dict = {}
    while time.monotonic() < deadline:
        job = api.api_client.sanitize_for_serialization(api.batch.read_namespaced_job(name, namespace))
        conditions = (job.get("status") or {}).get("conditions") or []
        if any(c["type"] == condition and c["status"] == "True" for c in conditions):
            return job
        time.sleep(0.3)
    return job
