"""Fetch the details of commits, jobs, plans and agents by key, one query per kind.

Each query starts with `UNWIND $ids` and a lookup on the `(ns, id)` key index,
and gathers related nodes with COLLECT subqueries, so the cost grows with the
number of nodes asked for, never with the size of the graph.
"""

from __future__ import annotations

import json
from typing import Any

from neo4j import ManagedTransaction

from lineage.reading import public_props, records
from lineage.values import plain

# Files listed per commit; `file_count` gives the total of a commit with more.
FILES_PER_COMMIT = 500

_COMMITS = f"""
UNWIND $ids AS id
MATCH (c:Commit {{ns: $ns, id: id}})
RETURN c {{
  .*,
  authors: COLLECT {{ MATCH (c)-[:WAS_ATTRIBUTED_TO]->(a:Agent) RETURN a.id ORDER BY a.id }},
  files: COLLECT {{
    MATCH (c)-[m:HAD_MEMBER]->(f:File)
    RETURN f {{.path, .sha256, .size, .uri, version_id: m.version_id}} ORDER BY f.path LIMIT {FILES_PER_COMMIT}
  }},
  generated_by: COLLECT {{ MATCH (c)-[:WAS_GENERATED_BY]->(j:Job) RETURN j.id ORDER BY j.id }},
  used_by: COLLECT {{ MATCH (c)<-[:USED]-(j:Job) RETURN j.id ORDER BY j.id }},
  derived_from: COLLECT {{ MATCH (c)-[:WAS_DERIVED_FROM]->(d:Commit) RETURN d.id ORDER BY d.id }}
}} AS commit
"""

_JOBS = """
UNWIND $ids AS id
MATCH (j:Job {ns: $ns, id: id})
RETURN j {
  .*,
  plan: COLLECT { MATCH (j)-[:HAD_PLAN]->(v:PipelineVersion) RETURN v.id ORDER BY v.id },
  agents: COLLECT {
    MATCH (j)-[w:WAS_ASSOCIATED_WITH]->(a:Agent) RETURN {id: a.id, role: w.role} AS agent ORDER BY agent.role, agent.id
  },
  input_commits: COLLECT { MATCH (j)-[:USED]->(c:Commit) RETURN c.id ORDER BY c.id },
  output_commits: COLLECT { MATCH (c:Commit)-[:WAS_GENERATED_BY]->(j) RETURN c.id ORDER BY c.id },
  decisions: COLLECT {
    MATCH (d:Decision)-[:TRIGGERED]->(j)
    RETURN d {.*, requested_by: COLLECT { MATCH (d)-[:WAS_ASSOCIATED_WITH]->(a:Agent) RETURN a.id }} AS decision
    ORDER BY decision.decided_at, decision.id
  },
  attempts: COLLECT { MATCH (j)-[:HAD_ATTEMPT]->(t:Attempt) RETURN t {.*} AS attempt ORDER BY attempt.attempt }
} AS job
"""

_PLANS = """
UNWIND $ids AS id
MATCH (v:PipelineVersion {ns: $ns, id: id})
RETURN v {
  .*,
  owners: COLLECT { MATCH (v)-[:WAS_ATTRIBUTED_TO {role: 'owner'}]->(a:Agent) RETURN a.id ORDER BY a.id },
  pipeline_status: COLLECT { MATCH (v)-[:VERSION_OF]->(p:Pipeline) RETURN p.status }
} AS plan
"""

_AGENTS = """
UNWIND $ids AS id
MATCH (a:Agent {ns: $ns, id: id})
RETURN a {.*, acting_for: COLLECT { MATCH (a)-[:ACTED_ON_BEHALF_OF]->(p:Agent) RETURN p.id ORDER BY p.id }} AS agent
"""


def commits(tx: ManagedTransaction, namespace: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Return commit details by id: properties, authors, files, generating and using jobs."""
    rows = records(tx, _COMMITS, ns=namespace, ids=ids)
    return {row["commit"]["id"]: _clean(row["commit"]) for row in rows}


def jobs(tx: ManagedTransaction, namespace: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Return job details by id: properties, plan, agents, inputs, outputs, decisions and attempts."""
    result = {}
    for row in records(tx, _JOBS, ns=namespace, ids=ids):
        job = _clean(row["job"])
        job["plan"] = job["plan"][0] if job["plan"] else None
        job["decisions"] = [_clean(decision) for decision in job["decisions"]]
        job["attempts"] = [_clean(attempt) for attempt in job["attempts"]]
        job["parameters"] = _json_or_none(job.get("parameters"))
        for attempt in job["attempts"]:
            attempt["parameters"] = _json_or_none(attempt.get("parameters"))
        result[job["id"]] = job
    return result


def plans(tx: ManagedTransaction, namespace: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Return pipeline versions by id, with owners and the spec parsed back from JSON."""
    result = {}
    for row in records(tx, _PLANS, ns=namespace, ids=ids):
        plan = _clean(row["plan"])
        plan["spec"] = _json_or_none(plan.get("spec"))
        plan["pipeline_status"] = plan["pipeline_status"][0] if plan["pipeline_status"] else None
        result[plan["id"]] = plan
    return result


def agents(tx: ManagedTransaction, namespace: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Return agents by id, with the people a service account acted for."""
    return {row["agent"]["id"]: _clean(row["agent"]) for row in records(tx, _AGENTS, ns=namespace, ids=ids)}


def _clean(props: dict[str, Any]) -> dict[str, Any]:
    return plain(public_props(props))


def _json_or_none(text: str | None) -> Any:
    return None if text is None else json.loads(text)
