"""The notification service: S3 event notifications from a Kafka topic become commits and removals.

Offsets are committed by hand and only past finished records: a record is
finished once the commits and removals it caused are acknowledged by Kafka,
or once it was dead-lettered, ignored as a test event, or found a duplicate.
A restart therefore re-reads unfinished records, and the coverage markers keep
re-reading from creating a second commit.
"""

from __future__ import annotations

import logging
import threading
from functools import partial

from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from custody.errors import ServiceUnavailableError
from custody.kafka import DeadLetterWriter, ManualCommitConsumer
from custody.settings import Settings
from custody.shutdown import StopSignal
from custody.topics import group_name, topic
from producers.context import ProducerContext
from producers.handling import MessageTicket, NotificationHandler
from producers.notifications import InvalidNotification, ObjectNotification, parse_message
from producers.offsets import OffsetTracker
from producers.retrying import StopRequested, retry_until_stopped
from producers.settings import KeyEncoding, ProducerSettings

log = logging.getLogger(__name__)

SERVICE = "producers-s3-events"
BATCH_SIZE = 200
POLL_S = 0.5


class S3EventsService:
    """Consume one notification topic with manual offset commits until stopped."""

    def __init__(
        self,
        settings: Settings,
        producer_settings: ProducerSettings,
        *,
        stop: StopSignal,
        source_topic: str | None = None,
        group_id: str | None = None,
        key_encoding: KeyEncoding | None = None,
    ) -> None:
        self.settings = settings
        self.stop = stop
        self.source_topic = (
            source_topic
            or producer_settings.s3_events_topic
            or topic("custody.storage.s3-events").full_name(settings.topic_prefix)
        )
        self.group_id = group_id or (
            producer_settings.s3_events_group
            if "s3_events_group" in producer_settings.model_fields_set
            else group_name(settings.topic_prefix, producer_settings.s3_events_group)
        )
        self.key_encoding: KeyEncoding = key_encoding or producer_settings.s3_events_key_encoding
        self.retry_delay_s = producer_settings.retry_delay_s
        self.context = ProducerContext(settings, producer_settings, service=SERVICE)
        self.handler = NotificationHandler(self.context, via="s3-notification", run=self._retry)
        self.dead_letters = DeadLetterWriter(self.context.producer, service=SERVICE)
        self.consumer = ManualCommitConsumer(settings.kafka, group_id=self.group_id)
        self.offsets = OffsetTracker()
        # Set once the group has assigned partitions, so callers can wait for it.
        self.assigned = threading.Event()

    @property
    def counters(self):
        """Return the outcome counters of the service (commits, duplicates, dead letters, ...)."""
        return self.context.counters

    def run(self) -> None:
        """Consume until the stop signal is set, then commit finished offsets and close."""
        log.info(
            "service=%s starting topic=%s group=%s key_encoding=%s",
            SERVICE, self.source_topic, self.group_id, self.key_encoding,
        )
        self.consumer.consumer.subscribe([self.source_topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        try:
            while not self.stop.is_set():
                self._step()
        except StopRequested:
            log.info("service=%s stop requested during a retry; unfinished records stay uncommitted", SERVICE)
        finally:
            self._commit_finished()
            self.consumer.close()
            self.context.close()
            log.info("service=%s stopped counters=%s", SERVICE, dict(self.counters))

    def _step(self) -> None:
        messages = [m for m in self.consumer.consumer.consume(BATCH_SIZE, timeout=POLL_S) if self._usable(m)]
        items: list[tuple[ObjectNotification, MessageTicket]] = []
        for message in messages:
            self.offsets.add(message.topic(), message.partition(), message.offset())
            items.extend(self._read(message))
        if items:
            self.handler.handle(items)
        self.handler.flush_due()
        self._commit_finished()

    def _usable(self, message: Message) -> bool:
        error = message.error()
        if error is None:
            return True
        if error.code() == KafkaError._PARTITION_EOF:
            return False
        if error.fatal() or error.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._AUTHENTICATION):
            raise ServiceUnavailableError(f"Kafka consumer group={self.group_id} failed: {error.str()}")
        log.warning("service=%s consumer error=%s; continuing", SERVICE, error.str())
        return False

    def _read(self, message: Message) -> list[tuple[ObjectNotification, MessageTicket]]:
        """Parse one record into (notification, ticket) pairs; invalid records are dead-lettered here."""
        source_id = f"kafka:{message.topic()}/{message.partition()}/{message.offset()}"
        on_done = partial(self._finish, message)
        try:
            parsed = parse_message(message.value(), key_encoding=self.key_encoding, source_id=source_id)
        except InvalidNotification as exc:
            self.context.count("dead letters")
            MessageTicket(0, on_done, problems=[str(exc)])
            return []

        if parsed.test_event:
            self.context.count("test events")
            log.debug("service=%s topic=%s partition=%d offset=%d is an s3:TestEvent; ignored", SERVICE, message.topic(), message.partition(), message.offset())
        ticket = MessageTicket(len(parsed.notifications), on_done, problems=parsed.problems)
        return [(notification, ticket) for notification in parsed.notifications]

    def _finish(self, message: Message, problems: list[str]) -> None:
        """Dead-letter the record if anything in it failed for good, then let its offset move."""
        if problems:
            reason = "; ".join(problems)
            self._retry(lambda: self.dead_letters.send(message, reason=reason, error_type="InvalidNotification"), "dead-letter delivery")
        self.offsets.finish(message.topic(), message.partition(), message.offset())

    def _commit_finished(self) -> None:
        committable = self.offsets.committable()
        if not committable:
            return
        partitions = [TopicPartition(name, partition, offset) for (name, partition), offset in committable.items()]
        try:
            self.consumer.consumer.commit(offsets=partitions, asynchronous=False)
        except KafkaException as exc:
            # The next commit of a partition covers these offsets too. If none
            # follows, a restart reads the records again and finds them covered.
            log.warning("service=%s group=%s offset commit failed: %s; continuing", SERVICE, self.group_id, exc.args[0])
            return
        log.debug("service=%s committed offsets %s", SERVICE, {f"{t}/{p}": o for (t, p), o in committable.items()})

    def _on_assign(self, _consumer, partitions: list[TopicPartition]) -> None:
        log.info("service=%s assigned partitions=%s", SERVICE, ",".join(f"{p.topic}/{p.partition}" for p in partitions))
        self.assigned.set()

    def _on_revoke(self, _consumer, partitions: list[TopicPartition]) -> None:
        # Finished work is committed before the partitions move; records still
        # waiting in quiet windows are read again by the next owner.
        self._commit_finished()
        self.offsets.forget([(p.topic, p.partition) for p in partitions])
        log.info("service=%s revoked partitions=%s", SERVICE, ",".join(f"{p.topic}/{p.partition}" for p in partitions))

    def _retry(self, action, description: str):
        return retry_until_stopped(action, stop=self.stop, delay_s=self.retry_delay_s, description=description)
