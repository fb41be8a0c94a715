"""Built-in detectors: job failures, refusals, lineage gaps, notification gaps and SLA misses."""

from __future__ import annotations

from processors.alerts.detectors import Detectors
from processors.alerts.rules import RulesFile
from tests.unit.alerts import events


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make(seconds: float = 10.0) -> tuple[Detectors, FakeClock]:
    clock = FakeClock()
    rules = RulesFile.model_validate({"detectors": {"sla": {"seconds": seconds}}})
    return Detectors(rules, clock=clock), clock


def test_final_job_failure_alerts_with_pipeline():
    detectors, _ = make()
    detectors.observe(events.scheduled())

    [pending] = detectors.observe(events.failed(final=True))

    assert pending.alert.rule == "job-failed"
    assert pending.alert.dedupe_key == "job-failed:job-1"
    assert pending.alert.details["reason"] == "exit code 2"
    assert pending.alert.details["pipeline"] == "clean"
    assert pending.sinks == ("log",)


def test_retried_failure_is_quiet():
    detectors, _ = make()

    assert detectors.observe(events.failed(final=False)) == []


def test_refusal_names_labels():
    detectors, _ = make()

    [pending] = detectors.observe(events.decision("refused", labels=("pii",)))

    assert pending.alert.rule == "policy-refusal"
    assert "pii" in pending.alert.summary
    assert pending.alert.details["labels"] == "pii"


def test_success_without_output_is_lineage_gap():
    detectors, _ = make()
    detectors.observe(events.scheduled())

    [pending] = detectors.observe(events.succeeded(output=None))

    assert pending.alert.rule == "lineage-gap"
    assert pending.alert.details["missing"] == "outputs"
    assert detectors.observe(events.succeeded(job_id="job-2")) == []


def test_sla_fires_for_unprocessed_commit():
    detectors, clock = make(seconds=10)
    detectors.observe(events.pipeline(repos=("raw",)))
    detectors.observe(events.commit())

    clock.now = 9.9
    early = detectors.tick()
    clock.now = 10.0
    [pending] = detectors.tick()

    assert early == []
    assert pending.alert.rule == "sla-miss"
    assert pending.alert.details["commit_id"] == events.RAW_COMMIT
    assert detectors.watched_commits() == []


def test_sla_quiet_when_job_starts():
    detectors, clock = make(seconds=10)
    detectors.observe(events.pipeline(repos=("raw",)))
    detectors.observe(events.commit())
    detectors.observe(events.scheduled())
    detectors.observe(events.started())

    clock.now = 60
    assert detectors.tick() == []


def test_sla_waits_for_start_after_scheduling():
    detectors, clock = make(seconds=10)
    detectors.observe(events.pipeline(repos=("raw",)))
    detectors.observe(events.commit())
    detectors.observe(events.scheduled())

    clock.now = 11
    assert [p.alert.rule for p in detectors.tick()] == ["sla-miss"]


def test_sla_quiet_when_nothing_to_run():
    detectors, clock = make(seconds=10)
    detectors.observe(events.pipeline(repos=("raw",)))
    detectors.observe(events.commit())
    detectors.observe(events.decision("no_match"))

    clock.now = 60
    assert detectors.tick() == []


def test_sla_ignores_repos_without_pipelines():
    detectors, clock = make(seconds=10)
    detectors.observe(events.pipeline(repos=("raw",)))
    detectors.observe(events.commit(repo="scratch"))

    clock.now = 60
    assert detectors.tick() == []
    assert detectors.watched_commits() == []


def test_removed_pipeline_stops_sla():
    from custody.events import models

    detectors, clock = make(seconds=10)
    detectors.observe(events.pipeline(repos=("raw",)))
    detectors.observe(events.document(models.PipelineRemoved(name="clean", removed_by=events.ALICE)))
    detectors.observe(events.commit())

    clock.now = 60
    assert detectors.tick() == []


def test_notification_gap_forwarded_without_kafka_loop():
    from custody.events import models

    rules = RulesFile.model_validate({"sinks": {"log": {"type": "log"}, "bus": {"type": "kafka"}}})
    detectors = Detectors(rules)
    gap = models.AlertRaised(alert_id="a1", rule="notification-gap", severity="warning", summary="s3 lost raw/a.csv", dedupe_key="gap:raw/a.csv")

    [pending] = detectors.observe(events.document(gap))

    assert pending.alert.summary == "s3 lost raw/a.csv"
    assert pending.sinks == ("log",)


def test_sla_quiet_when_job_read_before_commit():
    detectors, clock = make(seconds=10)
    detectors.observe(events.pipeline(repos=("raw",)))
    detectors.observe(events.scheduled())
    detectors.observe(events.started())
    detectors.observe(events.commit())

    clock.now = 60
    assert detectors.tick() == []
    assert detectors.watched_commits() == []
