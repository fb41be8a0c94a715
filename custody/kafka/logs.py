"""Route librdkafka's own log lines through `logging`, rate-limited.

librdkafka logs every failed connection attempt, several times a second while
a broker is down; the errors that matter reach callers as exceptions anyway.
"""

from __future__ import annotations

import logging
import time

LOGGER_NAME = "custody.kafka.librdkafka"


class RateLimitFilter(logging.Filter):
    """Let through at most `limit` records per `window_s`, then one summary of what was dropped."""

    def __init__(self, *, limit: int = 5, window_s: float = 30.0) -> None:
        super().__init__()
        self.limit = limit
        self.window_s = window_s
        self._window_start = 0.0
        self._count = 0
        self._dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        if now - self._window_start > self.window_s:
            if self._dropped:
                record.msg = f"{record.msg} ({self._dropped} similar librdkafka messages dropped)"
            self._window_start, self._count, self._dropped = now, 0, 0

        self._count += 1
        if self._count > self.limit:
            self._dropped += 1
            return False
        return True


def librdkafka_logger() -> logging.Logger:
    """Return the shared logger handed to every librdkafka client as its `logger`."""
    logger = logging.getLogger(LOGGER_NAME)
    if not any(isinstance(existing, RateLimitFilter) for existing in logger.filters):
        logger.addFilter(RateLimitFilter())
    return logger
