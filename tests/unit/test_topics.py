"""Topic registry: completeness, key rules and settings."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from custody.events import BY_TYPE
from custody.events import models
from custody.topics import DLQ, TOPICS, event_key, topic, topic_for_event


def test_every_event_type_has_a_topic():
    for event_type in BY_TYPE:
        assert topic_for_event(event_type).name.startswith("custody."), event_type


def test_every_topic_dead_letters_except_the_dlq():
    for spec in TOPICS:
        expected = None if spec.name == DLQ else DLQ
        assert spec.dead_letter == expected, spec.name


def test_pipeline_registry_is_compacted():
    assert topic("custody.pipelines").config() == {"cleanup.policy": "compact"}


def test_replayed_topics_never_expire():
    for name in ("custody.data.commits", "custody.jobs", "custody.decisions", "custody.pipelines.history"):
        assert topic(name).config()["retention.ms"] == "-1", name


def test_prefix_is_prepended():
    assert topic("custody.jobs").full_name("staging.") == "staging.custody.jobs"


def test_unknown_topic_lists_known_ones():
    with pytest.raises(KeyError, match="custody.jobs"):
        topic("custody.nope")


def test_commit_key_is_repo_and_job_key_is_job_id():
    removed = models.DataRemoved(
        repo="patients", bucket="b", path="a.csv", removed_at=datetime(2026, 1, 1, tzinfo=timezone.utc), via="cli"
    )
    started = models.JobStarted(job_id="job-9", attempt=1, started_at=datetime(2026, 1, 1, tzinfo=timezone.utc), runner="pid:1")

    assert event_key(topic_for_event("io.custody.data.removed.v1"), removed) == b"patients"
    assert event_key(topic_for_event("io.custody.job.started.v1"), started) == b"job-9"


def test_key_fields_exist_on_every_event_of_the_topic():
    for spec in TOPICS:
        for event_type in spec.event_types:
            data_model = BY_TYPE[event_type].model_fields["data"].annotation
            assert spec.key_field in data_model.model_fields, (spec.name, event_type)
