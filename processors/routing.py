"""Stage one: turn commits and registrations into trigger requests keyed by pipeline.

Commits arrive keyed by repo and registrations keyed by pipeline, possibly on
different workers. This stage keeps the two global tables current (pipelines
by name, repo heads by repo) and forwards one `TriggerRequest` per affected
pipeline to the internal trigger topic, where stage two decides for each
pipeline in order. Kafka acknowledges a forwarded request before the source
record counts as processed, so a crash repeats the forward instead of losing
it. Stage two treats the repeat as a duplicate.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import MutableMapping
from typing import Any

from custody.events import InvalidEvent, decode
from custody.events.catalog import DataCommittedEvent, DataRemovedEvent, PipelineRegisteredEvent, PipelineRemovedEvent
from processors.requests import CommitSummary, TriggerRequest

log = logging.getLogger(__name__)


class Unusable(Exception):
    """A record that cannot be routed; it goes to the dead-letter topic with this reason."""

    def __init__(self, reason: str, error_type: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error_type = error_type


def route_commit(raw: bytes | None, *, pipelines: MutableMapping[str, Any], heads: MutableMapping[str, Any]) -> list[TriggerRequest]:
    """Record the commit as its repo's head and return one request per pipeline reading that repo.

    Removals trigger nothing. Raises Unusable for a record that is not a commit event.
    """
    event = _decode(raw)
    if isinstance(event, DataRemovedEvent):
        return []
    if not isinstance(event, DataCommittedEvent):
        raise Unusable(f"event type {event.type} does not belong on the commits topic", "UnexpectedEventType")

    commit = CommitSummary.from_event(event.data, event_id=event.id)
    heads[commit.repo] = commit.model_dump(mode="json")

    # NOTE: with several workers the global tables reach the others asynchronously, so a commit
    # routed within that delay of a new registration can miss it here while the version run
    # misses the commit in `heads`. One worker cannot miss it; removing the gap needs both
    # paths on one partition, which would serialize all routing.
    requests = []
    for name, entry in list(pipelines.items()):
        registration = entry["registration"]
        if commit.repo not in registration["input_repos"]:
            continue
        requests.append(
            TriggerRequest(
                request_id=str(uuid.uuid4()),
                kind="commit",
                pipeline=name,
                registration=registration,
                registry_offset=entry["offset"],
                commit=commit,
                cause_event_id=event.id,
            )
        )
    log.info("repo=%s commit=%s routed to pipelines=%d", commit.repo, commit.commit_id[:12], len(requests))
    return requests


def route_registration(raw: bytes | None, key: bytes | None, *, offset: int, pipelines: MutableMapping[str, Any]) -> list[TriggerRequest]:
    """Update the pipelines table and, for a new registration, request one run on the current heads from stage two."""
    if raw is None:
        # A tombstone: compaction removes the pipeline entirely.
        name = (key or b"").decode("utf-8", "replace")
        pipelines.pop(name, None)
        return []

    event = _decode(raw)
    if isinstance(event, PipelineRemovedEvent):
        pipelines.pop(event.data.name, None)
        log.info("pipeline=%s removed; it no longer triggers", event.data.name)
        return []
    if not isinstance(event, PipelineRegisteredEvent):
        raise Unusable(f"event type {event.type} does not belong on the pipelines topic", "UnexpectedEventType")

    registration = event.data.model_dump(mode="json")
    pipelines[event.data.name] = {"registration": registration, "event_id": event.id, "offset": offset}
    log.info("pipeline=%s version=%s registered at offset=%d", event.data.name, event.data.version[:12], offset)
    return [
        TriggerRequest(
            request_id=str(uuid.uuid4()),
            kind="version",
            pipeline=event.data.name,
            registration=registration,
            registry_offset=offset,
            cause_event_id=event.id,
        )
    ]


def _decode(raw: bytes | None) -> Any:
    if raw is None:
        raise Unusable("record has no value", "EmptyRecord")
    try:
        return decode(raw)
    except InvalidEvent as exc:
        raise Unusable(str(exc), "InvalidEvent") from exc
