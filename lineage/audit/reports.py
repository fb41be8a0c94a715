"""`report`: a compliance report of every job in a time window, with inputs, outputs, agents and outcome.

A job belongs to the window when it was scheduled, started or finished in it
(`since` included, `until` excluded). The three times are indexed, so the
query reads only the jobs of the window.
"""

from __future__ import annotations

import html
from collections import Counter
from datetime import datetime, timezone
from typing import Any

from neo4j import ManagedTransaction

from custody.graphdb import Neo4jConnector
from lineage.audit import details
from lineage.audit.documents import code_identity
from lineage.audit.rendering import render_json, short_id, short_time, text
from lineage.exceptions import QueryRejected
from lineage.reading import read, records

_JOBS_IN_WINDOW = """
CALL () {
  MATCH (j:Job) WHERE j.ns = $ns AND j.scheduled_at >= $since AND j.scheduled_at < $until RETURN j
  UNION
  MATCH (j:Job) WHERE j.ns = $ns AND j.started_at >= $since AND j.started_at < $until RETURN j
  UNION
  MATCH (j:Job) WHERE j.ns = $ns AND j.finished_at >= $since AND j.finished_at < $until RETURN j
}
WITH j
WHERE $repo IS NULL OR j.output_repo = $repo
   OR EXISTS { (j)-[:USED]->(c:Commit) WHERE c.repo = $repo }
   OR EXISTS { (c:Commit)-[:WAS_GENERATED_BY]->(j) WHERE c.repo = $repo }
RETURN j.id AS id
ORDER BY coalesce(j.scheduled_at, j.started_at, j.finished_at), j.id
"""


def parse_time(value: str, option: str) -> datetime:
    """Parse an ISO 8601 date or time; a value without a zone is taken as UTC."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise QueryRejected(f"invalid {option} {value!r}; write an ISO 8601 date or time, e.g. 2026-03-01 or 2026-03-01T09:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def build_report(connector: Neo4jConnector, namespace: str, *, since: datetime, until: datetime, repo: str | None) -> dict[str, Any]:
    """Return the report as a JSON-ready dictionary."""
    if until <= since:
        raise QueryRejected(f"--until {until.isoformat()} is not after --since {since.isoformat()}")
    report = read(connector, _report, namespace, since, until, repo)
    report["generated_at"] = datetime.now(timezone.utc).isoformat()
    return report


def _report(tx: ManagedTransaction, namespace: str, since: datetime, until: datetime, repo: str | None) -> dict[str, Any]:
    job_ids = [row["id"] for row in records(tx, _JOBS_IN_WINDOW, ns=namespace, since=since, until=until, repo=repo)]
    jobs = details.jobs(tx, namespace, job_ids)
    commit_ids = sorted({commit for job in jobs.values() for commit in job["input_commits"] + job["output_commits"]})
    commits = details.commits(tx, namespace, commit_ids)
    plans = details.plans(tx, namespace, sorted({job["plan"] for job in jobs.values() if job.get("plan")}))
    agent_ids = sorted({agent["id"] for job in jobs.values() for agent in job["agents"]} | {author for commit in commits.values() for author in commit["authors"]})
    agents = details.agents(tx, namespace, agent_ids)

    entries = [_entry(jobs[job_id], commits, plans, agents) for job_id in job_ids if job_id in jobs]
    statuses = Counter(entry["status"] or "unknown" for entry in entries)
    return {
        "title": "Custody compliance report",
        "namespace": namespace,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "repo": repo,
        "summary": {
            "jobs": len(entries),
            "by_status": dict(sorted(statuses.items())),
            "repos_read": sorted({item["repo"] for entry in entries for item in entry["inputs"] if item["repo"]}),
            "repos_written": sorted({item["repo"] for entry in entries for item in entry["outputs"] if item["repo"]}),
            "agents": sorted({agent["id"] for entry in entries for agent in entry["agents"]}),
        },
        "jobs": entries,
    }


def _entry(job: dict[str, Any], commits: dict, plans: dict, agents: dict) -> dict[str, Any]:
    plan = plans.get(job.get("plan") or "", {})
    decision = job["decisions"][-1] if job["decisions"] else {}
    return {
        "job_id": job["id"],
        "pipeline_version": job.get("plan"),
        "pipeline_owners": plan.get("owners", []),
        "status": job.get("status"),
        "exit_code": job.get("exit_code"),
        "reason": job.get("reason"),
        "scheduled_at": job.get("scheduled_at"),
        "started_at": job.get("started_at"),
        "finished_at": job.get("finished_at"),
        "duration_s": job.get("duration_s"),
        "code": {key: job.get(key) for key in ("image", "image_digest", "code_hash", "command", "args", "parameters")},
        "decision": {key: decision.get(key) for key in ("outcome", "reason", "decided_at", "causation_id")},
        "agents": [
            {"id": agent["id"], "role": agent["role"], "acting_for": agents.get(agent["id"], {}).get("acting_for", [])}
            for agent in job["agents"]
        ],
        "inputs": [_commit_entry(commits.get(commit_id), commit_id) for commit_id in job["input_commits"]],
        "outputs": [_commit_entry(commits.get(commit_id), commit_id) for commit_id in job["output_commits"]],
    }


def _commit_entry(commit: dict[str, Any] | None, commit_id: str) -> dict[str, Any]:
    commit = commit or {}
    return {
        "commit_id": commit_id,
        "repo": commit.get("repo"),
        "committed_at": commit.get("committed_at"),
        "authors": commit.get("authors", []),
        "files": [{"uri": file.get("uri"), "sha256": file.get("sha256"), "size": file.get("size")} for file in commit.get("files", [])],
    }


# Renderers


def report_json(report: dict[str, Any]) -> str:
    """Return the report as JSON."""
    return render_json(report)


def report_markdown(report: dict[str, Any]) -> str:
    """Return the report as Markdown: a summary, then one section per job."""
    lines = [f"# {report['title']}", ""]
    lines += [f"- {label}: {value}" for label, value in _summary_lines(report)]
    for entry in report["jobs"]:
        lines += ["", f"## Job {entry['job_id']}", ""]
        lines += [f"- {label}: {_escape_md(value)}" for label, value in _job_lines(entry)]
        for title, items in (("Inputs", entry["inputs"]), ("Outputs", entry["outputs"])):
            lines += ["", f"### {title}", ""]
            if not items:
                lines.append("(none)")
                continue
            lines += ["| commit | repo | committed | authors | file | sha256 |", "| --- | --- | --- | --- | --- | --- |"]
            for item in items:
                for file in item["files"] or [{}]:
                    cells = [short_id(item["commit_id"]), text(item["repo"]), short_time(item["committed_at"]), text(item["authors"]), text(file.get("uri")), text(file.get("sha256"))]
                    lines.append("| " + " | ".join(_escape_md(cell).replace("|", "\\|").replace("\n", ", ") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def report_html(report: dict[str, Any]) -> str:
    """Return the report as a standalone HTML page; every value is escaped."""
    escape = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(report['title'])}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:.5em 0}"
        "td,th{border:1px solid #999;padding:.2em .5em;text-align:left;vertical-align:top}code{font-size:.9em}</style>",
        "</head><body>",
        f"<h1>{escape(report['title'])}</h1>",
        "<ul>" + "".join(f"<li>{escape(label)}: {escape(str(value))}</li>" for label, value in _summary_lines(report)) + "</ul>",
    ]
    for entry in report["jobs"]:
        parts.append(f"<h2>Job <code>{escape(entry['job_id'])}</code></h2>")
        parts.append("<table>" + "".join(f"<tr><th>{escape(label)}</th><td>{escape(str(value))}</td></tr>" for label, value in _job_lines(entry)) + "</table>")
        for title, items in (("Inputs", entry["inputs"]), ("Outputs", entry["outputs"])):
            parts.append(f"<h3>{title}</h3>")
            rows = []
            for item in items:
                for file in item["files"] or [{}]:
                    cells = [short_id(item["commit_id"]), text(item["repo"]), short_time(item["committed_at"]), text(item["authors"]), text(file.get("uri")), text(file.get("sha256"))]
                    rows.append("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in cells) + "</tr>")
            header = "<tr>" + "".join(f"<th>{name}</th>" for name in ("commit", "repo", "committed", "authors", "file", "sha256")) + "</tr>"
            parts.append(f"<table>{header}{''.join(rows)}</table>" if rows else "<p>(none)</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _summary_lines(report: dict[str, Any]) -> list[tuple[str, str]]:
    summary = report["summary"]
    return [
        ("window", f"{report['since']} to {report['until']} (until excluded)"),
        ("repo", report["repo"] or "all"),
        ("namespace", repr(report["namespace"])),
        ("generated", report.get("generated_at", "-")),
        ("jobs", str(summary["jobs"])),
        ("by status", ", ".join(f"{status} {count}" for status, count in summary["by_status"].items()) or "-"),
        ("repos read", ", ".join(summary["repos_read"]) or "-"),
        ("repos written", ", ".join(summary["repos_written"]) or "-"),
        ("agents", ", ".join(summary["agents"]) or "-"),
    ]


def _job_lines(entry: dict[str, Any]) -> list[tuple[str, str]]:
    agents = [f"{agent['id']} ({agent['role'].replace('_', ' ')}{', for ' + ', '.join(agent['acting_for']) if agent['acting_for'] else ''})" for agent in entry["agents"]]
    decision = entry["decision"]
    return [
        ("pipeline version", text(entry["pipeline_version"])),
        ("pipeline owners", ", ".join(entry["pipeline_owners"]) or "-"),
        ("status", f"{text(entry['status'])} (exit code {text(entry['exit_code'])})"),
        ("failure reason", text(entry["reason"])),
        ("scheduled / started / finished", f"{short_time(entry['scheduled_at'])} / {short_time(entry['started_at'])} / {short_time(entry['finished_at'])}"),
        ("duration (s)", text(entry["duration_s"])),
        ("code", code_identity(entry["code"]).replace("\n", ", ")),
        ("command", " ".join((entry["code"].get("command") or []) + (entry["code"].get("args") or [])) or "-"),
        ("parameters", text(entry["code"].get("parameters"))),
        ("trigger", f"{text(decision.get('outcome'))}: {text(decision.get('reason'))} at {short_time(decision.get('decided_at'))}"),
        ("agents", "; ".join(agents) or "-"),
    ]


def _escape_md(value: str) -> str:
    return value.replace("<", "&lt;").replace(">", "&gt;")
