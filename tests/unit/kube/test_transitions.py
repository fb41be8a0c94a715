"""Job status to attempt transitions: complete histories, and histories that only ever grow."""

from __future__ import annotations

import pytest

from processors.k8s_transitions import REPORTED_ANNOTATION, Transition, duration_s, reported_count, transitions

S, OK = "started", "succeeded"


def job(*, failed=0, active=0, limit=0, condition=None, reason="", annotations=None, start=None, end=None):
    status = {"failed": failed, "active": active}
    if condition:
        status["conditions"] = [{"type": condition, "status": "True", "reason": reason, "message": "m", "lastTransitionTime": end}]
    if start:
        status["startTime"] = start
    if end and condition == "Complete":
        status["completionTime"] = end
    return {"metadata": {"annotations": annotations or {}}, "spec": {"backoffLimit": limit}, "status": status}


def kinds(history):
    return [(t.kind, t.attempt, t.final) for t in history]


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (job(), []),
        (job(active=1), [(S, 1, False)]),
        (job(condition="Complete"), [(S, 1, False), (OK, 1, False)]),
        (job(failed=1, limit=2), [(S, 1, False), ("failed", 1, False)]),
        (job(failed=1, active=1, limit=2), [(S, 1, False), ("failed", 1, False), (S, 2, False)]),
        (job(failed=1, limit=2, condition="Complete"), [(S, 1, False), ("failed", 1, False), (S, 2, False), (OK, 2, False)]),
        # Over the backoff limit, the last attempt waits for the Failed condition to be called final.
        (job(failed=2, limit=1), [(S, 1, False), ("failed", 1, False), (S, 2, False)]),
        (
            job(failed=2, limit=1, condition="Failed", reason="BackoffLimitExceeded"),
            [(S, 1, False), ("failed", 1, False), (S, 2, False), ("failed", 2, True)],
        ),
        (job(failed=1, limit=0, condition="Failed", reason="BackoffLimitExceeded"), [(S, 1, False), ("failed", 1, True)]),
        # A deadline ends the Job although retries were left.
        (
            job(failed=1, limit=3, condition="Failed", reason="DeadlineExceeded"),
            [(S, 1, False), ("failed", 1, False), ("failed", 1, True)],
        ),
        (job(limit=3, condition="Failed", reason="DeadlineExceeded"), [(S, 1, False), ("failed", 1, True)]),
    ],
)
def test_status_gives_its_whole_history(state, expected):
    assert kinds(transitions(state)) == expected


@pytest.mark.parametrize(
    "states",
    [
        [job(), job(active=1), job(condition="Complete")],
        [job(active=1), job(failed=1, limit=1), job(failed=1, active=1, limit=1), job(failed=2, limit=1),
         job(failed=2, limit=1, condition="Failed", reason="BackoffLimitExceeded")],
        [job(active=1, limit=3), job(failed=1, active=1, limit=3), job(failed=2, limit=3, condition="Failed", reason="DeadlineExceeded")],
        [job(active=1, limit=3), job(limit=3, condition="Failed", reason="DeadlineExceeded")],
    ],
)
def test_each_later_status_extends_the_earlier_history(states):
    # The watcher stores only a count, so a history must never change what it already reported.
    histories = [transitions(state) for state in states]

    for earlier, later in zip(histories, histories[1:]):
        assert later[: len(earlier)] == earlier


def test_final_failure_names_the_condition_reason():
    history = transitions(job(failed=1, condition="Failed", reason="BackoffLimitExceeded"))

    assert history[-1] == Transition("failed", 1, final=True, reason="BackoffLimitExceeded: m")


@pytest.mark.parametrize(("value", "count"), [("3", 3), ("garbage", 0), ("-2", 0), (None, 0)])
def test_reported_count_reads_the_annotation(value, count):
    annotations = {} if value is None else {REPORTED_ANNOTATION: value}

    assert reported_count(job(annotations=annotations)) == count


def test_duration_runs_from_start_to_completion():
    finished = job(condition="Complete", start="2026-12-04T10:00:00Z", end="2026-12-04T10:00:42Z")

    assert duration_s(finished) == 42.0
    assert duration_s(job()) is None
