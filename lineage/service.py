"""Assemble the lineage consumer from settings, run it, and rebuild the graph from the topics."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass

from confluent_kafka import KafkaException, TopicPartition

from custody.errors import ServiceUnavailableError
from custody.graphdb import Neo4jConnector
from custody.kafka import DeadLetterWriter, DurableProducer, ManualCommitConsumer, ensure_topics
from custody.settings import Settings
from custody.shutdown import StopSignal
from custody.topics import DLQ, group_name, topic
from lineage.consuming import LINEAGE_TOPICS, SERVICE, LineageConsumer, lineage_topic_names
from lineage.settings import LineageSettings
from lineage.writing import GraphWriter

log = logging.getLogger(__name__)

METADATA_TIMEOUT_S = 10.0


def ensure_lineage_topics(settings: Settings) -> None:
    """Create the topics lineage reads and the dead-letter topic when they are missing."""
    specs = tuple(topic(name) for name in (*LINEAGE_TOPICS, DLQ))
    ensure_topics(settings.kafka, prefix=settings.topic_prefix, topics=specs)


def lineage_group(settings: Settings, lineage: LineageSettings) -> str:
    """Return the consumer group: as configured, or the default with the topic prefix."""
    if "group_id" in lineage.model_fields_set:
        return lineage.group_id
    return group_name(settings.topic_prefix, lineage.group_id)


def build_consumer(settings: Settings, lineage: LineageSettings, *, stop: StopSignal | None = None) -> LineageConsumer:
    """Return a lineage consumer wired to Kafka, Neo4j and the dead-letter topic; nothing connects yet."""
    connector = Neo4jConnector(settings.neo4j)
    producer = DurableProducer(settings.kafka, topic_prefix=settings.topic_prefix, client_id="custody-lineage")
    return LineageConsumer(
        consumer=ManualCommitConsumer(
            settings.kafka, group_id=lineage_group(settings, lineage), **{"session.timeout.ms": int(lineage.session_timeout_s * 1000)}
        ),
        writer=GraphWriter(connector, namespace=lineage.namespace),
        settings=lineage,
        topics=lineage_topic_names(settings.topic_prefix),
        dead_letters=DeadLetterWriter(producer, service=SERVICE),
        stop=stop,
    )


def run_service(settings: Settings, lineage: LineageSettings, *, stop: StopSignal) -> None:
    """Run the lineage consumer until `stop` is set."""
    ensure_lineage_topics(settings)
    consumer = build_consumer(settings, lineage, stop=stop)
    try:
        consumer.run()
    finally:
        consumer.writer.connector.close()


@dataclass(frozen=True)
class RebuildResult:
    """Outcome of a rebuild."""

    nodes_deleted: int
    records: int
    events_written: int
    events_skipped: int
    seconds: float


def rebuild(settings: Settings, lineage: LineageSettings, *, stop: StopSignal | None = None) -> RebuildResult:
    """Delete the namespace's graph, then replay every lineage topic from its first record.

    The replay stops at the end offsets read after the graph was cleared. Any
    record a running consumer wrote before the clear has a smaller offset, so it
    is replayed. Records after the end offsets are left to the running consumer.
    Invalid records and rejected events are logged and skipped, because the
    consumer dead-lettered them when they first arrived.
    """
    started = time.monotonic()
    ensure_lineage_topics(settings)
    connector = Neo4jConnector(settings.neo4j)
    writer = GraphWriter(connector, namespace=lineage.namespace)
    # A group of its own, whose offsets are never committed, so the service's group is untouched.
    consumer = ManualCommitConsumer(settings.kafka, group_id=f"{lineage_group(settings, lineage)}-rebuild-{uuid.uuid4().hex[:8]}")
    replayer = LineageConsumer(consumer=consumer, writer=writer, settings=lineage, topics=[], dead_letters=None, stop=stop)
    try:
        writer.start()
        deleted = writer.clear()
        ends = _end_offsets(consumer, lineage_topic_names(settings.topic_prefix))
        log.info("lineage rebuild ns=%r replays %d record(s) from %d partition(s)", lineage.namespace, sum(ends.values()), len(ends))
        _replay(replayer, ends)
    finally:
        consumer.close()
        connector.close()

    stats = replayer.stats
    result = RebuildResult(deleted, stats.records, stats.events_written, stats.events_skipped, time.monotonic() - started)
    log.info("lineage rebuild ns=%r done records=%d written=%d in %.1fs", lineage.namespace, result.records, result.events_written, result.seconds)
    return result


def _end_offsets(consumer: ManualCommitConsumer, topics: list[str]) -> dict[tuple[str, int], int]:
    """Return the end offset of every non-empty partition and assign the consumer to their beginnings."""
    kafka = consumer.consumer
    ends: dict[tuple[str, int], int] = {}
    starts: list[TopicPartition] = []
    try:
        metadata = kafka.list_topics(timeout=METADATA_TIMEOUT_S)
        for name in topics:
            for partition in sorted(metadata.topics[name].partitions):
                low, high = kafka.get_watermark_offsets(TopicPartition(name, partition), timeout=METADATA_TIMEOUT_S)
                if high > low:
                    ends[(name, partition)] = high
                    starts.append(TopicPartition(name, partition, low))
    except KafkaException as exc:
        raise ServiceUnavailableError(f"reading the end offsets of the lineage topics failed: {exc.args[0]}; check that Kafka is running (`custody dev status`)") from exc
    consumer.assign(starts)
    return ends


def _replay(replayer: LineageConsumer, ends: dict[tuple[str, int], int]) -> None:
    pending = dict(ends)
    kafka = replayer.consumer.consumer
    while pending and not replayer.stop.is_set():
        messages = replayer.poll_batch()
        if messages and not replayer.process(messages, commit=False):
            return
        # Positions rather than the last offsets seen, because transaction
        # markers occupy offsets that are never delivered.
        positions = kafka.position([TopicPartition(name, partition) for name, partition in pending])
        for position in positions:
            if position.offset >= pending[(position.topic, position.partition)]:
                del pending[(position.topic, position.partition)]
