"""Python subscriber API: user handlers called for matching events.

    from processors.alerts.subscribers import subscriber

    @subscriber("io.custody.job.failed.v1", where={"data.final": True})
    def page_on_call(event):
        ...

`custody alerts run RULES --handlers my_package.handlers` imports the module, so
its decorators register the handlers. An exception in one handler is logged
with the event id and the other handlers still run. Handlers may be called
twice for one event after a restart (delivery is at least once), so they should
be idempotent.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from custody.events import CloudEvent
from processors.alerts.matching import matches

log = logging.getLogger(__name__)

Handler = Callable[[CloudEvent], Any]
EventFilter = Callable[[CloudEvent], bool]


@dataclass
class Subscription:
    """One handler with the event type and filters it subscribed with."""

    handler: Handler
    event_type: str
    where: dict[str, Any] = field(default_factory=dict)
    predicate: EventFilter | None = None

    def wants(self, event: CloudEvent, document: dict[str, Any]) -> bool:
        """Return True when the event has the type and passes both filters."""
        if not matches(document, self.event_type, self.where):
            return False
        return self.predicate is None or bool(self.predicate(event))


class SubscriberRegistry:
    """Holds subscriptions and calls them for each event."""

    def __init__(self) -> None:
        self.subscriptions: list[Subscription] = []

    def subscribe(self, event_type: str = "*", *, where: dict[str, Any] | None = None, predicate: EventFilter | None = None) -> Callable[[Handler], Handler]:
        """Return a decorator that registers a handler for an event type (`*` for all)."""

        def register(handler: Handler) -> Handler:
            self.subscriptions.append(Subscription(handler, event_type, dict(where or {}), predicate))
            log.info("subscribed handler=%s event_type=%s", getattr(handler, "__qualname__", handler), event_type)
            return handler

        return register

    def dispatch(self, event: CloudEvent) -> int:
        """Call every matching handler; return how many raised."""
        document = event.model_dump(mode="json")
        failures = 0
        for subscription in self.subscriptions:
            try:
                if subscription.wants(event, document):
                    subscription.handler(event)
            except Exception:  # a user handler's bug must not stop the other handlers or the service
                failures += 1
                log.exception(
                    "handler=%s failed on event id=%s type=%s; continuing with the other handlers",
                    getattr(subscription.handler, "__qualname__", subscription.handler), event.id, event.type,
                )
        return failures


default_registry = SubscriberRegistry()
subscriber = default_registry.subscribe


def load_handler_modules(modules: list[str]) -> None:
    """Import user modules so their `@subscriber` decorators run."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ImportError(f"cannot import handler module {module!r}: {exc}. Check the name and PYTHONPATH.") from exc
