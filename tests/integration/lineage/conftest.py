"""Fixtures for lineage tests: a topic prefix, graph namespace and consumer group per test, and helpers.

Each test writes into its own graph namespace, so tests running at the same time
never see or clear each other's nodes in the shared Neo4j database.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import NewTopic

from custody.events import CloudEvent
from custody.graphdb import Neo4jConnector
from custody.kafka import DurableProducer
from custody.kafka.admin import admin_client
from custody.settings import KafkaSettings, Neo4jSettings, Settings
from custody.shutdown import StopSignal
from custody.topics import topic
from lineage.consuming import LineageConsumer, lineage_topic_names
from lineage.service import build_consumer, ensure_lineage_topics
from lineage.settings import LineageSettings
from lineage.synthetic import publish
from lineage.writing import GraphWriter

WAIT_S = 90.0


@dataclass
class LineageEnv:
    """Names and settings that keep one test's topics, consumer group and graph apart from the others."""

    prefix: str
    namespace: str
    group_id: str
    kafka: KafkaSettings
    neo4j: Neo4jSettings
    connector: Neo4jConnector
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def settings(self, *, neo4j: Neo4jSettings | None = None) -> Settings:
        """Return Custody settings pointing at this test's topics and the given Neo4j."""
        return Settings(topic_prefix=self.prefix, kafka=self.kafka, neo4j=neo4j or self.neo4j)

    def lineage(self, **overrides: object) -> LineageSettings:
        """Return lineage settings with this test's group and namespace and short retry waits."""
        values = {"group_id": self.group_id, "namespace": self.namespace, "retry_initial_s": 0.2, "retry_max_s": 1.0, "poll_timeout_s": 0.2}
        values.update(overrides)
        return LineageSettings(**values)

    def produce(self, events: list[CloudEvent]) -> None:
        """Send events to their topics with this test's prefix and wait for the acknowledgements."""
        producer = DurableProducer(self.kafka, topic_prefix=self.prefix)
        publish(producer, events, prefix=self.prefix)
        producer.flush()

    def topic(self, name: str) -> str:
        """Return a full topic name with this test's prefix."""
        return topic(name).full_name(self.prefix)


@pytest.fixture
def lineage_env(kafka_settings: KafkaSettings, neo4j_connector: Neo4jConnector, unique: str) -> Iterator[LineageEnv]:
    env = LineageEnv(
        prefix=f"test-{unique}.",
        namespace=f"test-{unique}",
        group_id=f"lineage-{unique}",
        kafka=kafka_settings,
        neo4j=neo4j_connector.settings,
        connector=neo4j_connector,
    )
    yield env
    for cleanup in reversed(env.cleanups):
        cleanup()
    clear_namespace(neo4j_connector, env.namespace)


def clear_namespace(connector: Neo4jConnector, namespace: str) -> None:
    """Delete a test's graph namespace."""
    GraphWriter(connector, namespace=namespace).clear()


def create_single_partition_topics(env: LineageEnv) -> None:
    """Create every lineage topic with one partition, so a test controls the order of all its records."""
    admin = admin_client(env.kafka)
    names = [name for name in lineage_topic_names(env.prefix)]
    futures = admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1) for name in names])
    for future in futures.values():
        future.result()
    ensure_lineage_topics(env.settings())


def committed_offsets(env: LineageEnv, topics: list[str] | None = None) -> dict[tuple[str, int], int]:
    """Return the consumer group's committed offset per partition (-1001 when none is committed)."""
    topics = topics or lineage_topic_names(env.prefix)
    reader = Consumer({"bootstrap.servers": env.kafka.bootstrap_servers, "group.id": env.group_id, "enable.auto.commit": False})
    try:
        metadata = reader.list_topics(timeout=10)
        partitions = [TopicPartition(name, index) for name in topics for index in metadata.topics[name].partitions]
        return {(tp.topic, tp.partition): tp.offset for tp in reader.committed(partitions, timeout=10)}
    finally:
        reader.close()


def end_offsets(env: LineageEnv, topics: list[str] | None = None) -> dict[tuple[str, int], int]:
    """Return the high watermark of every partition of the lineage topics."""
    topics = topics or lineage_topic_names(env.prefix)
    reader = Consumer({"bootstrap.servers": env.kafka.bootstrap_servers, "group.id": f"{env.group_id}-ends"})
    try:
        metadata = reader.list_topics(timeout=10)
        ends = {}
        for name in topics:
            for index in metadata.topics[name].partitions:
                ends[(name, index)] = reader.get_watermark_offsets(TopicPartition(name, index), timeout=10)[1]
        return ends
    finally:
        reader.close()


def caught_up(env: LineageEnv) -> bool:
    """Return True when the group has committed the end of every non-empty partition."""
    committed = committed_offsets(env)
    return all(committed.get(key, -1) >= end for key, end in end_offsets(env).items() if end > 0)


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    """Poll `condition` until it holds; fail naming `what` when it does not within the timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout_s:.0f}s waiting for {what}")


class ConsumerThread:
    """A lineage consumer running in a background thread, stopped through its StopSignal."""

    def __init__(self, consumer: LineageConsumer) -> None:
        self.consumer = consumer
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="lineage-consumer")

    def start(self) -> ConsumerThread:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.consumer.stop.set()
        self._thread.join(timeout=60)
        self.consumer.writer.connector.close()
        assert not self._thread.is_alive(), "the lineage consumer did not stop within 60 s"
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            self.consumer.run()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread by stop()
            self.error = exc


def start_consumer(env: LineageEnv, *, neo4j: Neo4jSettings | None = None, **overrides: object) -> ConsumerThread:
    """Start a lineage consumer for this test in a thread; the fixture stops it at the end."""
    consumer = build_consumer(env.settings(neo4j=neo4j), env.lineage(**overrides), stop=StopSignal("lineage-test"))
    thread = ConsumerThread(consumer).start()
    env.cleanups.append(lambda: thread.stop() if thread._thread.is_alive() else None)
    return thread


def consume_all(env: LineageEnv, events: list[CloudEvent]) -> None:
    """Produce events, run a consumer until the group has committed all of them, then stop it."""
    ensure_lineage_topics(env.settings())
    env.produce(events)
    thread = start_consumer(env)
    wait_for(lambda: caught_up(env), "the lineage consumer to commit every record")
    thread.stop()
