"""Deliver one alert to all its sinks in parallel, so a slow or failing sink never holds up the others."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from custody.events.models import AlertRaised
from processors.alerts.sinks import Sink, SinkError

log = logging.getLogger(__name__)


class Dispatcher:
    """Fan an alert out to its sinks; return the failures for the dead-letter topic."""

    def __init__(self, sinks: dict[str, Sink], *, max_workers: int = 8) -> None:
        self.sinks = sinks
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="alert-sink")

    def deliver(self, alert: AlertRaised, sink_names: tuple[str, ...]) -> dict[str, str]:
        """Send to every named sink; return {sink name: reason} for those that gave up."""
        futures = {name: self._pool.submit(self.sinks[name].send, alert) for name in sink_names}
        failures = {}
        for name, future in futures.items():
            try:
                future.result()
            except SinkError as exc:
                failures[name] = str(exc)
            except Exception as exc:  # a broken sink must not stop delivery to the rest
                log.exception("sink=%s alert=%s raised unexpectedly", name, alert.alert_id)
                failures[name] = f"{type(exc).__name__}: {exc}"
        return failures

    def close(self) -> None:
        """Wait for deliveries in flight, then stop the worker threads."""
        self._pool.shutdown(wait=True)
