"""Planning: which jobs a commit or a new version asks for, and their ids."""

from __future__ import annotations

import hashlib

from custody.events.models import FileVersion
from processors.planning import NoMatch, Plan, job_id_for, plan_for_commit, plans_for_heads, refused_labels
from processors.requests import CommitSummary
from processors.specfiles import parse_spec


def commit(repo: str, *paths: str, labels: tuple[str, ...] = (), tag: str = "1") -> CommitSummary:
    files = [FileVersion(path=p, size=1, sha256=hashlib.sha256(p.encode()).hexdigest(), version_id="v1") for p in paths]
    return CommitSummary(
        repo=repo, bucket="b", prefix=f"{repo}/", commit_id=hashlib.sha256(f"{repo}{tag}".encode()).hexdigest(),
        labels=list(labels), files=files, event_id=f"e-{repo}-{tag}",
    )


def spec(input_: dict, **extra):
    return parse_spec({"name": "p", "owner": "o", "input": input_, "transform": {"command": ["true"]}, "output": "out", **extra}, where="x")


def no_heads(_repo: str) -> None:
    return None


def test_single_input_stages_matching_files_only():
    outcome = plan_for_commit(spec({"repo": "raw", "glob": "*.csv"}), commit("raw", "a.csv", "b.txt"), no_heads)

    assert isinstance(outcome, Plan)
    assert [f.path for f in outcome.inputs[0].files] == ["a.csv"]


def test_single_input_without_match_says_why():
    outcome = plan_for_commit(spec({"repo": "raw", "glob": "*.csv"}), commit("raw", "b.txt"), no_heads)

    assert isinstance(outcome, NoMatch)
    assert "matches glob '*.csv'" in outcome.reason
    assert outcome.inputs[0].repo == "raw"


def test_union_entries_of_same_repo_make_one_job():
    pipeline = spec({"union": [{"repo": "raw", "glob": "*.csv"}, {"repo": "raw", "glob": "*.txt"}, {"repo": "other"}]})

    outcome = plan_for_commit(pipeline, commit("raw", "a.csv", "b.txt", "c.bin"), no_heads)

    assert isinstance(outcome, Plan)
    assert [c.repo for c in outcome.inputs] == ["raw"]
    assert [f.path for f in outcome.inputs[0].files] == ["a.csv", "b.txt"]


def test_cross_waits_for_every_input():
    pipeline = spec({"cross": [{"repo": "a"}, {"repo": "b"}]})

    outcome = plan_for_commit(pipeline, commit("a", "x"), no_heads)

    assert isinstance(outcome, NoMatch)
    assert "waits for repo b" in outcome.reason


def test_cross_uses_head_of_other_inputs_in_spec_order():
    pipeline = spec({"cross": [{"repo": "a"}, {"repo": "b", "glob": "*.csv"}]})
    head_b = commit("b", "m.csv", "n.txt")

    outcome = plan_for_commit(pipeline, commit("a", "x"), {"b": head_b}.get)

    assert isinstance(outcome, Plan)
    assert [c.repo for c in outcome.inputs] == ["a", "b"]
    assert [f.path for f in outcome.inputs[1].files] == ["m.csv"]


def test_cross_head_without_matching_file_is_no_match():
    pipeline = spec({"cross": [{"repo": "a"}, {"repo": "b", "glob": "*.csv"}]})

    outcome = plan_for_commit(pipeline, commit("a", "x"), {"b": commit("b", "n.txt")}.get)

    assert isinstance(outcome, NoMatch)
    assert "has no file matching glob '*.csv'" in outcome.reason


def test_heads_plan_one_job_per_union_entry():
    pipeline = spec({"union": [{"repo": "a"}, {"repo": "b"}, {"repo": "c"}]})
    heads = {"a": commit("a", "x"), "b": commit("b", "y")}

    outcomes = plans_for_heads(pipeline, heads.get)

    assert [type(o).__name__ for o in outcomes] == ["Plan", "Plan", "NoMatch"]
    assert "repo c has no commit yet" in outcomes[2].reason


def test_heads_plan_cross_as_one_job():
    pipeline = spec({"cross": [{"repo": "a"}, {"repo": "b"}]})
    heads = {"a": commit("a", "x"), "b": commit("b", "y")}

    outcomes = plans_for_heads(pipeline, heads.get)

    assert len(outcomes) == 1
    assert isinstance(outcomes[0], Plan)
    assert [c.repo for c in outcomes[0].inputs] == ["a", "b"]


def test_job_id_ignores_input_order_and_changes_with_nonce():
    first = job_id_for("v1", ["c1", "c2"])

    assert first == job_id_for("v1", ["c2", "c1"])
    assert first != job_id_for("v2", ["c1", "c2"])
    assert first != job_id_for("v1", ["c1", "c3"])
    assert first != job_id_for("v1", ["c1", "c2"], nonce="n1")
    assert job_id_for("v1", ["c1"], nonce="n1") == job_id_for("v1", ["c1"], nonce="n1")


def test_refused_labels_are_those_without_clearance():
    pipeline = spec({"cross": [{"repo": "a"}, {"repo": "b"}]}, clearances=["health"])
    plan = Plan((commit("a", "x", labels=("pii", "health")), commit("b", "y", labels=("finance",))))

    assert refused_labels(pipeline, plan) == ["finance", "pii"]
    assert refused_labels(spec({"repo": "a"}, clearances=["pii"]), Plan((commit("a", "x", labels=("pii",)),))) == []
