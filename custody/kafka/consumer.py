"""A Kafka consumer whose offsets move only when the caller commits them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from custody.errors import ServiceUnavailableError
from custody.kafka.logs import librdkafka_logger
from custody.settings import KafkaSettings

log = logging.getLogger(__name__)


class ManualCommitConsumer:
    """Consume with auto-commit off: call `commit(message)` only after its effects are durable.

    A process that dies before committing reads the same records again on restart,
    so every handler behind this consumer must be idempotent. The librdkafka
    consumer is created by `subscribe` or `assign`, not by the constructor.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        group_id: str,
        auto_offset_reset: str = "earliest",
        **overrides: Any,
    ) -> None:
        self._config = {
            **settings.client_config(),
            "group.id": group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": auto_offset_reset,
            "isolation.level": "read_committed",
            "logger": librdkafka_logger(),
            **overrides,
        }
        self.group_id = group_id
        self._consumer: Consumer | None = None

    @property
    def consumer(self) -> Consumer:
        """Return the underlying librdkafka consumer, creating it on first use."""
        if self._consumer is None:
            self._consumer = Consumer(self._config)
        return self._consumer

    def subscribe(
        self,
        topics: list[str],
        *,
        on_assign: Callable[[Consumer, list[TopicPartition]], None] | None = None,
        on_revoke: Callable[[Consumer, list[TopicPartition]], None] | None = None,
    ) -> None:
        """Join the consumer group for these topics; the callbacks run inside `poll` on rebalances."""
        callbacks: dict[str, Any] = {}
        if on_assign is not None:
            callbacks["on_assign"] = on_assign
        if on_revoke is not None:
            callbacks["on_revoke"] = on_revoke
        self.consumer.subscribe(topics, **callbacks)
        log.info("subscribed group=%s topics=%s", self.group_id, ",".join(topics))

    def assign(self, partitions: list[TopicPartition]) -> None:
        """Read fixed partitions without group rebalancing."""
        self.consumer.assign(partitions)

    def poll(self, timeout_s: float = 1.0) -> Message | None:
        """Return the next record, None on timeout; partition-end events are skipped."""
        message = self.consumer.poll(timeout_s)
        if message is None:
            return None

        error = message.error()
        if error is None:
            return message
        if error.code() == KafkaError._PARTITION_EOF:
            return None
        if error.fatal() or error.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._AUTHENTICATION):
            raise ServiceUnavailableError(f"Kafka consumer group={self.group_id} failed: {error.str()}")

        log.warning("consumer group=%s error=%s; continuing", self.group_id, error.str())
        return None

    def commit(self, message: Message) -> None:
        """Commit the offset after `message` synchronously, so a restart resumes past it."""
        partition = TopicPartition(message.topic(), message.partition(), message.offset() + 1)
        try:
            self.consumer.commit(offsets=[partition], asynchronous=False)
        except KafkaException as exc:
            raise ServiceUnavailableError(
                f"commit failed group={self.group_id} topic={message.topic()} "
                f"partition={message.partition()} offset={message.offset()}: {exc.args[0]}"
            ) from exc

    def commit_batch(self, messages: list[Message]) -> None:
        """Commit, in one synchronous request, the offset after the last of `messages` on each partition."""
        positions: dict[tuple[str, int], int] = {}
        for message in messages:
            key = (message.topic(), message.partition())
            positions[key] = max(positions.get(key, -1), message.offset() + 1)
        if not positions:
            return

        offsets = [TopicPartition(topic, partition, offset) for (topic, partition), offset in positions.items()]
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            detail = " ".join(f"topic={tp.topic} partition={tp.partition} offset={tp.offset}" for tp in offsets)
            raise ServiceUnavailableError(f"commit failed group={self.group_id} {detail}: {exc.args[0]}") from exc

    def close(self) -> None:
        """Leave the group; uncommitted records are delivered again to the next member."""
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
