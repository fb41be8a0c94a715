"""The lineage consumer: Kafka topics in, Neo4j graph out, offsets committed only after the write.

Each batch of records goes through four steps:

1. decode every record; a record that is not a valid event goes to the dead-letter topic;
2. write the events in one Neo4j transaction;
3. while Neo4j is unreachable, pause the partitions and retry the same batch with backoff,
   so nothing after the failed batch is read or committed. When Neo4j rejects the data (a
   permanent error), write the batch one event per transaction instead, and send only the
   events that fail again to the dead-letter topic;
4. commit the offsets after the batch.

A process killed at any point re-reads everything after the last committed offset.
That is safe because every write is an idempotent MERGE.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from confluent_kafka import Consumer, Message, TopicPartition

from custody.errors import ConfigurationError, CustodyError, TransientError
from custody.events import CloudEvent, InvalidEvent, decode
from custody.kafka import DeadLetterWriter, ManualCommitConsumer
from custody.shutdown import StopSignal
from custody.topics import topic
from lineage.exceptions import GraphWriteRejected
from lineage.settings import LineageSettings
from lineage.writing import GraphWriter

log = logging.getLogger(__name__)

SERVICE = "lineage"

# The topics lineage reads. The pipeline history keeps every version; the
# compacted `custody.pipelines` keeps only the latest one, so it is not read.
LINEAGE_TOPICS = ("custody.repos", "custody.data.commits", "custody.pipelines.history", "custody.decisions", "custody.jobs")

STATS_LOG_INTERVAL_S = 60.0


def lineage_topic_names(prefix: str = "") -> list[str]:
    """Return the full names of the topics lineage reads."""
    return [topic(name).full_name(prefix) for name in LINEAGE_TOPICS]


@dataclass
class ConsumerStats:
    """Counters of one consumer process, logged every minute and read by tests and benchmarks."""

    batches: int = 0
    records: int = 0
    events_written: int = 0
    events_skipped: int = 0
    dead_lettered: int = 0
    write_failures: int = 0
    commits: int = 0
    # Monotonic clock readings, for throughput: when the first batch arrived and the last offsets were committed.
    first_batch_at: float | None = None
    last_commit_at: float | None = None


@dataclass(frozen=True)
class DecodedRecord:
    """One Kafka record and the event decoded from it."""

    message: Message
    event: CloudEvent


class LineageConsumer:
    """Read the lineage topics with manual commits and write every event to the graph."""

    def __init__(
        self,
        *,
        consumer: ManualCommitConsumer,
        writer: GraphWriter,
        settings: LineageSettings,
        topics: Sequence[str],
        dead_letters: DeadLetterWriter | None,
        stop: StopSignal | None = None,
    ) -> None:
        self.consumer = consumer
        self.writer = writer
        self.settings = settings
        self.topics = list(topics)
        self.dead_letters = dead_letters
        self.stop = stop or StopSignal(SERVICE)
        self.stats = ConsumerStats()
        self._last_stats_log = time.monotonic()

    # Service loop

    def run(self) -> ConsumerStats:
        """Consume until the stop signal is set; return the counters."""
        if not self._start_writer():
            return self.stats
        self.consumer.subscribe(self.topics, on_assign=_log_assignment, on_revoke=_log_revocation)
        log.info("lineage consumer started group=%s ns=%r topics=%s", self.consumer.group_id, self.writer.namespace, ",".join(self.topics))
        try:
            while not self.stop.is_set():
                messages = self.poll_batch()
                if messages:
                    self.process(messages, commit=True)
                self._log_stats_now_and_then()
        finally:
            self.consumer.close()
            log.info("lineage consumer stopped group=%s %s", self.consumer.group_id, self._stats_text())
        return self.stats

    def process(self, messages: list[Message], *, commit: bool) -> bool:
        """Write one batch and, when `commit`, commit its offsets; return False if stopped before the write landed."""
        if self.stats.first_batch_at is None:
            self.stats.first_batch_at = time.monotonic()
        self.stats.batches += 1
        self.stats.records += len(messages)
        while True:
            try:
                records = self._decode(messages)
                if not self._write_with_retry(records):
                    return False
                break
            except ConfigurationError:
                raise
            except TransientError as exc:
                # Dead-letter delivery failed: Kafka is down. The whole batch is
                # processed again later, which the idempotent writes allow.
                self.stats.write_failures += 1
                log.warning("lineage batch failed records=%d error=%s; retrying", len(messages), exc)
                if self._wait(self.settings.retry_max_s):
                    return False

        if commit:
            self._commit(messages)
        return True

    # Steps

    def _start_writer(self) -> bool:
        attempt = 0
        while not self.stop.is_set():
            try:
                self.writer.start()
                return True
            except TransientError as exc:
                attempt += 1
                delay = self._backoff(attempt)
                log.warning("lineage consumer cannot reach Neo4j error=%s; retrying in %.1fs", exc, delay)
                self.stop.wait(delay)
        return False

    def poll_batch(self) -> list[Message]:
        """Return up to `batch_size` records: wait for the first, then take what is already fetched."""
        messages: list[Message] = []
        try:
            first = self.consumer.poll(self.settings.poll_timeout_s)
            if first is None:
                return messages
            messages.append(first)
            while len(messages) < self.settings.batch_size:
                message = self.consumer.poll(0)
                if message is None:
                    break
                messages.append(message)
        except TransientError as exc:
            # Kafka is unreachable. Records already polled are still processed;
            # the next poll waits for the brokers.
            log.warning(
                "lineage consumer failed to read from Kafka group=%s error=%s; retrying in %.1fs",
                self.consumer.group_id, exc, self.settings.retry_max_s,
            )
            if not messages:
                self.stop.wait(self.settings.retry_max_s)
        return messages

    def _decode(self, messages: list[Message]) -> list[DecodedRecord]:
        records = []
        for message in messages:
            value = message.value()
            if value is None:
                # A tombstone on a compacted topic deletes a key in Kafka; the graph keeps its history.
                self.stats.events_skipped += 1
                continue
            try:
                records.append(DecodedRecord(message, decode(value)))
            except InvalidEvent as exc:
                self._dead_letter(message, str(exc), type(exc).__name__)
        return records

    def _write_with_retry(self, records: list[DecodedRecord]) -> bool:
        """Write the records in one transaction, retrying transient failures; False if stopped first."""
        if not records:
            return True
        attempt = 0
        while True:
            try:
                result = self.writer.write([record.event for record in records])
                self.stats.events_written += result.events
                self.stats.events_skipped += result.skipped
                return True
            except GraphWriteRejected as exc:
                # The data of some event is refused. Writing one event per
                # transaction lets every other event land.
                log.error("lineage batch rejected records=%d %s error=%s; writing its events one by one", len(records), _span(records), exc)
                return self._write_one_by_one(records)
            except TransientError as exc:
                attempt += 1
                if not self._retry_after(exc, attempt, records):
                    return False

    def _write_one_by_one(self, records: list[DecodedRecord]) -> bool:
        for record in records:
            attempt = 0
            while True:
                try:
                    result = self.writer.write([record.event])
                    self.stats.events_written += result.events
                    self.stats.events_skipped += result.skipped
                    break
                except GraphWriteRejected as exc:
                    self._dead_letter(record.message, str(exc), type(exc).__name__)
                    break
                except TransientError as exc:
                    attempt += 1
                    if not self._retry_after(exc, attempt, [record]):
                        return False
        return True

    def _retry_after(self, exc: CustodyError, attempt: int, records: list[DecodedRecord]) -> bool:
        """Log a failed write and wait before the next attempt; return False if the service is stopping."""
        self.stats.write_failures += 1
        delay = self._backoff(attempt)
        log.warning(
            "lineage write failed attempt=%d records=%d %s error=%s; offsets stay uncommitted, retrying in %.1fs",
            attempt, len(records), _span(records), exc, delay,
        )
        return not self._wait(delay)

    def _commit(self, messages: list[Message]) -> None:
        try:
            self.consumer.commit_batch(messages)
            self.stats.commits += 1
            self.stats.last_commit_at = time.monotonic()
        except TransientError as exc:
            # The group may have rebalanced while the batch was written. The
            # partition's new owner reads the records again, and writing them twice is harmless.
            log.warning("lineage offsets not committed error=%s; the records will be read and written again", exc)

    def _dead_letter(self, message: Message, reason: str, error_type: str) -> None:
        if self.dead_letters is None:
            log.warning(
                "lineage skips record topic=%s partition=%d offset=%d error=%s; no dead-letter writer in this mode",
                message.topic(), message.partition(), message.offset(), reason[:200],
            )
            return
        self.dead_letters.send(message, reason=reason, error_type=error_type)
        self.stats.dead_lettered += 1

    def _wait(self, seconds: float) -> bool:
        """Sleep while keeping group membership alive; return True if the service is stopping.

        The partitions are paused, so polling returns no record but lets the
        consumer take part in rebalances. A record from a partition assigned during
        the wait is rewound, so it is read again after the pause.
        """
        kafka: Consumer = self.consumer.consumer
        deadline = time.monotonic() + seconds
        kafka.pause(kafka.assignment())
        try:
            while not self.stop.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                message = kafka.poll(min(0.5, remaining))
                if message is not None and message.error() is None:
                    partition = TopicPartition(message.topic(), message.partition(), message.offset())
                    kafka.seek(partition)
                    kafka.pause([partition])
        finally:
            kafka.resume(kafka.assignment())
        return self.stop.is_set()

    def _backoff(self, attempt: int) -> float:
        return min(self.settings.retry_max_s, self.settings.retry_initial_s * 2 ** max(0, attempt - 1))

    def _log_stats_now_and_then(self) -> None:
        now = time.monotonic()
        if now - self._last_stats_log >= STATS_LOG_INTERVAL_S:
            self._last_stats_log = now
            log.info("lineage consumer group=%s %s", self.consumer.group_id, self._stats_text())

    def _stats_text(self) -> str:
        stats = self.stats
        return (
            f"records={stats.records} written={stats.events_written} skipped={stats.events_skipped} "
            f"dead_lettered={stats.dead_lettered} write_failures={stats.write_failures} batches={stats.batches}"
        )


def _span(records: list[DecodedRecord]) -> str:
    if not records:
        return ""
    first, last = records[0].message, records[-1].message
    return (
        f"first=topic={first.topic()},partition={first.partition()},offset={first.offset()} "
        f"last=topic={last.topic()},partition={last.partition()},offset={last.offset()}"
    )


def _log_assignment(_consumer: Consumer, partitions: list[TopicPartition]) -> None:
    log.info("lineage consumer assigned %s", _partitions_text(partitions))


def _log_revocation(_consumer: Consumer, partitions: list[TopicPartition]) -> None:
    log.info("lineage consumer revoked %s", _partitions_text(partitions))


def _partitions_text(partitions: list[TopicPartition]) -> str:
    return " ".join(f"{tp.topic}/{tp.partition}" for tp in partitions) or "(none)"

