"""Retry policies for S3 and Kafka failures inside the producer services."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from custody.errors import CustodyError, TransientError
from custody.shutdown import StopSignal

log = logging.getLogger(__name__)

T = TypeVar("T")


class StopRequested(CustodyError):
    """The service was asked to stop while it waited to retry; the record stays uncommitted."""


def retry_until_stopped(action: Callable[[], T], *, stop: StopSignal, delay_s: float, description: str) -> T:
    """Run `action` until it succeeds, waiting `delay_s` after each transient error; raise StopRequested on stop.

    Permanent errors pass through at once, since retrying cannot fix them.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return action()
        except TransientError as exc:
            log.warning("%s failed (attempt %d): %s; retrying in %.1fs", description, attempt, exc, delay_s)
            if stop.wait(delay_s):
                raise StopRequested(f"stopped while retrying {description}") from exc


def retry_a_few(action: Callable[[], T], *, attempts: int, delay_s: float, description: str, stop: StopSignal | None = None) -> T:
    """Run `action` up to `attempts` times on transient errors, then re-raise the last one."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except TransientError as exc:
            if attempt == attempts:
                raise
            log.warning("%s failed (attempt %d of %d): %s; retrying in %.1fs", description, attempt, attempts, exc, delay_s)
            if stop is None:
                time.sleep(delay_s)
            elif stop.wait(delay_s):
                raise StopRequested(f"stopped while retrying {description}") from exc
    raise AssertionError("unreachable: the loop returns or raises")
