"""Uniqueness constraints and indexes of the lineage graph, created at start-up.

Each key label gets a uniqueness constraint on `(ns, id)`; its index serves every
MERGE and every lookup by key. The other indexes serve the audit commands:
files by S3 URI or repo path, commits by repo and time, jobs by time window,
removals by path.
"""

from __future__ import annotations

from neo4j import ManagedTransaction

from lineage import model

# (name, label, properties) of the range indexes besides the key constraints.
INDEXES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("lineage_file_uri", model.FILE, ("ns", "uri")),
    ("lineage_file_path", model.FILE, ("ns", "repo", "path")),
    ("lineage_commit_repo", model.COMMIT, ("ns", "repo", "committed_at")),
    ("lineage_commit_time", model.COMMIT, ("ns", "committed_at")),
    ("lineage_job_scheduled", model.JOB, ("ns", "scheduled_at")),
    ("lineage_job_started", model.JOB, ("ns", "started_at")),
    ("lineage_job_finished", model.JOB, ("ns", "finished_at")),
    ("lineage_job_pipeline", model.JOB, ("ns", "pipeline")),
    ("lineage_removal_path", model.REMOVAL, ("ns", "repo", "path")),
    ("lineage_decision_job", model.DECISION, ("ns", "job_id")),
)


def constraint_name(label: str) -> str:
    """Return the name of the key constraint of a label."""
    return f"lineage_{label.lower()}_key"


def schema_statements() -> list[str]:
    """Return the idempotent DDL statements of the lineage schema."""
    statements = [
        f"CREATE CONSTRAINT {constraint_name(label)} IF NOT EXISTS FOR (n:{label}) REQUIRE (n.ns, n.id) IS UNIQUE"
        for label in model.KEY_LABELS
    ]
    for name, label, properties in INDEXES:
        columns = ", ".join(f"n.{prop}" for prop in properties)
        statements.append(f"CREATE INDEX {name} IF NOT EXISTS FOR (n:{label}) ON ({columns})")
    return statements


def create_schema(tx: ManagedTransaction) -> None:
    """Schema hook for `Neo4jConnector`: create the constraints and indexes that are missing."""
    for statement in schema_statements():
        tx.run(statement).consume()
