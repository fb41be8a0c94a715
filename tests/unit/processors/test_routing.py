"""Stage one routing and the stale-claim scan, over plain dictionaries in place of faust tables."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import pytest

from custody.events import encode, make_event
from custody.events.models import Agent, DataCommitted, DataRemoved, FileVersion, JobStarted, PipelineRegistered, PipelineRemoved, UploadOrigin
from processors.recovery import stale_claims
from processors.routing import Unusable, route_commit, route_registration

ALICE = Agent(kind="person", name="alice")
NOW = datetime(2026, 5, 1, 10, 0, tzinfo=timezone.utc)


def committed(repo: str) -> bytes:
    data = DataCommitted(
        repo=repo, bucket="b", commit_id=hashlib.sha256(repo.encode()).hexdigest(),
        files=[FileVersion(path="a.csv", size=1, sha256="0" * 64)], author=ALICE, committed_at=NOW, origin=UploadOrigin(via="api"),
    )
    return encode(make_event(data, source="/custody/tests"))


def registered(name: str, inputs: list[str]) -> bytes:
    data = PipelineRegistered(
        name=name, version="v1", owner="o", input_repos=inputs, output_repo="out", executor="local", spec={}, registered_by=ALICE,
    )
    return encode(make_event(data, source="/custody/tests"))


def test_commit_routed_to_pipelines_reading_its_repo():
    pipelines = {
        "clean": {"registration": {"input_repos": ["raw"]}, "offset": 3},
        "model": {"registration": {"input_repos": ["clean"]}, "offset": 4},
    }
    heads: dict = {}

    requests = route_commit(committed("raw"), pipelines=pipelines, heads=heads)

    assert [(r.pipeline, r.kind, r.registry_offset) for r in requests] == [("clean", "commit", 3)]
    assert heads["raw"]["commit_id"] == requests[0].commit.commit_id
    assert requests[0].cause_event_id == requests[0].commit.event_id


def test_removal_triggers_nothing():
    data = DataRemoved(repo="raw", bucket="b", path="a.csv", removed_at=NOW, via="api")

    assert route_commit(encode(make_event(data, source="/custody/tests")), pipelines={}, heads={}) == []


@pytest.mark.parametrize(
    ("raw", "error_type"),
    [
        (b"hello", "InvalidEvent"),
        (None, "EmptyRecord"),
        (encode(make_event(JobStarted(job_id="j", attempt=1, started_at=NOW, runner="r"), source="/custody/tests")), "UnexpectedEventType"),
    ],
)
def test_unusable_commit_records(raw, error_type):
    with pytest.raises(Unusable) as caught:
        route_commit(raw, pipelines={}, heads={})

    assert caught.value.error_type == error_type


def test_registration_updates_table_and_asks_for_a_run():
    pipelines: dict = {}

    requests = route_registration(registered("clean", ["raw"]), b"clean", offset=7, pipelines=pipelines)

    assert pipelines["clean"]["offset"] == 7
    assert [(r.kind, r.pipeline, r.registry_offset) for r in requests] == [("version", "clean", 7)]


def test_removal_and_tombstone_drop_the_pipeline():
    pipelines = {"clean": {}, "model": {}}
    removal = encode(make_event(PipelineRemoved(name="clean", removed_by=ALICE), source="/custody/tests"))

    assert route_registration(removal, b"clean", offset=8, pipelines=pipelines) == []
    assert route_registration(None, b"model", offset=9, pipelines=pipelines) == []
    assert pipelines == {}


def test_stale_claims_only_unannounced_and_old():
    claims = {
        "j1": {"state": "claimed", "pipeline": "clean", "claimed_at": (NOW - timedelta(seconds=30)).isoformat()},
        "j2": {"state": "claimed", "pipeline": "clean", "claimed_at": (NOW - timedelta(seconds=1)).isoformat()},
        "j3": {"state": "announced", "pipeline": "clean", "claimed_at": (NOW - timedelta(seconds=30)).isoformat()},
    }

    requests = stale_claims(claims, older_than_s=5, now=NOW)

    assert [(r.kind, r.job_id, r.pipeline) for r in requests] == [("resume", "j1", "clean")]
