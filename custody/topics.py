"""The topic registry: every Kafka topic Custody uses, with its key rule and settings.

Order matters per key, not per topic, so each topic has exactly one key rule:
commits and removals are keyed by repo, pipeline specs by pipeline name, jobs
by job id. A consumer that cannot parse or process a record sends it to the
topic's dead-letter topic and moves on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

log = logging.getLogger(__name__)

DAY_MS = 24 * 60 * 60 * 1000


@dataclass(frozen=True)
class TopicSpec:
    """One topic: base name (before the prefix), key rule, partitions and retention."""

    name: str
    key_rule: str
    key_field: str | None
    partitions: int
    cleanup_policy: Literal["delete", "compact"]
    retention_ms: int | None
    dead_letter: str | None
    event_types: tuple[str, ...] = ()
    description: str = ""
    extra_config: dict[str, str] = field(default_factory=dict)

    def full_name(self, prefix: str = "") -> str:
        """Return the topic name with the deployment's prefix."""
        return f"{prefix}{self.name}"

    def config(self) -> dict[str, str]:
        """Return the topic-level configuration passed to CreateTopics."""
        config = {"cleanup.policy": self.cleanup_policy}
        if self.retention_ms is not None:
            config["retention.ms"] = str(self.retention_ms)
        config.update(self.extra_config)
        return config


DLQ = "custody.dlq"

TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(
        name="custody.storage.s3-events",
        key_rule="none (the S3 server chooses); the bucket notification JSON as sent",
        key_field=None,
        partitions=3,
        cleanup_policy="delete",
        retention_ms=7 * DAY_MS,
        dead_letter=DLQ,
        description="Raw S3 event notifications (AWS message format) from the S3 server.",
    ),
    TopicSpec(
        name="custody.repos",
        key_rule="repo name",
        key_field="name",
        partitions=1,
        cleanup_policy="compact",
        retention_ms=None,
        dead_letter=DLQ,
        event_types=("io.custody.repo.registered.v1",),
        description="Repo registry: the latest definition of each repo survives compaction.",
    ),
    TopicSpec(
        name="custody.data.commits",
        key_rule="repo name",
        key_field="repo",
        partitions=3,
        cleanup_policy="delete",
        # Lineage rebuilds replay this topic from the start, so it is never expired.
        retention_ms=-1,
        dead_letter=DLQ,
        event_types=("io.custody.data.committed.v1", "io.custody.data.removed.v1"),
        description="Commits and removals of data in repos.",
    ),
    TopicSpec(
        name="custody.pipelines",
        key_rule="pipeline name",
        key_field="name",
        partitions=1,
        cleanup_policy="compact",
        retention_ms=None,
        dead_letter=DLQ,
        event_types=("io.custody.pipeline.registered.v1", "io.custody.pipeline.removed.v1"),
        description="Pipeline registry: the latest spec of each pipeline survives compaction.",
    ),
    TopicSpec(
        name="custody.pipelines.history",
        key_rule="pipeline name",
        key_field="name",
        partitions=1,
        cleanup_policy="delete",
        retention_ms=-1,
        dead_letter=DLQ,
        event_types=("io.custody.pipeline.registered.v1", "io.custody.pipeline.removed.v1"),
        description="Every pipeline version ever applied, kept for lineage replays.",
    ),
    TopicSpec(
        name="custody.decisions",
        key_rule="pipeline name",
        key_field="pipeline",
        partitions=3,
        cleanup_policy="delete",
        retention_ms=-1,
        dead_letter=DLQ,
        event_types=("io.custody.trigger.decided.v1",),
        description="Trigger decisions: why each pipeline did or did not start.",
    ),
    TopicSpec(
        name="custody.jobs",
        key_rule="job id",
        key_field="job_id",
        partitions=3,
        cleanup_policy="delete",
        retention_ms=-1,
        dead_letter=DLQ,
        event_types=(
            "io.custody.job.scheduled.v1",
            "io.custody.job.started.v1",
            "io.custody.job.succeeded.v1",
            "io.custody.job.failed.v1",
        ),
        description="Job lifecycle events.",
    ),
    TopicSpec(
        name="custody.alerts",
        key_rule="alert dedupe key",
        key_field="dedupe_key",
        partitions=1,
        cleanup_policy="delete",
        retention_ms=30 * DAY_MS,
        dead_letter=DLQ,
        event_types=("io.custody.alert.raised.v1",),
        description="Alerts raised by rules and detectors.",
    ),
    TopicSpec(
        name=DLQ,
        key_rule="source topic name",
        key_field="source_topic",
        partitions=1,
        cleanup_policy="delete",
        retention_ms=30 * DAY_MS,
        dead_letter=None,
        event_types=("io.custody.record.deadlettered.v1",),
        description="Records that failed validation or processing, with original bytes and reason.",
    ),
)

BY_NAME: dict[str, TopicSpec] = {topic.name: topic for topic in TOPICS}


def topic(name: str) -> TopicSpec:
    """Return the spec of a registered topic by its base name."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown topic {name!r}; registered topics: {', '.join(BY_NAME)}") from None


def event_key(spec: TopicSpec, data: object) -> bytes | None:
    """Return the record key of an event payload under the topic's key rule."""
    if spec.key_field is None:
        return None
    value = getattr(data, spec.key_field)
    return str(value).encode()


def group_name(prefix: str, group: str) -> str:
    """Return a default consumer group id with the topic prefix, so deployments sharing a cluster never share a group.

    Services apply it to their default group names only; a group id that a user
    sets explicitly is used as given.
    """
    return f"{prefix}{group}"


def topic_for_event(event_type: str) -> TopicSpec:
    """Return the topic an event type is published to (its first home in the registry)."""
    for spec in TOPICS:
        if event_type in spec.event_types:
            return spec
    raise KeyError(f"event type {event_type!r} has no topic in the registry")
