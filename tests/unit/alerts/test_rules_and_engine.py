"""Alert rules file validation, predicates, dedupe and throttling."""

from __future__ import annotations

import pytest

from custody.errors import ValidationFailed
from processors.alerts.engine import AlertEngine
from processors.alerts.matching import lookup, matches_predicate, render
from processors.alerts.rules import RulesFile, load_rules
from tests.unit.alerts.events import commit, failed

RULES = """
sinks:
  ops: {type: webhook, url: "http://127.0.0.1:9/hook"}
  log: {type: log}
rules:
  - name: train-failed
    event_type: io.custody.job.failed.v1
    where: {data.final: true}
    severity: critical
    summary: "job {job_id} failed: {reason}"
    dedupe_key: "{rule}:{job_id}"
    dedupe_window_s: 60
    sinks: [ops, log]
  - name: pii-data
    event_type: io.custody.data.committed.v1
    where: {data.repo: [raw, patients]}
    throttle_per_minute: 2
    dedupe_window_s: 0
    sinks: [log]
"""


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def rules(tmp_path) -> RulesFile:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    return load_rules(path)


def test_rule_matches_final_failure(rules):
    [pending] = AlertEngine(rules).evaluate(failed(final=True))

    assert pending.alert.rule == "train-failed"
    assert pending.alert.severity == "critical"
    assert pending.alert.summary == "job job-1 failed: exit code 2"
    assert pending.alert.dedupe_key == "train-failed:job-1"
    assert pending.sinks == ("ops", "log")


def test_rule_ignores_non_final_failure(rules):
    assert AlertEngine(rules).evaluate(failed(final=False)) == []


def test_duplicate_inside_window_suppressed(rules):
    clock = FakeClock()
    engine = AlertEngine(rules, clock=clock)

    first = engine.evaluate(failed())
    clock.now += 30
    repeat = engine.evaluate(failed())
    clock.now += 31
    after_window = engine.evaluate(failed())

    assert len(first) == 1
    assert repeat == []
    assert len(after_window) == 1


def test_throttle_drops_over_limit(rules):
    clock = FakeClock()
    engine = AlertEngine(rules, clock=clock)

    counts = [len(engine.evaluate(commit())) for _ in range(4)]
    clock.now += 61
    later = len(engine.evaluate(commit()))

    assert counts == [1, 1, 0, 0]
    assert engine.throttle.dropped["pii-data"] == 2
    assert later == 1


def test_unknown_sink_rejected(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("rules:\n  - {name: r, event_type: '*', sinks: [pager]}\n")

    with pytest.raises(ValidationFailed, match="unknown sink"):
        load_rules(path)


def test_invalid_field_named_with_value(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("rules:\n  - {name: r, event_type: '*', severity: loud, sinks: [log]}\n")

    with pytest.raises(ValidationFailed) as caught:
        load_rules(path)

    assert "rules.0.severity" in str(caught.value)
    assert "'loud'" in str(caught.value)
    assert str(path) in str(caught.value)


def test_missing_rules_file_named(tmp_path):
    with pytest.raises(ValidationFailed, match="nope.yaml not found"):
        load_rules(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("actual", "expected", "result"),
    [
        ("a", "a", True),
        ("a", ["a", "b"], True),
        ("c", ["a", "b"], False),
        (["pii", "health"], {"contains": "pii"}, True),
        (["health"], {"contains": "pii"}, False),
        (None, {"exists": False}, True),
        ("x", {"exists": True}, True),
    ],
)
def test_predicates(actual, expected, result):
    assert matches_predicate(actual, expected) is result


def test_lookup_walks_lists_and_dicts():
    document = {"data": {"inputs": [{"repo": "raw"}]}}

    assert lookup(document, "data.inputs.0.repo") == "raw"
    assert not matches_predicate(lookup(document, "data.inputs.5.repo"), "raw")


def test_render_keeps_unknown_names():
    assert render("{known} and {unknown}", {"known": 1}) == "1 and {unknown}"


def test_documented_rules_file_is_valid():
    import re
    from pathlib import Path

    import yaml

    doc = (Path(__file__).resolve().parents[3] / "docs" / "alerts.md").read_text()
    [example] = re.findall(r"```yaml\n(.*?)```", doc, flags=re.S)

    rules = RulesFile.model_validate(yaml.safe_load(example))

    assert [rule.name for rule in rules.rules] == ["model-training-failed", "health-data-arrived"]
    assert rules.detectors.sla.seconds == 300
