"""Event contracts: envelopes, strict validation and round trips."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from custody.events import BY_TYPE, EVENT_CLASSES, InvalidEvent, decode, encode, event_type_names, make_event
from custody.events import models

NOW = datetime(2026, 5, 1, 10, 0, tzinfo=timezone.utc)
ALICE = models.Agent(kind="person", name="alice")
SHA_A = "a" * 64
SHA_B = "b" * 64


def commit_payload(**changes) -> models.DataCommitted:
    fields = dict(
        repo="patients",
        bucket="acme-raw",
        commit_id=SHA_A,
        files=[models.FileVersion(path="raw/2024 Q1/résumé+final.csv", size=12, sha256=SHA_B, version_id="v1")],
        author=ALICE,
        committed_at=NOW,
        labels=["pii", "health"],
        origin=models.UploadOrigin(via="cli"),
    )
    fields.update(changes)
    return models.DataCommitted(**fields)


def test_type_names_follow_convention():
    for name in event_type_names():
        parts = name.split(".")
        assert parts[:2] == ["io", "custody"], name
        assert parts[-1] == "v1", name
        assert len(parts) == 5, name


def test_every_required_event_is_registered():
    expected = {
        "io.custody.repo.registered.v1",
        "io.custody.data.committed.v1",
        "io.custody.data.removed.v1",
        "io.custody.pipeline.registered.v1",
        "io.custody.pipeline.removed.v1",
        "io.custody.trigger.decided.v1",
        "io.custody.job.scheduled.v1",
        "io.custody.job.started.v1",
        "io.custody.job.succeeded.v1",
        "io.custody.job.failed.v1",
        "io.custody.alert.raised.v1",
        "io.custody.record.deadlettered.v1",
    }
    assert set(BY_TYPE) == expected
    assert len(EVENT_CLASSES) == len(expected)


def test_commit_event_round_trip():
    event = make_event(commit_payload(), source="/custody/cli", subject="patients", causationid="upload-1")

    decoded = decode(encode(event))

    assert decoded == event
    assert decoded.type == "io.custody.data.committed.v1"
    assert decoded.causationid == "upload-1"
    assert decoded.data.files[0].path == "raw/2024 Q1/résumé+final.csv"


def test_envelope_is_cloudevents_structured_json():
    document = json.loads(encode(make_event(commit_payload(), source="/custody/cli")))

    assert document["specversion"] == "1.0"
    assert document["datacontenttype"] == "application/json"
    for attribute in ("id", "source", "type", "time", "data"):
        assert attribute in document


def test_job_origin_round_trip():
    origin = models.JobOrigin(job_id="job-1", pipeline="train", pipeline_version="v" * 8, input_commits=[SHA_B])
    event = make_event(commit_payload(origin=origin), source="/custody/processors")

    assert decode(encode(event)).data.origin == origin


@pytest.mark.parametrize(
    ("mutate", "field", "shown_value"),
    [
        (lambda d: d["data"]["files"][0].__setitem__("size", "12"), "data.files.0.size", "'12'"),
        (lambda d: d["data"]["files"][0].__setitem__("sha256", "xyz"), "data.files.0.sha256", "'xyz'"),
        (lambda d: d["data"].__setitem__("repo", "bad repo"), "data.repo", "'bad repo'"),
        (lambda d: d.__setitem__("specversion", "0.3"), "specversion", "'0.3'"),
        (lambda d: d["data"].__setitem__("unexpected", 1), "data.unexpected", "1"),
        (lambda d: d["data"]["author"].__setitem__("kind", "robot"), "data.author.kind", "'robot'"),
        (lambda d: d.__setitem__("time", "2026-05-01T10:00:00"), "time", "'2026-05-01T10:00:00'"),
    ],
)
def test_invalid_event_names_field_and_value(mutate, field, shown_value):
    document = json.loads(encode(make_event(commit_payload(), source="/custody/cli")))
    mutate(document)

    with pytest.raises(InvalidEvent) as caught:
        decode(json.dumps(document))

    assert field in caught.value.fields
    assert f"field '{field}'" in str(caught.value)
    assert shown_value in str(caught.value)


def test_unknown_type_is_rejected():
    with pytest.raises(InvalidEvent, match="unknown event type 'io.custody.data.exploded.v1'"):
        decode(json.dumps({"type": "io.custody.data.exploded.v1"}))


@pytest.mark.parametrize("raw", [b"hello", b"\xff\xfe", b"[1, 2]", b""])
def test_non_event_bytes_are_rejected(raw):
    with pytest.raises(InvalidEvent):
        decode(raw)


def test_long_values_are_truncated_in_errors():
    document = json.loads(encode(make_event(commit_payload(), source="/custody/cli")))
    document["data"]["repo"] = "x" * 5000

    with pytest.raises(InvalidEvent) as caught:
        decode(json.dumps(document))

    assert len(str(caught.value)) < 400


def test_make_event_rejects_non_payload():
    with pytest.raises(TypeError, match="not an event payload"):
        make_event(ALICE, source="/custody/cli")


def test_source_must_name_a_custody_component():
    with pytest.raises(ValueError, match="source"):
        make_event(commit_payload(), source="http://elsewhere")


def test_agent_id_is_kind_and_name():
    robot = models.Agent(kind="service_account", name="custody-processor", acting_for="alice")

    assert robot.agent_id == "service_account:custody-processor"
    assert ALICE.agent_id == "person:alice"
