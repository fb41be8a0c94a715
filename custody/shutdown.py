"""Graceful shutdown for long-running services."""

from __future__ import annotations

import logging
import signal
import threading

log = logging.getLogger(__name__)


class StopSignal:
    """An event set by SIGTERM or SIGINT, so a service loop can finish its current record and exit.

    Services check `is_set()` between records and commit offsets only for work
    that is done, so stopping never loses or half-applies a record.
    """

    def __init__(self, service: str) -> None:
        self.service = service
        self._event = threading.Event()

    def install(self) -> StopSignal:
        """Route SIGTERM and SIGINT to this signal; call from the main thread."""
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)
        return self

    def set(self) -> None:
        """Ask the service to stop."""
        self._event.set()

    def is_set(self) -> bool:
        """Return True once a stop was requested."""
        return self._event.is_set()

    def wait(self, timeout_s: float) -> bool:
        """Sleep up to `timeout_s`, waking early on a stop request; return True if stopping."""
        return self._event.wait(timeout_s)

    def _handle(self, signum: int, _frame: object) -> None:
        log.info("service=%s received %s; finishing the current record, then stopping", self.service, signal.Signals(signum).name)
        self._event.set()
