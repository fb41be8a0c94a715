"""A Kafka producer configured for durability, with delivery reports checked."""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from custody.errors import DeliveryError
from custody.events import CONTENT_TYPE, CloudEvent, encode
from custody.kafka.logs import librdkafka_logger
from custody.settings import KafkaSettings
from custody.topics import event_key, topic_for_event

log = logging.getLogger(__name__)

DURABLE_DEFAULTS: dict[str, Any] = {
    # Idempotence keeps retries from writing a record twice or out of order.
    "enable.idempotence": True,
    "acks": "all",
    "max.in.flight.requests.per.connection": 5,
    "linger.ms": 5,
    "compression.type": "zstd",
    "message.timeout.ms": 60_000,
}


class DurableProducer:
    """Produce records with idempotence and acks=all; `flush` raises if any delivery failed.

    The librdkafka producer is created on first use, so constructing this object
    makes no network call.
    """

    def __init__(self, settings: KafkaSettings, *, topic_prefix: str = "", client_id: str = "custody", **overrides: Any) -> None:
        self._config = {**settings.client_config(), **DURABLE_DEFAULTS, "client.id": client_id, "logger": librdkafka_logger(), **overrides}
        self._bootstrap = settings.bootstrap_servers
        self._prefix = topic_prefix
        self._producer: Producer | None = None
        self._failures: list[str] = []

    @property
    def producer(self) -> Producer:
        """Return the underlying librdkafka producer, creating it on first use."""
        if self._producer is None:
            self._producer = Producer(self._config)
        return self._producer

    def produce(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        """Queue one record for delivery; the outcome is checked by `flush`."""
        self.producer.produce(topic, value=value, key=key, headers=headers, on_delivery=self._on_delivery)
        # Serve earlier delivery reports so that the local queue never fills up.
        self.producer.poll(0)

    def send_event(self, event: CloudEvent) -> str:
        """Queue an event on its registry topic, keyed by the topic's key rule; return the topic."""
        spec = topic_for_event(event.type)
        topic = spec.full_name(self._prefix)
        headers = [("content-type", CONTENT_TYPE.encode()), ("ce_type", event.type.encode()), ("ce_id", event.id.encode())]
        self.produce(topic, encode(event), key=event_key(spec, event.data), headers=headers)
        return topic

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until every queued record is acknowledged; raise DeliveryError otherwise."""
        if self._producer is None:
            return

        remaining = self._producer.flush(timeout_s)
        failures, self._failures = self._failures, []
        if remaining:
            raise DeliveryError(
                f"{remaining} record(s) not acknowledged by Kafka at {self._bootstrap} within {timeout_s:.0f}s; "
                "check that the cluster is running (`custody dev status`) and retry"
            )
        if failures:
            raise DeliveryError(f"{len(failures)} record(s) failed delivery: {'; '.join(failures[:5])}")

    def close(self, timeout_s: float = 30.0) -> None:
        """Flush and release the producer."""
        self.flush(timeout_s)
        self._producer = None

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            return
        detail = f"topic={message.topic()} key={message.key()!r}: {error.str()}"
        log.error("delivery failed %s", detail)
        self._failures.append(detail)
