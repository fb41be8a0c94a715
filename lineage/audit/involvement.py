"""`who`: every agent that wrote a repo or path, read it through a job, processed it, or removed it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from neo4j import ManagedTransaction

from custody.graphdb import Neo4jConnector
from lineage.audit import details
from lineage.audit.rendering import Document, Table, short_id, short_time, text
from lineage.exceptions import TargetNotFound
from lineage.reading import read, records

_REPO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

# Commits examined per query. NOTE: a repo with more commits is cut to the most
# recent ones and the result is marked truncated; paging would lift the limit.
MAX_COMMITS = 10_000

_COMMITS_OF_REPO = """
MATCH (c:Commit) WHERE c.ns = $ns AND c.repo = $repo AND c.committed_at IS NOT NULL
RETURN c.id AS id ORDER BY c.committed_at DESC LIMIT $limit
"""

_COMMITS_OF_PATH = """
MATCH (f:File) WHERE f.ns = $ns AND f.repo = $repo AND (f.path = $path OR ($prefix AND f.path STARTS WITH $path))
MATCH (c:Commit)-[:HAD_MEMBER]->(f)
WITH DISTINCT c ORDER BY c.committed_at DESC LIMIT $limit
RETURN c.id AS id
"""

_INVOLVEMENT = """
UNWIND $ids AS commit_id
MATCH (c:Commit {ns: $ns, id: commit_id})
CALL (c) {
  MATCH (c)-[w:WAS_ATTRIBUTED_TO]->(a:Agent)
  RETURN a.id AS agent, 'wrote' AS action, w.role AS role, null AS job, c.committed_at AS at
  UNION
  MATCH (c)-[:WAS_GENERATED_BY]->(j:Job)-[w:WAS_ASSOCIATED_WITH]->(a:Agent)
  RETURN a.id AS agent, 'wrote' AS action, w.role AS role, j.id AS job, coalesce(j.finished_at, j.started_at, j.scheduled_at) AS at
  UNION
  MATCH (c)<-[:USED]-(j:Job)-[w:WAS_ASSOCIATED_WITH]->(a:Agent)
  RETURN a.id AS agent, 'read' AS action, w.role AS role, j.id AS job, coalesce(j.started_at, j.scheduled_at) AS at
  UNION
  MATCH (c)<-[:USED]-(j:Job)-[:HAD_PLAN]->(:PipelineVersion)-[:WAS_ATTRIBUTED_TO {role: 'owner'}]->(a:Agent)
  RETURN a.id AS agent, 'processed' AS action, 'pipeline owner' AS role, j.id AS job, coalesce(j.started_at, j.scheduled_at) AS at
  UNION
  MATCH (c)-[:WAS_GENERATED_BY]->(j:Job)-[:HAD_PLAN]->(:PipelineVersion)-[:WAS_ATTRIBUTED_TO {role: 'owner'}]->(a:Agent)
  RETURN a.id AS agent, 'processed' AS action, 'pipeline owner' AS role, j.id AS job, coalesce(j.finished_at, j.started_at) AS at
}
RETURN agent, action, role, job, at, c.id AS commit, c.repo AS repo
"""

# The path condition is chosen in Python, because an OR of parameters hides the index from the planner.
_REMOVAL_PATHS = {"repo": "r.path IS NOT NULL", "file": "r.path = $path", "folder": "r.path STARTS WITH $path"}
_REMOVALS = """
MATCH (r:Removal) WHERE r.ns = $ns AND r.repo = $repo AND {path_condition}
OPTIONAL MATCH (r)-[w:WAS_ASSOCIATED_WITH]->(a:Agent)
RETURN a.id AS agent, 'removed' AS action, coalesce(w.role, 'removed_by') AS role, r.path AS path, r.removed_at AS at, r.via AS via
"""

_REGISTRATION = """
MATCH (r:Repo {ns: $ns, id: $repo})-[:WAS_ATTRIBUTED_TO {role: 'registered'}]->(a:Agent)
RETURN a.id AS agent, r.registered_at AS at
"""


@dataclass
class Involvement:
    """Agents that touched a repo or path: one row per agent, action and commit or job."""

    repo: str
    path: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    agents: dict[str, dict[str, Any]] = field(default_factory=dict)
    truncated: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready form."""
        return {"repo": self.repo, "path": self.path, "truncated": self.truncated, "rows": self.rows, "agents": sorted(self.agents.values(), key=lambda agent: agent["id"])}


def parse_scope(text_value: str) -> tuple[str, str]:
    """Split `REPO[/PATH]` into the repo name and the path (empty for the whole repo)."""
    repo, _, path = text_value.strip().partition("/")
    if not _REPO_NAME.match(repo):
        raise TargetNotFound(f"invalid repo name {repo!r}; write REPO or REPO/PATH, for example raw/incoming/patients.csv")
    return repo, path


def who(connector: Neo4jConnector, namespace: str, scope: str) -> Involvement:
    """Return every agent that wrote, read, processed or removed the data of `REPO[/PATH]`."""
    repo, path = parse_scope(scope)
    return read(connector, _involvement, namespace, repo, path)


def _involvement(tx: ManagedTransaction, namespace: str, repo: str, path: str) -> Involvement:
    prefix = path.endswith("/")
    if path:
        commit_rows = records(tx, _COMMITS_OF_PATH, ns=namespace, repo=repo, path=path, prefix=prefix, limit=MAX_COMMITS)
    else:
        commit_rows = records(tx, _COMMITS_OF_REPO, ns=namespace, repo=repo, limit=MAX_COMMITS)
    commit_ids = [row["id"] for row in commit_rows]

    result = Involvement(repo, path, truncated=len(commit_ids) >= MAX_COMMITS)
    for row in records(tx, _INVOLVEMENT, ns=namespace, ids=commit_ids):
        via = f"job {row['job']}" if row["job"] else f"commit {row['repo']}@{short_id(row['commit'])}"
        target = f"{row['repo']}@{short_id(row['commit'])}"
        result.rows.append(_row(row["agent"], row["action"], row["role"], via=via, data=target, at=row["at"]))
    if prefix:
        path_kind = "folder"
    elif path:
        path_kind = "file"
    else:
        path_kind = "repo"
    removals = _REMOVALS.format(path_condition=_REMOVAL_PATHS[path_kind])
    for row in records(tx, removals, ns=namespace, repo=repo, path=path):
        result.rows.append(_row(row["agent"] or "(unknown)", "removed", row["role"], via=f"removal via {row['via']}", data=f"{repo}/{row['path']}", at=row["at"]))
    for row in records(tx, _REGISTRATION, ns=namespace, repo=repo):
        result.rows.append(_row(row["agent"], "registered the repo", "registered", via="repo registration", data=repo, at=row["at"]))

    if not result.rows and not commit_ids:
        raise TargetNotFound(f"nothing recorded for {repo}{'/' + path if path else ''} in the lineage graph (namespace {namespace!r})")

    result.rows = _deduplicated(result.rows)
    agent_ids = sorted({row["agent"] for row in result.rows if row["agent"] != "(unknown)"})
    result.agents = details.agents(tx, namespace, agent_ids)
    for row in result.rows:
        row["acting_for"] = result.agents.get(row["agent"], {}).get("acting_for", [])
    return result


def involvement_document(result: Involvement) -> Document:
    """Return the `who` document: one row per agent and action, in time order."""
    scope = result.repo + (f"/{result.path}" if result.path else "")
    summary = [f"{len(result.agents)} agent(s), {len(result.rows)} action(s)"]
    if result.truncated:
        summary.append(f"only the {MAX_COMMITS} most recent commits were examined")
    table = Table("Agents", ["agent", "action", "role", "acting for", "data", "via", "at"])
    for row in result.rows:
        table.rows.append([row["agent"], row["action"], row["role"].replace("_", " "), text(row["acting_for"]), row["data"], row["via"], short_time(row["at"])])
    return Document(f"Who wrote, read or processed {scope}", summary, [table])


def _row(agent: str, action: str, role: str, *, via: str, data: str, at: Any) -> dict[str, Any]:
    from lineage.values import plain

    return {"agent": agent, "action": action, "role": role or "-", "via": via, "data": data, "at": plain(at)}


def _deduplicated(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    unique = {tuple(sorted((key, str(value)) for key, value in row.items())): row for row in rows}
    return sorted(unique.values(), key=lambda row: (row["at"] or "", row["agent"], row["action"], row["via"]))
