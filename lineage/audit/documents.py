"""Turn provenance results into documents: which data, how, who, when, and which upload started it."""

from __future__ import annotations

from typing import Any

from lineage.audit.rendering import Document, Table, short_id, short_time, text
from lineage.audit.tracing import Provenance


def provenance_document(result: Provenance) -> Document:
    """Return the document of a trace (upstream) or an impact (downstream) result."""
    data = result.to_dict()
    upstream = result.direction == "upstream"
    title = f"{'Trace' if upstream else 'Impact'} of {result.target['text']}"
    summary = [
        f"{len(data['commits'])} commit(s), {len(data['jobs'])} job(s), {len(data['plans'])} pipeline version(s), {len(data['agents'])} agent(s)",
        f"depth limit: {result.max_depth} job stage(s)" + ("; the limit cut the walk, raise --max-depth to see more" if result.truncated else ""),
    ]
    if result.target.get("file"):
        file = result.target["file"]
        summary.insert(0, f"file version {file['uri']} sha256 {file['sha256']} ({file['size']} bytes)")

    commits = data["commits"] if upstream else [commit for commit in data["commits"] if commit["id"] not in result.start_commits]
    tables = [
        commit_table("Data" if upstream else "Derived data", commits),
        file_table("Files", commits),
        job_table("Processing" if upstream else "Jobs that read it or its derivatives", data["jobs"]),
        trigger_table(data["jobs"], result.commits),
        plan_table(data["plans"]),
        agent_table(result),
    ]
    return Document(title, summary, tables)


def commit_table(title: str, commits: list[dict[str, Any]]) -> Table:
    """Return one row per commit: id, repo, time, origin and authors."""
    table = Table(title, ["commit", "repo", "committed", "origin", "authors", "files"])
    for commit in commits:
        table.rows.append(
            [
                short_id(commit["id"]),
                text(commit.get("repo")),
                short_time(commit.get("committed_at")),
                _origin(commit),
                text(commit.get("authors")),
                text(commit.get("file_count")),
            ]
        )
    return table


def file_table(title: str, commits: list[dict[str, Any]]) -> Table:
    """Return one row per file version of the commits, with its full sha256."""
    table = Table(title, ["commit", "uri", "sha256", "bytes"])
    for commit in commits:
        for file in commit.get("files", []):
            table.rows.append([short_id(commit["id"]), text(file.get("uri")), text(file.get("sha256")), text(file.get("size"))])
        listed = len(commit.get("files", []))
        if (commit.get("file_count") or 0) > listed:
            table.rows.append([short_id(commit["id"]), f"... {commit['file_count'] - listed} more file(s)", "-", "-"])
    return table


def job_table(title: str, jobs: list[dict[str, Any]]) -> Table:
    """Return one row per job: pipeline version, outcome, times and code identity."""
    table = Table(title, ["job", "pipeline version", "status", "exit", "started", "finished", "seconds", "code", "command", "parameters", "inputs", "outputs"])
    for job in jobs:
        table.rows.append(
            [
                job["id"],
                text(job.get("plan")),
                text(job.get("status")),
                text(job.get("exit_code")),
                short_time(job.get("started_at")),
                short_time(job.get("finished_at")),
                text(job.get("duration_s")),
                code_identity(job),
                " ".join((job.get("command") or []) + (job.get("args") or [])) or "-",
                text(job.get("parameters")),
                text([short_id(commit) for commit in job.get("input_commits", [])]),
                text([short_id(commit) for commit in job.get("output_commits", [])]),
            ]
        )
    return table


def trigger_table(jobs: list[dict[str, Any]], commits: dict[str, dict[str, Any]]) -> Table:
    """Return why each job ran: the trigger decision and the uploads its inputs came from."""
    table = Table("Triggers", ["job", "decision", "reason", "decided", "caused by uploads"])
    for job in jobs:
        decisions = job.get("decisions") or [{}]
        uploads = [_upload_text(commits.get(commit_id), commit_id) for commit_id in job.get("caused_by_uploads", [])]
        for decision in decisions:
            table.rows.append(
                [
                    job["id"],
                    text(decision.get("outcome")),
                    text(decision.get("reason")),
                    short_time(decision.get("decided_at")),
                    text(uploads),
                ]
            )
    return table


def plan_table(plans: list[dict[str, Any]]) -> Table:
    """Return one row per pipeline version: owner, registration and repos."""
    table = Table("Pipeline versions", ["pipeline version", "owners", "registered", "registered by", "executor", "inputs", "output"])
    for plan in plans:
        table.rows.append(
            [
                plan["id"],
                text(plan.get("owners")),
                short_time(plan.get("registered_at")),
                text(plan.get("registered_by")),
                text(plan.get("executor")),
                text(plan.get("input_repos")),
                text(plan.get("output_repo")),
            ]
        )
    return table


def agent_table(result: Provenance) -> Table:
    """Return every agent with what it did in the subgraph and whom it acted for."""
    table = Table("Agents", ["agent", "kind", "acting for", "roles"])
    roles = agent_roles(result)
    for agent_id in sorted(result.agents):
        agent = result.agents[agent_id]
        table.rows.append([agent_id, text(agent.get("kind")), text(agent.get("acting_for")), text(sorted(roles.get(agent_id, [])))])
    return table


def agent_roles(result: Provenance) -> dict[str, set[str]]:
    """Return, per agent id, the roles it had: author of a commit, service account of a job, owner of a plan."""
    roles: dict[str, set[str]] = {}
    for commit in result.commits.values():
        for author in commit.get("authors", []):
            roles.setdefault(author, set()).add(f"author of {commit.get('repo')}@{short_id(commit['id'])}")
    for job in result.jobs.values():
        for agent in job.get("agents", []):
            roles.setdefault(agent["id"], set()).add(f"{agent['role'].replace('_', ' ')} of {job['id']}")
    for plan in result.plans.values():
        for owner in plan.get("owners", []):
            roles.setdefault(owner, set()).add(f"owner of {plan['id']}")
    for agent in result.agents.values():
        for person in agent.get("acting_for", []):
            roles.setdefault(person, set()).add(f"delegated to {agent['id']}")
    return roles


def code_identity(job: dict[str, Any]) -> str:
    """Return the code that ran: image and digest, or the code hash of a local run."""
    parts = [job.get("image"), job.get("image_digest"), f"code {job['code_hash']}" if job.get("code_hash") else None]
    return text([part for part in parts if part])


def _origin(commit: dict[str, Any]) -> str:
    if commit.get("origin") == "upload":
        return f"upload via {commit.get('via') or '?'}"
    if commit.get("origin") == "job":
        return f"job {commit.get('job_id')}"
    return "not recorded yet"


def _upload_text(commit: dict[str, Any] | None, commit_id: str) -> str:
    if commit is None:
        return short_id(commit_id)
    authors = ", ".join(commit.get("authors", [])) or "?"
    return f"{commit.get('repo')}@{short_id(commit_id)} by {authors} at {short_time(commit.get('committed_at'))}"
