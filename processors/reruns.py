"""Deliberate re-runs: a request on the trigger topic with a fresh nonce, so the job id is new.

The request carries who asked and why; the worker records both in the
TriggerDecision and the JobScheduled event. The nonce is chosen here, once,
so a request that Kafka delivers twice still starts one job.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, TopicPartition

from custody.errors import PermanentError, ServiceUnavailableError
from custody.events import InvalidEvent, decode
from custody.events.catalog import TriggerDecidedEvent
from custody.events.models import Agent, TriggerDecision
from custody.kafka import DurableProducer
from custody.kafka.admin import admin_client, unreachable_message
from custody.kafka.logs import librdkafka_logger
from custody.s3 import make_s3_client
from custody.settings import Settings
from custody.topics import topic
from processors.app import triggers_topic_name
from processors.registry import PipelineRegistry, RegistryEntry
from processors.requests import CommitSummary, TriggerRequest
from processors.settings import ProcessorSettings

log = logging.getLogger(__name__)

_COMMIT_ID = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class RerunResult:
    """The request sent, and the worker's decision when it arrived in time."""

    request_id: str
    decision: TriggerDecision | None


def request_rerun(
    settings: Settings,
    processor_settings: ProcessorSettings,
    name: str,
    *,
    reason: str,
    requested_by: Agent,
    commit_id: str | None = None,
    wait_s: float = 0.0,
) -> RerunResult:
    """Send a re-run request; with `wait_s` > 0, wait that long for the worker's decision."""
    if not reason.strip():
        raise PermanentError("a re-run needs a reason; pass --reason TEXT, it is kept in the lineage record")
    entry = PipelineRegistry(settings).get(name)
    commit = find_input_commit(settings, entry, commit_id) if commit_id else None
    request_id = str(uuid.uuid4())
    request = TriggerRequest(
        request_id=request_id,
        kind="rerun",
        pipeline=name,
        registration=entry.registration.model_dump(mode="json"),
        registry_offset=entry.offset,
        commit=commit,
        cause_event_id=request_id,
        requested_by=requested_by,
        reason=reason.strip(),
        nonce=uuid.uuid4().hex,
    )

    triggers = triggers_topic_name(settings, processor_settings)
    _require_topic(settings, triggers)
    watcher = _DecisionWatcher(settings, name) if wait_s > 0 else None
    producer = DurableProducer(settings.kafka, topic_prefix=settings.topic_prefix, client_id="custody-rerun")
    producer.produce(triggers, request.model_dump_json().encode(), key=name.encode())
    producer.close()
    log.info("pipeline=%s re-run request=%s sent to topic=%s by %s", name, request_id, triggers, requested_by.agent_id)

    decision = watcher.wait_for(request_id, wait_s) if watcher else None
    return RerunResult(request_id, decision)


def find_input_commit(settings: Settings, entry: RegistryEntry, commit_id: str) -> CommitSummary:
    """Return the commit of one of the pipeline's input repos, read from its manifest in S3."""
    if not _COMMIT_ID.match(commit_id):
        raise PermanentError(f"commit id {commit_id!r} is not a full commit id (64 lower-case hex digits)")

    from custody.repos import RepoRegistry, RepoStore

    client = make_s3_client(settings.s3)
    registry = RepoRegistry(settings)
    for repo_name in entry.registration.input_repos:
        store = RepoStore(client, registry.get(repo_name))
        try:
            event = store.read_manifest(commit_id)
        except PermanentError:
            continue
        return CommitSummary.from_event(event.data, event_id=event.id)
    repos = ", ".join(entry.registration.input_repos)
    raise PermanentError(f"commit {commit_id} is not a commit of the input repos ({repos}) of pipeline {entry.registration.name}")


def _require_topic(settings: Settings, name: str) -> None:
    try:
        topics = admin_client(settings.kafka).list_topics(timeout=10).topics
    except KafkaException as exc:
        raise ServiceUnavailableError(unreachable_message(settings.kafka, str(exc.args[0]))) from exc
    if name not in topics:
        raise ServiceUnavailableError(
            f"topic {name} does not exist yet, so no processors worker ever ran with these settings; "
            "start one with `custody processors run` (same CUSTODY_TOPIC_PREFIX and CUSTODY_PROCESSORS_APP_ID)"
        )


class _DecisionWatcher:
    """Read the decisions topic from its current end, before the request is sent, so no decision is missed."""

    def __init__(self, settings: Settings, pipeline: str) -> None:
        self.pipeline = pipeline
        self.topic = topic("custody.decisions").full_name(settings.topic_prefix)
        self.consumer = Consumer(
            {
                **settings.kafka.client_config(),
                "group.id": f"custody-rerun-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "logger": librdkafka_logger(),
            }
        )
        metadata = self.consumer.list_topics(self.topic, timeout=10).topics[self.topic]
        partitions = []
        for number in metadata.partitions:
            _low, high = self.consumer.get_watermark_offsets(TopicPartition(self.topic, number), timeout=10)
            partitions.append(TopicPartition(self.topic, number, high))
        self.consumer.assign(partitions)

    def wait_for(self, request_id: str, timeout_s: float) -> TriggerDecision | None:
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                message = self.consumer.poll(0.5)
                if message is None or message.error() is not None:
                    continue
                try:
                    event = decode(message.value())
                except InvalidEvent:
                    continue
                if isinstance(event, TriggerDecidedEvent) and event.causationid == request_id:
                    return event.data
            return None
        finally:
            self.consumer.close()
