"""Turn Custody events into the rows of the lineage write statements.

This module is pure: it reads validated events and returns plain dictionaries,
so the mapping from events to graph writes is tested without a database. Rows
with the same key in one batch are reduced here by the statement's rule (see
`lineage.statements`), and the statements apply the same rule against the graph.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Hashable, Iterable
from datetime import datetime
from typing import Any

from custody.events import CloudEvent
from custody.events import models
from lineage import model
from lineage.statements import BY_NAME, STATEMENTS

log = logging.getLogger(__name__)

# Job phases in the order they happen within one attempt; with the attempt
# number first, the largest order is the job's latest known state.
PHASE_RANK = {"scheduled": 0, "started": 1, "failed": 2, "succeeded": 2}


def event_order(moment: datetime, event_id: str) -> str:
    """Return the order of an event by a time, with the event id breaking ties."""
    return f"{model.utc_text(moment)}|{event_id}"


def job_order(attempt: int, phase: str, moment: datetime, event_id: str) -> str:
    """Return the order of a job event: attempt, then phase, then time, then event id."""
    return f"{attempt:06d}|{PHASE_RANK[phase]}|{model.utc_text(moment)}|{event_id}"


class RowBatch:
    """The rows of each write statement for a batch of events, reduced by key."""

    def __init__(self) -> None:
        self._rows: dict[str, dict[Hashable, dict[str, Any]]] = {statement.name: {} for statement in STATEMENTS}
        self.event_count = 0
        self.skipped_count = 0

    def add(self, statement: str, row: dict[str, Any], *, key: Hashable | None = None) -> None:
        """Add one row; a row whose key is already present is reduced by the statement's rule."""
        combine = BY_NAME[statement].combine
        rows = self._rows[statement]
        if key is None:
            key = row.get("id") if combine != "same" else _freeze(row)
        current = rows.get(key)
        if current is None:
            rows[key] = row
        elif combine == "min" and row["order"] < current["order"]:
            rows[key] = row
        elif combine == "max" and row["order"] > current["order"]:
            rows[key] = row

    def rows(self, statement: str) -> list[dict[str, Any]]:
        """Return the rows of one statement."""
        return list(self._rows[statement].values())

    def statements(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """Return (statement name, rows) for every statement that has rows, in execution order."""
        return [(statement.name, self.rows(statement.name)) for statement in STATEMENTS if self._rows[statement.name]]

    def row_count(self) -> int:
        """Return the number of rows over all statements."""
        return sum(len(rows) for rows in self._rows.values())


def build_rows(events: Iterable[CloudEvent]) -> RowBatch:
    """Return the statement rows for a sequence of events."""
    batch = RowBatch()
    for event in events:
        add_event(batch, event)
    return batch


def add_event(batch: RowBatch, event: CloudEvent) -> None:
    """Add the rows of one event; event types that lineage does not record are counted and skipped."""
    handler = _HANDLERS.get(type(event.data))
    if handler is None:
        batch.skipped_count += 1
        log.debug("lineage skips event type=%s id=%s", event.type, event.id)
        return
    handler(batch, event)
    batch.event_count += 1


# Agents


def _add_agent(batch: RowBatch, agent: models.Agent | None) -> str | None:
    if agent is None:
        return None
    key = agent.agent_id
    batch.add("agents", {"id": key, "kind": agent.kind, "name": agent.name})
    if agent.acting_for:
        person = model.person_key(agent.acting_for)
        kind, _, name = person.partition(":")
        batch.add("agents", {"id": person, "kind": kind, "name": name})
        batch.add("delegations", {"source": key, "target": person})
    return key


def _add_person(batch: RowBatch, reference: str) -> str:
    key = model.person_key(reference)
    kind, _, name = key.partition(":")
    batch.add("agents", {"id": key, "kind": kind, "name": name})
    return key


def _add_plan_ref(batch: RowBatch, pipeline: str, version: str) -> str:
    key = model.plan_key(pipeline, version)
    batch.add("ref_plan", {"id": key, "name": pipeline, "version": version})
    return key


# Repos and commits


def _repo_registered(batch: RowBatch, event: CloudEvent) -> None:
    data: models.RepoRegistered = event.data
    order = event_order(event.time, event.id)
    agent = _add_agent(batch, data.registered_by)
    batch.add("ref_repo", {"id": data.name})
    props = {
        "name": data.name,
        "bucket": data.bucket,
        "prefix": data.prefix,
        "labels": sorted(data.labels),
        "grouping": data.grouping.strategy,
        "registered_at": event.time,
        "registered_by": agent,
        "_order": order,
    }
    batch.add("repo_props", {"id": data.name, "order": order, "props": props})
    batch.add("repo_attributions", {"source": data.name, "target": agent, "role": "registered"})


def _data_committed(batch: RowBatch, event: CloudEvent) -> None:
    data: models.DataCommitted = event.data
    order = event_order(data.committed_at, event.id)
    author = _add_agent(batch, data.author)
    batch.add("ref_repo", {"id": data.repo})
    batch.add("ref_commit", {"id": data.commit_id})
    batch.add("commit_props", {"id": data.commit_id, "order": order, "props": _commit_props(event, order)})
    batch.add("commit_repos", {"source": data.commit_id, "target": data.repo})
    batch.add("commit_attributions", {"source": data.commit_id, "target": author, "role": "author"})
    if data.parent_id:
        batch.add("ref_commit", {"id": data.parent_id})
        batch.add("commit_parents", {"source": data.commit_id, "target": data.parent_id})

    for file in data.files:
        _add_file(batch, data, file, order)

    if isinstance(data.origin, models.JobOrigin):
        _add_job_origin(batch, data.commit_id, data.origin)


def _commit_props(event: CloudEvent, order: str) -> dict[str, Any]:
    data: models.DataCommitted = event.data
    origin = data.origin
    props: dict[str, Any] = {
        "repo": data.repo,
        "bucket": data.bucket,
        "prefix": data.prefix,
        "parent_id": data.parent_id,
        "committed_at": data.committed_at,
        "message": data.message,
        "labels": sorted(data.labels),
        "file_count": len(data.files),
        "manifest_key": data.manifest_key,
        "origin": origin.kind,
        "event_id": event.id,
        "causation_id": event.causationid,
        "_order": order,
    }
    if isinstance(origin, models.UploadOrigin):
        props["via"] = origin.via
        props["notification_ids"] = list(origin.notification_ids)
    else:
        props["job_id"] = origin.job_id
        props["pipeline"] = origin.pipeline
        props["pipeline_version"] = origin.pipeline_version
    return props


def _add_file(batch: RowBatch, commit: models.DataCommitted, file: models.FileVersion, order: str) -> None:
    key = model.file_key(commit.repo, file.path, file.sha256)
    props = {
        "repo": commit.repo,
        "path": file.path,
        "sha256": file.sha256,
        "size": file.size,
        "uri": model.s3_uri(commit.bucket, commit.prefix, file.path),
        "_order": order,
    }
    batch.add("file_props", {"id": key, "order": order, "props": props})

    member = {"version_id": file.version_id, "etag": file.etag, "content_type": file.content_type, "_order": order}
    batch.add("commit_members", {"source": commit.commit_id, "target": key, "order": order, "props": member}, key=(commit.commit_id, key))


def _add_job_origin(batch: RowBatch, commit_id: str, origin: models.JobOrigin) -> None:
    plan = _add_plan_ref(batch, origin.pipeline, origin.pipeline_version)
    batch.add("ref_job", {"id": origin.job_id})
    batch.add("generations", {"source": commit_id, "target": origin.job_id})
    batch.add("job_plans", {"source": origin.job_id, "target": plan})
    batch.add("derivations", {"id": origin.job_id})
    for input_commit in origin.input_commits:
        batch.add("ref_commit", {"id": input_commit})
        batch.add("usages", {"source": origin.job_id, "target": input_commit})
        batch.add("origin_derivations", {"source": commit_id, "target": input_commit})


def _data_removed(batch: RowBatch, event: CloudEvent) -> None:
    data: models.DataRemoved = event.data
    key = "|".join([data.repo, data.path, data.version_id or "", "marker" if data.delete_marker else "version", model.utc_text(data.removed_at)])
    order = event_order(data.removed_at, event.id)
    agent = _add_agent(batch, data.removed_by)
    batch.add("ref_repo", {"id": data.repo})
    props = {
        "repo": data.repo,
        "bucket": data.bucket,
        "path": data.path,
        "version_id": data.version_id,
        "delete_marker": data.delete_marker,
        "removed_at": data.removed_at,
        "via": data.via,
        "event_id": event.id,
        "_order": order,
    }
    batch.add("removal_props", {"id": key, "order": order, "props": props})
    batch.add("removal_repos", {"source": key, "target": data.repo})
    if agent:
        batch.add("removal_agents", {"source": key, "target": agent, "role": "removed_by"})


# Pipelines and decisions


def _pipeline_registered(batch: RowBatch, event: CloudEvent) -> None:
    data: models.PipelineRegistered = event.data
    order = event_order(event.time, event.id)
    plan = _add_plan_ref(batch, data.name, data.version)
    registrar = _add_agent(batch, data.registered_by)
    owner = _add_person(batch, data.owner)
    props = {
        "owner": data.owner,
        "description": data.description,
        "input_repos": list(data.input_repos),
        "output_repo": data.output_repo,
        "clearances": sorted(data.clearances),
        "executor": data.executor,
        "spec": json.dumps(data.spec, sort_keys=True, separators=(",", ":")),
        "registered_at": event.time,
        "registered_by": registrar,
        "_order": order,
    }
    batch.add("plan_props", {"id": plan, "order": order, "props": props})
    batch.add("plan_attributions", {"source": plan, "target": owner, "role": "owner"})
    batch.add("plan_attributions", {"source": plan, "target": registrar, "role": "registered"})
    state = {"status": "active", "current_version": data.version, "changed_at": event.time, "changed_by": registrar, "_order": order}
    batch.add("pipeline_state", {"id": data.name, "order": order, "props": state})


def _pipeline_removed(batch: RowBatch, event: CloudEvent) -> None:
    data: models.PipelineRemoved = event.data
    order = event_order(event.time, event.id)
    agent = _add_agent(batch, data.removed_by)
    state = {"status": "removed", "current_version": None, "changed_at": event.time, "changed_by": agent, "_order": order}
    batch.add("pipeline_state", {"id": data.name, "order": order, "props": state})


def _trigger_decision(batch: RowBatch, event: CloudEvent) -> None:
    data: models.TriggerDecision = event.data
    plan = _add_plan_ref(batch, data.pipeline, data.pipeline_version)
    requester = _add_agent(batch, data.requested_by)
    props = {
        "pipeline": data.pipeline,
        "pipeline_version": data.pipeline_version,
        "outcome": data.outcome,
        "reason": data.reason,
        "job_id": data.job_id,
        "inputs": [item.commit_id for item in data.inputs],
        "refused_labels": sorted(data.refused_labels),
        "decided_at": event.time,
        "causation_id": event.causationid,
    }
    batch.add("decision_props", {"id": event.id, "props": props}, key=event.id)
    batch.add("decision_plans", {"source": event.id, "target": plan})
    for item in data.inputs:
        batch.add("ref_repo", {"id": item.repo})
        batch.add("ref_commit", {"id": item.commit_id})
        batch.add("decision_inputs", {"source": event.id, "target": item.commit_id})
    if data.job_id:
        batch.add("ref_job", {"id": data.job_id})
        batch.add("decision_triggers", {"source": event.id, "target": data.job_id})
    if requester:
        batch.add("decision_agents", {"source": event.id, "target": requester, "role": "requested_by"})


# Jobs


def _job_scheduled(batch: RowBatch, event: CloudEvent) -> None:
    data: models.JobScheduled = event.data
    plan = _add_plan_ref(batch, data.pipeline, data.pipeline_version)
    service_account = _add_agent(batch, data.service_account)
    requester = _add_agent(batch, data.requested_by)
    batch.add("ref_job", {"id": data.job_id})

    order = job_order(data.attempt, "scheduled", event.time, event.id)
    props = {
        "pipeline": data.pipeline,
        "pipeline_version": data.pipeline_version,
        "executor": data.executor,
        "output_repo": data.output_repo,
        "service_account": service_account,
        "requested_by": requester,
        "rerun_reason": data.rerun_reason,
        "causation_id": event.causationid,
        "_schedule_order": order,
    }
    batch.add("job_schedule", {"id": data.job_id, "order": order, "props": props})
    batch.add("job_scheduled_at", {"id": data.job_id, "order": model.utc_text(event.time), "at": event.time})
    _add_status(batch, data.job_id, data.attempt, "scheduled", order)
    _add_attempt(batch, data.job_id, data.attempt)

    batch.add("job_plans", {"source": data.job_id, "target": plan})
    batch.add("associations", {"source": data.job_id, "target": service_account, "role": "service_account", "plan": plan})
    if requester:
        batch.add("associations", {"source": data.job_id, "target": requester, "role": "requested_by", "plan": plan})
    for item in data.inputs:
        batch.add("ref_repo", {"id": item.repo})
        batch.add("ref_commit", {"id": item.commit_id})
        batch.add("usages", {"source": data.job_id, "target": item.commit_id})
    batch.add("derivations", {"id": data.job_id})


def _job_started(batch: RowBatch, event: CloudEvent) -> None:
    data: models.JobStarted = event.data
    batch.add("ref_job", {"id": data.job_id})
    attempt = _add_attempt(batch, data.job_id, data.attempt)
    order = job_order(data.attempt, "started", data.started_at, event.id)
    _add_status(batch, data.job_id, data.attempt, "started", order)
    batch.add("job_started_at", {"id": data.job_id, "order": model.utc_text(data.started_at), "at": data.started_at})
    props = {"started_at": data.started_at, "runner": data.runner, "_start_order": order}
    batch.add("attempt_start", {"id": attempt, "order": order, "props": props})


def _job_finished(batch: RowBatch, event: CloudEvent) -> None:
    data: models.JobSucceeded | models.JobFailed = event.data
    succeeded = isinstance(data, models.JobSucceeded)
    phase = "succeeded" if succeeded else "failed"
    batch.add("ref_job", {"id": data.job_id})
    attempt = _add_attempt(batch, data.job_id, data.attempt)
    order = job_order(data.attempt, phase, data.finished_at, event.id)
    status = phase if succeeded or data.final else "retrying"
    _add_status(batch, data.job_id, data.attempt, status, order)

    result = {
        "outcome": phase,
        "finished_at": data.finished_at,
        "duration_s": data.duration_s,
        "exit_code": data.exit_code,
        "reason": None if succeeded else data.reason,
        "final": True if succeeded else data.final,
        "log_tail": data.log_tail or None,
        **_code_props(data.code),
        "_result_order": order,
    }
    batch.add("attempt_result", {"id": attempt, "order": order, "props": result})
    job_result = {**result, "output_commit_id": data.output_commit_id if succeeded else None}
    batch.add("job_result", {"id": data.job_id, "order": order, "props": job_result})

    if succeeded and data.output_commit_id:
        batch.add("ref_commit", {"id": data.output_commit_id})
        batch.add("generations", {"source": data.output_commit_id, "target": data.job_id})
        batch.add("derivations", {"id": data.job_id})


def _code_props(code: models.CodeIdentity | None) -> dict[str, Any]:
    if code is None:
        return {"image": None, "image_digest": None, "code_hash": None, "command": None, "args": None, "parameters": None}
    return {
        "image": code.image,
        "image_digest": code.image_digest,
        "code_hash": code.code_hash,
        "command": list(code.command),
        "args": list(code.args),
        # Neo4j properties cannot hold maps, so parameters are stored as canonical JSON.
        "parameters": json.dumps(code.parameters, sort_keys=True, separators=(",", ":")),
    }


def _add_status(batch: RowBatch, job_id: str, attempt: int, status: str, order: str) -> None:
    props = {"status": status, "attempt": attempt, "_status_order": order}
    batch.add("job_status", {"id": job_id, "order": order, "props": props})


def _add_attempt(batch: RowBatch, job_id: str, attempt: int) -> str:
    key = model.attempt_key(job_id, attempt)
    batch.add("ref_job", {"id": job_id})
    batch.add("ref_attempt", {"id": key, "job": job_id, "attempt": attempt})
    return key


def _freeze(value: Any) -> Hashable:
    """Return a hashable form of a row, so identical rows are sent once."""
    if isinstance(value, dict):
        return tuple(sorted((key, _freeze(item)) for key, item in value.items()))
    if isinstance(value, list):
        return tuple(_freeze(item) for item in value)
    return value


_HANDLERS = {
    models.RepoRegistered: _repo_registered,
    models.DataCommitted: _data_committed,
    models.DataRemoved: _data_removed,
    models.PipelineRegistered: _pipeline_registered,
    models.PipelineRemoved: _pipeline_removed,
    models.TriggerDecision: _trigger_decision,
    models.JobScheduled: _job_scheduled,
    models.JobStarted: _job_started,
    models.JobSucceeded: _job_finished,
    models.JobFailed: _job_finished,
}
