"""Turn events into alerts: rules and detectors, then dedupe and throttling."""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from custody.events.models import AlertRaised
from processors.alerts.matching import matches, render
from processors.alerts.rules import AlertRule, RulesFile

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PendingAlert:
    """An alert with the sinks it must reach."""

    alert: AlertRaised
    sinks: tuple[str, ...]
    cause_id: str | None


class Deduper:
    """Remember dedupe keys for their window, so a repeated alert inside it is sent once."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._expires: dict[str, float] = {}

    def first_time(self, key: str, window_s: float) -> bool:
        """Return True and remember the key, unless it was seen inside its window."""
        now = self._clock()
        if self._expires.get(key, 0.0) > now:
            return False
        self._expires[key] = now + window_s
        if len(self._expires) > 10_000:
            self._expires = {k: v for k, v in self._expires.items() if v > now}
        return True


class Throttle:
    """Allow at most `limit` alerts per rolling minute for each rule."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._sent: dict[str, deque[float]] = {}
        self.dropped: dict[str, int] = {}

    def allow(self, rule: str, limit: int | None) -> bool:
        """Return True when the rule is under its limit, counting the alert."""
        if limit is None:
            return True
        now = self._clock()
        sent = self._sent.setdefault(rule, deque())
        while sent and sent[0] <= now - 60.0:
            sent.popleft()
        if len(sent) >= limit:
            self.dropped[rule] = self.dropped.get(rule, 0) + 1
            return False
        sent.append(now)
        return True


def subject_of(document: dict[str, Any]) -> str:
    """Return what an event is about: its subject, or the key field of its payload."""
    data = document.get("data") or {}
    for field in ("job_id", "pipeline", "repo", "name", "source_topic"):
        if isinstance(data, dict) and data.get(field):
            return str(data[field])
    return str(document.get("subject") or document.get("id"))


class AlertEngine:
    """Evaluate rules on each event and pass detector alerts through the same dedupe and throttle."""

    def __init__(self, rules: RulesFile, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rules = rules
        self.deduper = Deduper(clock)
        self.throttle = Throttle(clock)

    def evaluate(self, document: dict[str, Any]) -> list[PendingAlert]:
        """Return the alerts that the rules raise for one event document."""
        pending = []
        for rule in self.rules.rules:
            if not matches(document, rule.event_type, rule.where):
                continue
            candidate = self._from_rule(rule, document)
            if self.admit(candidate, rule.dedupe_window_s, rule.throttle_per_minute):
                pending.append(candidate)
        return pending

    def admit(self, candidate: PendingAlert, window_s: float, throttle_per_minute: int | None = None) -> bool:
        """Return True when the alert passes dedupe and throttling; log why it does not."""
        alert = candidate.alert
        if not self.deduper.first_time(alert.dedupe_key, window_s):
            log.info("alert suppressed rule=%s dedupe_key=%s reason=duplicate-in-window", alert.rule, alert.dedupe_key)
            return False
        if not self.throttle.allow(alert.rule, throttle_per_minute):
            log.info("alert dropped rule=%s dedupe_key=%s reason=throttled", alert.rule, alert.dedupe_key)
            return False
        return True

    def _from_rule(self, rule: AlertRule, document: dict[str, Any]) -> PendingAlert:
        data = document.get("data") if isinstance(document.get("data"), dict) else {}
        fields = {**data, "rule": rule.name, "type": document.get("type"), "id": document.get("id"), "subject": subject_of(document)}
        alert = AlertRaised(
            alert_id=str(uuid.uuid4()),
            rule=rule.name,
            severity=rule.severity,
            summary=render(rule.summary, fields),
            dedupe_key=render(rule.dedupe_key, fields),
            subject=fields["subject"],
            event_ids=[str(document.get("id"))],
            details={key: str(value) for key, value in data.items() if isinstance(value, (str, int, float, bool))},
        )
        return PendingAlert(alert=alert, sinks=tuple(rule.sinks), cause_id=document.get("id"))
