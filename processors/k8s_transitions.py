"""Job status to attempt transitions. Pure: the watcher feeds it Job objects as dictionaries.

The Job controller counts failed pods in `status.failed` and sets the
`Complete` or `Failed` condition at the end. From one status this module
derives the whole history of the job as a list of transitions:

    started(1), failed(1), started(2), failed(2), ..., started(n), succeeded(n) | failed(n, final)

Each later status extends the earlier list and never rewrites it (a failed
attempt is reported as non-final only when `backoffLimit` guarantees a retry,
and as final only once the Job has failed). The watcher stores how many
transitions it reported in an annotation of the Job, so after a restart, a
relist or a watch that skipped intermediate states it reports exactly the
missing ones.

If a Job fails for another reason (deadline exceeded) after attempts that were
already reported as non-final, a last `failed(n, final)` for the same attempt
closes the history; its reason names the cause.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any, Literal

REPORTED_ANNOTATION = "custody.io/reported-transitions"


@dataclass(frozen=True)
class Transition:
    """One reportable change of one attempt."""

    kind: Literal["started", "succeeded", "failed"]
    attempt: int
    final: bool = False
    reason: str = ""


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for condition in status.get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == "True":
            return condition
    return None


def transitions(job: dict[str, Any]) -> list[Transition]:
    """Return every transition the Job's current status implies, in order."""
    spec = job.get("spec") or {}
    status = job.get("status") or {}
    failed_pods = int(status.get("failed") or 0)
    active = int(status.get("active") or 0)
    backoff_limit = int(spec.get("backoffLimit", 6))
    complete = _condition(status, "Complete")
    failed = _condition(status, "Failed")

    history: list[Transition] = []
    for attempt in range(1, failed_pods + 1):
        history.append(Transition("started", attempt))
        if attempt <= backoff_limit:
            history.append(Transition("failed", attempt, reason="the attempt's pod failed; the Job controller retries"))
        elif failed is not None:
            history.append(Transition("failed", attempt, final=True, reason=_reason(failed)))
        else:
            # Over the limit but the Failed condition is not set yet: wait for
            # it rather than guess whether this attempt is final.
            return history

    if complete is not None:
        history += [Transition("started", failed_pods + 1), Transition("succeeded", failed_pods + 1)]
    elif failed is not None and failed_pods <= backoff_limit:
        # The Job failed for a reason other than its retries running out.
        last = max(failed_pods, 1)
        if failed_pods == 0:
            history.append(Transition("started", 1))
        history.append(Transition("failed", last, final=True, reason=_reason(failed)))
    elif active > 0 and failed is None:
        history.append(Transition("started", failed_pods + 1))
    return history


def _reason(condition: dict[str, Any]) -> str:
    reason = condition.get("reason") or "Failed"
    message = condition.get("message") or ""
    return f"{reason}: {message}" if message else reason


def reported_count(job: dict[str, Any]) -> int:
    """Return how many transitions of the Job were reported, from its annotation."""
    annotations = (job.get("metadata") or {}).get("annotations") or {}
    try:
        return max(0, int(annotations.get(REPORTED_ANNOTATION, "0")))
    except ValueError:
        return 0


def is_finished(job: dict[str, Any]) -> bool:
    """Return True when the Job has its Complete or Failed condition."""
    status = job.get("status") or {}
    return _condition(status, "Complete") is not None or _condition(status, "Failed") is not None


def duration_s(job: dict[str, Any]) -> float | None:
    """Return the seconds from the Job's start to its completion, or None when unknown."""
    status = job.get("status") or {}
    started = _parse_time(status.get("startTime"))
    ended = _parse_time(status.get("completionTime")) or _condition_time(status)
    if started is None or ended is None:
        return None
    return max(0.0, (ended - started).total_seconds())


def _condition_time(status: dict[str, Any]) -> datetime.datetime | None:
    condition = _condition(status, "Failed") or _condition(status, "Complete")
    return _parse_time(condition.get("lastTransitionTime")) if condition else None


def _parse_time(value: Any) -> datetime.datetime | None:
    if isinstance(value, datetime.datetime):
        return value
    if not value:
        return None
    try:
        return datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
