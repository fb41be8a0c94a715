"""The Cypher write statements of the lineage graph, each an idempotent `UNWIND $rows` MERGE.

Events arrive out of order and more than once, so no statement depends on what
was written before it, and every property follows one of three rules:

- `same`: the value follows from the node's key, so every event writes the same value;
- `min`: the event with the smallest `order` wins (first commit time, first start);
- `max`: the event with the largest `order` wins (latest status, latest registration).

An `order` is a string whose comparison is the intended order, e.g.
`<attempt>|<phase>|<UTC time>|<event id>` for job states, so ties between two
events are broken by their ids and the outcome never depends on arrival order.
The rows of one statement are reduced by the same rule before they are sent,
and each statement applies the rule again against what the graph has.

Statements run in the order of `STATEMENTS` inside one transaction. Nodes that an
event only refers to (a job's input commit, a commit's job) are created by the
`ref_*` statements first, so the property and relationship statements can MATCH
them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Combine = Literal["same", "min", "max"]


@dataclass(frozen=True)
class Statement:
    """One write statement: its name, Cypher text and the rule that reduces two rows with the same key."""

    name: str
    cypher: str
    combine: Combine = "same"


def _first_wins(variable: str, order_property: str) -> str:
    return (
        f"SET {variable} += CASE WHEN {variable}.{order_property} IS NULL OR row.order < {variable}.{order_property} "
        "THEN row.props ELSE {} END"
    )


def _last_wins(variable: str, order_property: str) -> str:
    return (
        f"SET {variable} += CASE WHEN {variable}.{order_property} IS NULL OR row.order > {variable}.{order_property} "
        "THEN row.props ELSE {} END"
    )


def _edge(name: str, source: str, relationship: str, target: str, *, role: bool = False) -> Statement:
    """Return a statement that MERGEs one relationship between two existing nodes per row."""
    pattern = f"[:{relationship} {{role: row.role}}]" if role else f"[:{relationship}]"
    cypher = (
        "UNWIND $rows AS row "
        f"MATCH (a:{source} {{ns: $ns, id: row.source}}) "
        f"MATCH (b:{target} {{ns: $ns, id: row.target}}) "
        f"MERGE (a)-{pattern}->(b)"
    )
    return Statement(name, cypher)


AGENTS = Statement(
    "agents",
    """
    UNWIND $rows AS row
    MERGE (a:Agent {ns: $ns, id: row.id})
    SET a.kind = row.kind, a.name = row.name
    FOREACH (_ IN CASE WHEN row.kind = 'person' THEN [1] ELSE [] END | SET a:Person)
    FOREACH (_ IN CASE WHEN row.kind = 'service_account' THEN [1] ELSE [] END | SET a:ServiceAccount)
    """,
)

DELEGATIONS = _edge("delegations", "Agent", "ACTED_ON_BEHALF_OF", "Agent")

REF_REPO = Statement(
    "ref_repo",
    "UNWIND $rows AS row MERGE (r:Repo {ns: $ns, id: row.id}) ON CREATE SET r.name = row.id",
)

REF_COMMIT = Statement(
    "ref_commit",
    "UNWIND $rows AS row MERGE (c:Commit {ns: $ns, id: row.id}) ON CREATE SET c:Entity",
)

REF_JOB = Statement(
    "ref_job",
    "UNWIND $rows AS row MERGE (j:Job {ns: $ns, id: row.id}) ON CREATE SET j:Activity",
)

REF_PLAN = Statement(
    "ref_plan",
    """
    UNWIND $rows AS row
    MERGE (v:PipelineVersion {ns: $ns, id: row.id})
      ON CREATE SET v:Plan:Entity, v.name = row.name, v.version = row.version
    MERGE (p:Pipeline {ns: $ns, id: row.name})
      ON CREATE SET p.name = row.name
    MERGE (v)-[:VERSION_OF]->(p)
    """,
)

REF_ATTEMPT = Statement(
    "ref_attempt",
    """
    UNWIND $rows AS row
    MATCH (j:Job {ns: $ns, id: row.job})
    MERGE (t:Attempt {ns: $ns, id: row.id})
      ON CREATE SET t.job_id = row.job, t.attempt = row.attempt
    MERGE (j)-[:HAD_ATTEMPT]->(t)
    """,
)

REPO_PROPS = Statement(
    "repo_props",
    f"UNWIND $rows AS row MATCH (r:Repo {{ns: $ns, id: row.id}}) {_last_wins('r', '_order')}",
    "max",
)

COMMIT_PROPS = Statement(
    "commit_props",
    f"UNWIND $rows AS row MATCH (c:Commit {{ns: $ns, id: row.id}}) {_first_wins('c', '_order')}",
    "min",
)

FILE_PROPS = Statement(
    "file_props",
    f"UNWIND $rows AS row MERGE (f:File {{ns: $ns, id: row.id}}) ON CREATE SET f:Entity {_first_wins('f', '_order')}",
    "min",
)

COMMIT_MEMBERS = Statement(
    "commit_members",
    f"""
    UNWIND $rows AS row
    MATCH (c:Commit {{ns: $ns, id: row.source}})
    MATCH (f:File {{ns: $ns, id: row.target}})
    MERGE (c)-[m:HAD_MEMBER]->(f)
    {_first_wins('m', '_order')}
    """,
    "min",
)

PLAN_PROPS = Statement(
    "plan_props",
    f"UNWIND $rows AS row MATCH (v:PipelineVersion {{ns: $ns, id: row.id}}) {_first_wins('v', '_order')}",
    "min",
)

PIPELINE_STATE = Statement(
    "pipeline_state",
    f"UNWIND $rows AS row MERGE (p:Pipeline {{ns: $ns, id: row.id}}) ON CREATE SET p.name = row.id {_last_wins('p', '_order')}",
    "max",
)

JOB_SCHEDULE = Statement(
    "job_schedule",
    f"UNWIND $rows AS row MATCH (j:Job {{ns: $ns, id: row.id}}) {_last_wins('j', '_schedule_order')}",
    "max",
)

# The first time a job was scheduled and first started are kept, whatever the attempt.
JOB_SCHEDULED_AT = Statement(
    "job_scheduled_at",
    "UNWIND $rows AS row MATCH (j:Job {ns: $ns, id: row.id}) "
    "SET j.scheduled_at = CASE WHEN j.scheduled_at IS NULL OR row.at < j.scheduled_at THEN row.at ELSE j.scheduled_at END",
    "min",
)

JOB_STARTED_AT = Statement(
    "job_started_at",
    "UNWIND $rows AS row MATCH (j:Job {ns: $ns, id: row.id}) "
    "SET j.started_at = CASE WHEN j.started_at IS NULL OR row.at < j.started_at THEN row.at ELSE j.started_at END",
    "min",
)

JOB_STATUS = Statement(
    "job_status",
    f"UNWIND $rows AS row MATCH (j:Job {{ns: $ns, id: row.id}}) {_last_wins('j', '_status_order')}",
    "max",
)

JOB_RESULT = Statement(
    "job_result",
    f"UNWIND $rows AS row MATCH (j:Job {{ns: $ns, id: row.id}}) {_last_wins('j', '_result_order')}",
    "max",
)

ATTEMPT_START = Statement(
    "attempt_start",
    f"UNWIND $rows AS row MATCH (t:Attempt {{ns: $ns, id: row.id}}) {_first_wins('t', '_start_order')}",
    "min",
)

ATTEMPT_RESULT = Statement(
    "attempt_result",
    f"UNWIND $rows AS row MATCH (t:Attempt {{ns: $ns, id: row.id}}) {_last_wins('t', '_result_order')}",
    "max",
)

DECISION_PROPS = Statement(
    "decision_props",
    "UNWIND $rows AS row MERGE (d:Decision {ns: $ns, id: row.id}) SET d += row.props",
)

REMOVAL_PROPS = Statement(
    "removal_props",
    f"UNWIND $rows AS row MERGE (r:Removal {{ns: $ns, id: row.id}}) ON CREATE SET r:Activity {_first_wins('r', '_order')}",
    "min",
)

ASSOCIATIONS = Statement(
    "associations",
    """
    UNWIND $rows AS row
    MATCH (j:Job {ns: $ns, id: row.source})
    MATCH (a:Agent {ns: $ns, id: row.target})
    MERGE (j)-[w:WAS_ASSOCIATED_WITH {role: row.role}]->(a)
    SET w.plan = row.plan
    """,
)

# Closes the derivation for every job touched by the batch: each output commit
# was derived from each input commit. It runs after the USED and WAS_GENERATED_BY
# statements, so whichever of the two arrives last completes the picture. Creating
# either relationship locks the job node, so two consumers cannot both miss the
# other's half.
DERIVATIONS = Statement(
    "derivations",
    """
    UNWIND $rows AS row
    MATCH (j:Job {ns: $ns, id: row.id})
    MATCH (output:Commit)-[:WAS_GENERATED_BY]->(j)
    MATCH (j)-[:USED]->(input:Commit)
    MERGE (output)-[:WAS_DERIVED_FROM]->(input)
    """,
)

STATEMENTS: tuple[Statement, ...] = (
    AGENTS,
    DELEGATIONS,
    REF_REPO,
    REF_COMMIT,
    REF_JOB,
    REF_PLAN,
    REF_ATTEMPT,
    REPO_PROPS,
    COMMIT_PROPS,
    FILE_PROPS,
    COMMIT_MEMBERS,
    PLAN_PROPS,
    PIPELINE_STATE,
    JOB_SCHEDULE,
    JOB_SCHEDULED_AT,
    JOB_STARTED_AT,
    JOB_STATUS,
    JOB_RESULT,
    ATTEMPT_START,
    ATTEMPT_RESULT,
    DECISION_PROPS,
    REMOVAL_PROPS,
    _edge("repo_attributions", "Repo", "WAS_ATTRIBUTED_TO", "Agent", role=True),
    _edge("commit_repos", "Commit", "IN_REPO", "Repo"),
    _edge("commit_parents", "Commit", "PARENT", "Commit"),
    _edge("commit_attributions", "Commit", "WAS_ATTRIBUTED_TO", "Agent", role=True),
    _edge("generations", "Commit", "WAS_GENERATED_BY", "Job"),
    _edge("usages", "Job", "USED", "Commit"),
    _edge("origin_derivations", "Commit", "WAS_DERIVED_FROM", "Commit"),
    _edge("job_plans", "Job", "HAD_PLAN", "PipelineVersion"),
    ASSOCIATIONS,
    _edge("plan_attributions", "PipelineVersion", "WAS_ATTRIBUTED_TO", "Agent", role=True),
    _edge("decision_triggers", "Decision", "TRIGGERED", "Job"),
    _edge("decision_inputs", "Decision", "CONSIDERED", "Commit"),
    _edge("decision_plans", "Decision", "DECIDED_FOR", "PipelineVersion"),
    _edge("decision_agents", "Decision", "WAS_ASSOCIATED_WITH", "Agent", role=True),
    _edge("removal_repos", "Removal", "IN_REPO", "Repo"),
    _edge("removal_agents", "Removal", "WAS_ASSOCIATED_WITH", "Agent", role=True),
    DERIVATIONS,
)

BY_NAME: dict[str, Statement] = {statement.name: statement for statement in STATEMENTS}
