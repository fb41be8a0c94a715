"""`job ID`: the full record of one job, with its trigger decision, inputs, outputs, agents and attempts."""

from __future__ import annotations

from typing import Any

from neo4j import ManagedTransaction

from custody.graphdb import Neo4jConnector
from lineage.audit import details
from lineage.audit.documents import agent_table, code_identity, file_table, plan_table, trigger_table
from lineage.audit.rendering import Document, Table, short_time, text
from lineage.audit.tracing import Provenance, fill_details, walk
from lineage.exceptions import TargetNotFound
from lineage.reading import read, records


def job_record(connector: Neo4jConnector, namespace: str, job_id: str, *, max_depth: int) -> Provenance:
    """Return the job, its input and output commits, plan, agents and the uploads it traces back to."""
    return read(connector, _job_record, namespace, job_id, max_depth)


def _job_record(tx: ManagedTransaction, namespace: str, job_id: str, max_depth: int) -> Provenance:
    found = details.jobs(tx, namespace, [job_id])
    if not found:
        raise TargetNotFound(f"no job {job_id!r} in the lineage graph (namespace {namespace!r}); check the id with `custody audit report`")
    job = found[job_id]

    # The uploads behind the job lie anywhere upstream, so they come from a bounded walk.
    upstream_commits, _ = walk(tx, namespace, commit_ids=[], job_ids=[job_id], direction="upstream", hops=2 * max_depth - 1)
    uploads = [
        row["id"]
        for row in records(
            tx,
            "UNWIND $ids AS id MATCH (c:Commit {ns: $ns, id: id}) WHERE c.origin = 'upload' RETURN c.id AS id",
            ns=namespace,
            ids=upstream_commits,
        )
    ]

    result = Provenance("upstream", {"kind": "job", "text": f"job:{job_id}", "jobs": [job_id]}, max_depth, start_jobs=[job_id])
    commit_ids = sorted(set(job["input_commits"]) | set(job["output_commits"]) | set(uploads))
    fill_details(tx, namespace, result, commit_ids, [job_id])
    result.jobs[job_id]["caused_by_uploads"] = sorted(uploads, key=lambda commit_id: result.commits[commit_id].get("committed_at") or "")
    return result


def job_document(result: Provenance) -> Document:
    """Return the document of one job record."""
    job_id = result.start_jobs[0]
    job = result.jobs[job_id]
    inputs = [result.commits[commit_id] for commit_id in job["input_commits"] if commit_id in result.commits]
    outputs = [result.commits[commit_id] for commit_id in job["output_commits"] if commit_id in result.commits]

    summary = [
        f"pipeline version {text(job.get('plan'))}, status {text(job.get('status'))}, exit code {text(job.get('exit_code'))}",
        f"{len(inputs)} input commit(s), {len(outputs)} output commit(s)",
    ]
    tables = [
        _fields_table(job),
        trigger_table([job], result.commits),
        _attempts_table(job),
        file_table("Inputs", inputs),
        file_table("Outputs", outputs),
        plan_table(list(result.plans.values())),
        agent_table(result),
    ]
    return Document(f"Job {job_id}", summary, tables)


def _fields_table(job: dict[str, Any]) -> Table:
    fields = [
        ("job", job["id"]),
        ("pipeline version", text(job.get("plan"))),
        ("status", text(job.get("status"))),
        ("executor", text(job.get("executor"))),
        ("output repo", text(job.get("output_repo"))),
        ("scheduled", short_time(job.get("scheduled_at"))),
        ("started", short_time(job.get("started_at"))),
        ("finished", short_time(job.get("finished_at"))),
        ("duration (s)", text(job.get("duration_s"))),
        ("exit code", text(job.get("exit_code"))),
        ("failure reason", text(job.get("reason"))),
        ("code", code_identity(job)),
        ("command", " ".join((job.get("command") or []) + (job.get("args") or [])) or "-"),
        ("parameters", text(job.get("parameters"))),
        ("requested by", text(job.get("requested_by"))),
        ("re-run reason", text(job.get("rerun_reason"))),
        ("caused by event", text(job.get("causation_id"))),
    ]
    return Table("Job", ["field", "value"], [[name, value] for name, value in fields])


def _attempts_table(job: dict[str, Any]) -> Table:
    table = Table("Attempts", ["attempt", "runner", "started", "finished", "outcome", "exit", "reason"])
    for attempt in job.get("attempts", []):
        table.rows.append(
            [
                text(attempt.get("attempt")),
                text(attempt.get("runner")),
                short_time(attempt.get("started_at")),
                short_time(attempt.get("finished_at")),
                text(attempt.get("outcome")),
                text(attempt.get("exit_code")),
                text(attempt.get("reason")),
            ]
        )
    return table
