"""A processors test bed on the real Kafka and S3: repos, specs, a worker subprocess and an event reader."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from typer.testing import CliRunner

from custody.cli.main import app as cli_app
from custody.events import CloudEvent, InvalidEvent, decode
from custody.events.models import Agent, RepoRegistered, UploadOrigin
from custody.kafka import ensure_topics
from custody.s3 import make_s3_client
from custody.settings import Settings
from custody.topics import topic
from tests.support.backends import Backend

TESTER = Agent(kind="person", name="tester")
WAIT_S = 90.0
CUSTODY = str(Path(sys.executable).parent / "custody")


class EventReader:
    """Read Custody topics from their beginning and keep every decoded event, in arrival order."""

    def __init__(self, settings: Settings, *names: str, on_timeout: Callable[[], str] = lambda: "") -> None:
        self.consumer = Consumer(
            {**settings.kafka.client_config(), "group.id": f"test-reader-{uuid.uuid4().hex}", "enable.auto.commit": False}
        )
        partitions = []
        for name in names:
            full = topic(name).full_name(settings.topic_prefix)
            metadata = self.consumer.list_topics(full, timeout=10).topics[full]
            partitions += [TopicPartition(full, p, OFFSET_BEGINNING) for p in metadata.partitions]
        self.consumer.assign(partitions)
        self.events: list[CloudEvent] = []
        self.raw: list[tuple[str, bytes | None, bytes]] = []
        self.on_timeout = on_timeout

    def drain(self, seconds: float = 0.5) -> list[CloudEvent]:
        """Read what arrives within `seconds`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for message in self.consumer.consume(200, timeout=0.2):
                if message.error() is not None:
                    continue
                self.raw.append((message.topic(), message.key(), message.value()))
                try:
                    self.events.append(decode(message.value()))
                except InvalidEvent:
                    continue
        return self.events

    def wait_for(self, predicate: Callable[[list[CloudEvent]], Any], what: str, timeout_s: float = WAIT_S) -> Any:
        """Read until predicate(events) is truthy and return its value; fail naming `what` otherwise."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.drain(0.3)
            result = predicate(self.events)
            if result:
                return result
        pytest.fail(f"timed out after {timeout_s:.0f}s waiting for {what}\n{self.on_timeout()}")

    def of_type(self, suffix: str, **fields: Any) -> list[CloudEvent]:
        """Return the events whose type contains `suffix` and whose payload has the given field values."""
        return [
            e for e in self.events
            if suffix in e.type and all(getattr(e.data, name) == value for name, value in fields.items())
        ]

    def close(self) -> None:
        self.consumer.close()


@dataclass
class Worker:
    """A `custody processors run` subprocess."""

    process: subprocess.Popen
    log_path: Path

    def log_tail(self, chars: int = 6000) -> str:
        return f"--- worker log {self.log_path} ---\n" + self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Bed:
    """Repos in one bucket, under one topic prefix, with helpers to commit, apply and run workers."""

    settings: Settings
    bucket: str
    directory: Path
    workers: list[Worker] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        s3 = self.settings.s3
        return {
            **os.environ,
            "CUSTODY_KAFKA_BOOTSTRAP_SERVERS": self.settings.kafka.bootstrap_servers,
            "CUSTODY_S3_ENDPOINT_URL": s3.endpoint_url or "",
            "CUSTODY_S3_ACCESS_KEY_ID": s3.access_key_id or "",
            "CUSTODY_S3_SECRET_ACCESS_KEY": s3.secret_access_key.get_secret_value() if s3.secret_access_key else "",
            "CUSTODY_TOPIC_PREFIX": self.settings.topic_prefix,
            "CUSTODY_PROCESSORS_SESSION_TIMEOUT_S": "6",
            "CUSTODY_PROCESSORS_RESUME_INTERVAL_S": "1",
            "CUSTODY_LOG_LEVEL": "INFO",
            "COLUMNS": "250",
        }

    def register_repo(self, name: str, *labels: str) -> None:
        from custody.repos import RepoRegistry

        RepoRegistry(self.settings).create(
            RepoRegistered(name=name, bucket=self.bucket, prefix=f"{name}/", labels=list(labels), registered_by=TESTER)
        )

    def commit(self, repo: str, files: dict[str, str]):
        from custody.repos import commit_files

        folder = self.directory / f"upload-{uuid.uuid4().hex[:8]}"
        for path, text in files.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_text(text)
        return commit_files(self.settings, repo, [folder], author=TESTER, origin=UploadOrigin(via="api"))

    def write_spec(self, document: dict[str, Any]) -> Path:
        path = self.directory / f"{document.get('name', 'spec')}-{uuid.uuid4().hex[:6]}.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        return path

    def cli(self, *args: str):
        return CliRunner().invoke(cli_app, list(args), env=self.env)

    def start_worker(self, name: str, **extra_env: str) -> Worker:
        state_dir = self.directory / f"state-{name}"
        log_path = self.directory / f"worker-{name}-{len(self.workers)}.log"
        env = {**self.env, "CUSTODY_PROCESSORS_STATE_DIR": str(state_dir), **extra_env}
        with open(log_path, "wb") as output:
            process = subprocess.Popen([CUSTODY, "processors", "run"], env=env, stdout=output, stderr=subprocess.STDOUT)
        worker = Worker(process, log_path)
        self.workers.append(worker)
        return worker

    def reader(self, *names: str) -> EventReader:
        return EventReader(self.settings, *names, on_timeout=lambda: "\n".join(w.log_tail() for w in self.workers))

    def script(self, name: str, body: str) -> Path:
        path = self.directory / name
        path.write_text(body)
        return path


def make_bed(backend: Backend, directory: Path) -> Iterator[Bed]:
    """Create a fresh prefix and versioned bucket; stop every worker at the end."""
    unique = uuid.uuid4().hex[:10]
    settings = Settings(topic_prefix=f"test-{unique}.", kafka=backend.kafka, s3=backend.s3)
    ensure_topics(settings.kafka, prefix=settings.topic_prefix)
    bucket = f"proc-{unique}"
    client = make_s3_client(settings.s3)
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    bed = Bed(settings, bucket, directory)
    yield bed
    for worker in bed.workers:
        worker.stop()


@pytest.fixture
def bed(backend: Backend, tmp_path: Path) -> Iterator[Bed]:
    yield from make_bed(backend, tmp_path)


@pytest.fixture(scope="module")
def module_bed(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    yield from make_bed(backend, tmp_path_factory.mktemp("processors"))
