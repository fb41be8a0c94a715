"""Dead-lettering of records the worker cannot use, read through faust."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from custody.kafka import DeadLetterWriter

log = logging.getLogger(__name__)


class FaustRecord:
    """A faust message with the accessor methods `DeadLetterWriter` reads from a librdkafka message."""

    def __init__(self, message: Any) -> None:
        self._message = message

    def topic(self) -> str:
        return self._message.topic

    def partition(self) -> int:
        return self._message.partition

    def offset(self) -> int:
        return self._message.offset

    def key(self) -> bytes | None:
        return self._message.key

    def value(self) -> bytes | None:
        return self._message.value


async def dead_letter(writer: DeadLetterWriter, message: Any, *, reason: str, error_type: str) -> None:
    """Send one faust message to the dead-letter topic and wait for Kafka's acknowledgement."""
    await asyncio.to_thread(writer.send, FaustRecord(message), reason=reason, error_type=error_type)  # type: ignore[arg-type]
