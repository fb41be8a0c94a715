"""Fixtures for producer tests: prefixed topics, a versioned bucket, event readers and service threads."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from custody.events import CloudEvent, decode
from custody.events.models import Agent, Grouping, RepoRegistered
from custody.kafka import ensure_topics
from custody.repos import RepoRegistry
from custody.s3 import make_s3_client
from custody.settings import KafkaSettings, S3Settings, Settings
from custody.shutdown import StopSignal

ALICE = Agent(kind="person", name="alice")
GATEWAY_TOPIC = "custody.storage.s3-events"


@pytest.fixture
def settings(kafka_settings: KafkaSettings, s3_settings: S3Settings, unique: str) -> Settings:
    prefixed = Settings(topic_prefix=f"test-{unique}.", kafka=kafka_settings, s3=s3_settings)
    ensure_topics(kafka_settings, prefix=prefixed.topic_prefix)
    return prefixed


@pytest.fixture
def s3(settings: Settings):
    return make_s3_client(settings.s3)


@pytest.fixture
def bucket(s3, unique: str) -> str:
    name = f"prod-{unique}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def register(settings: Settings, name: str, bucket: str, *, prefix: str = "", labels: list[str] | None = None, **grouping) -> RepoRegistered:
    repo = RepoRegistered(name=name, bucket=bucket, prefix=prefix, labels=labels or [], grouping=Grouping(**grouping), registered_by=ALICE)
    RepoRegistry(settings).create(repo)
    return repo


class EventReader:
    """Read a topic from its start, keeping what was read, so tests can wait for more events."""

    def __init__(self, kafka: KafkaSettings, topic: str) -> None:
        self.topic = topic
        self.consumer = Consumer({**kafka.client_config(), "group.id": f"reader-{topic}-{time.monotonic_ns()}", "enable.auto.commit": False})
        metadata = self.consumer.list_topics(topic, timeout=10).topics[topic]
        self.consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in metadata.partitions])
        self.messages: list = []

    def read(self, *, until: Callable[[list[CloudEvent]], bool] | None = None, timeout_s: float = 30.0, settle_s: float = 0.0) -> list[CloudEvent]:
        """Read until `until(events)` is true or the timeout passes, then keep reading for `settle_s` to catch extras."""
        deadline = time.monotonic() + timeout_s
        while until is not None and time.monotonic() < deadline and not until(self.events()):
            self._poll()
        settle_end = time.monotonic() + settle_s
        while time.monotonic() < settle_end:
            self._poll()
        return self.events()

    def events(self) -> list[CloudEvent]:
        return [decode(m.value()) for m in self.messages]

    def _poll(self) -> None:
        message = self.consumer.poll(0.2)
        if message is not None and message.error() is None:
            self.messages.append(message)

    def close(self) -> None:
        self.consumer.close()


@pytest.fixture
def readers(settings: Settings) -> Iterator[Callable[[str], EventReader]]:
    opened: list[EventReader] = []

    def open_reader(base_topic: str) -> EventReader:
        reader = EventReader(settings.kafka, settings.topic_prefix + base_topic)
        opened.append(reader)
        return reader

    yield open_reader
    for reader in opened:
        reader.close()


def commits(events: list[CloudEvent]) -> list[CloudEvent]:
    return [e for e in events if e.type == "io.custody.data.committed.v1"]


def removals(events: list[CloudEvent]) -> list[CloudEvent]:
    return [e for e in events if e.type == "io.custody.data.removed.v1"]


def start_group_at_end(kafka: KafkaSettings, topic: str, group: str) -> None:
    """Commit the group's offsets at the topic's current end, so a new service skips older records."""
    consumer = Consumer({**kafka.client_config(), "group.id": group, "enable.auto.commit": False})
    metadata = consumer.list_topics(topic, timeout=10).topics[topic]
    ends = [TopicPartition(topic, p, consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]) for p in metadata.partitions]
    consumer.commit(offsets=ends, asynchronous=False)
    consumer.close()


def committed_offsets(kafka: KafkaSettings, topic: str, group: str) -> dict[int, int]:
    consumer = Consumer({**kafka.client_config(), "group.id": group, "enable.auto.commit": False})
    metadata = consumer.list_topics(topic, timeout=10).topics[topic]
    committed = consumer.committed([TopicPartition(topic, p) for p in metadata.partitions], timeout=10)
    consumer.close()
    return {tp.partition: tp.offset for tp in committed}


def end_offsets(kafka: KafkaSettings, topic: str) -> dict[int, int]:
    consumer = Consumer({**kafka.client_config(), "group.id": "end-offsets", "enable.auto.commit": False})
    metadata = consumer.list_topics(topic, timeout=10).topics[topic]
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in metadata.partitions}
    consumer.close()
    return ends


def aws_record(bucket: str, key: str, *, event: str = "ObjectCreated:Put", version_id=None, etag=None, size=0, sequencer="01") -> dict:
    """One notification record as AWS sends it; `key` must already be form-encoded."""
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2026-05-01T10:00:00.000Z",
        "eventName": event,
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": key, "size": size, "eTag": etag, "versionId": version_id, "sequencer": sequencer},
        },
    }


def notification_bytes(*records: dict) -> bytes:
    return json.dumps({"Records": list(records)}).encode()


@contextmanager
def running(service) -> Iterator[StopSignal]:
    """Run a service's `run()` in a thread; stop it and check it ended when the block exits."""
    thread = threading.Thread(target=service.run, name=f"service-{id(service)}", daemon=True)
    thread.start()
    try:
        yield service.stop
    finally:
        service.stop.set()
        thread.join(timeout=60)
        assert not thread.is_alive(), "the service did not stop within 60 s of its stop signal"


def stop_signal() -> StopSignal:
    return StopSignal("test")
