"""Send records that cannot be processed to the dead-letter topic, with their original bytes."""

from __future__ import annotations

import base64
import logging

from confluent_kafka import Message

from custody.events import make_event
from custody.events.models import RecordDeadLettered
from custody.kafka.producer import DurableProducer

log = logging.getLogger(__name__)


class DeadLetterWriter:
    """Wrap a failed record in a `RecordDeadLettered` event and deliver it before returning."""

    def __init__(self, producer: DurableProducer, *, service: str) -> None:
        self._producer = producer
        self._service = service

    def send(self, message: Message, *, reason: str, error_type: str) -> None:
        """Dead-letter one record; raises DeliveryError if Kafka does not acknowledge it.

        The caller commits the source offset only after this returns, so a record
        is never lost between its topic and the dead-letter topic.
        """
        data = RecordDeadLettered(
            service=self._service,
            source_topic=message.topic(),
            partition=message.partition(),
            offset=message.offset(),
            key_b64=_b64(message.key()),
            value_b64=_b64(message.value()),
            reason=reason[:4000],
            error_type=error_type,
        )
        event = make_event(data, source=f"/custody/{self._service}", subject=message.topic())
        self._producer.send_event(event)
        self._producer.flush()
        log.warning(
            "dead-lettered service=%s topic=%s partition=%d offset=%d reason=%s",
            self._service, message.topic(), message.partition(), message.offset(), reason[:200],
        )


def _b64(raw: bytes | None) -> str | None:
    return None if raw is None else base64.b64encode(raw).decode("ascii")
