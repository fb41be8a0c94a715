"""Mapping events to the rows of the lineage write statements."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from custody.events import make_event
from custody.events import models
from lineage import model
from lineage.rows import RowBatch, build_rows, job_order
from lineage.statements import STATEMENTS
from lineage.synthetic import build_chain

T = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        ((1, "scheduled"), (1, "started")),
        ((1, "started"), (1, "failed")),
        ((1, "failed"), (2, "scheduled")),
        ((1, "succeeded"), (2, "started")),
        ((9, "failed"), (10, "started")),
    ],
)
def test_job_order_ranks_attempt_then_phase(earlier, later):
    first = job_order(earlier[0], earlier[1], T, "event-b")
    second = job_order(later[0], later[1], T, "event-a")

    assert first < second


def test_job_order_tie_breaks():
    assert job_order(1, "started", T, "b") < job_order(1, "started", T.replace(second=1), "a")
    assert job_order(1, "started", T, "a") < job_order(1, "started", T, "b")


@pytest.mark.parametrize(
    ("reference", "key"),
    [
        ("alice", "person:alice"),
        ("person:alice", "person:alice"),
        ("service_account:etl", "service_account:etl"),
        ("team:ml", "person:team:ml"),
        ("alice@example.org", "person:alice@example.org"),
    ],
)
def test_person_key_keeps_known_kinds(reference, key):
    assert model.person_key(reference) == key


@pytest.mark.parametrize(
    ("bucket", "prefix", "path", "uri"),
    [
        ("acme-raw", "", "a.csv", "s3://acme-raw/a.csv"),
        ("acme-raw", "incoming/", "2024 Q1/a+b.csv", "s3://acme-raw/incoming/2024 Q1/a+b.csv"),
        ("acme-raw", "incoming", "a.csv", "s3://acme-raw/incoming/a.csv"),
    ],
)
def test_s3_uri_joins_prefix_once(bucket, prefix, path, uri):
    assert model.s3_uri(bucket, prefix, path) == uri


def test_batch_reduces_rows_by_statement_rule():
    batch = RowBatch()
    batch.add("commit_props", {"id": "c", "order": "2", "props": {"via": "watcher"}})
    batch.add("commit_props", {"id": "c", "order": "1", "props": {"via": "cli"}})
    batch.add("job_status", {"id": "j", "order": "1", "props": {"status": "scheduled"}})
    batch.add("job_status", {"id": "j", "order": "3", "props": {"status": "succeeded"}})
    batch.add("usages", {"source": "j", "target": "c"})
    batch.add("usages", {"source": "j", "target": "c"})

    assert batch.rows("commit_props") == [{"id": "c", "order": "1", "props": {"via": "cli"}}]
    assert batch.rows("job_status")[0]["props"]["status"] == "succeeded"
    assert batch.rows("usages") == [{"source": "j", "target": "c"}]


def test_chain_rows_cover_prov_relations():
    chain = build_chain()

    batch = build_rows(chain.events)
    names = {name for name, _ in batch.statements()}

    assert batch.event_count == len(chain.events)
    assert {"usages", "generations", "associations", "commit_attributions", "origin_derivations", "delegations", "job_plans"} <= names
    assert {"source": chain.jobs[0], "target": chain.upload_commit} in batch.rows("usages")
    assert {"source": chain.commits[1], "target": chain.jobs[0]} in batch.rows("generations")
    assert {"source": "service_account:clean-runner", "target": "person:bob"} in batch.rows("delegations")
    assert [name for name, _ in batch.statements()] == [s.name for s in STATEMENTS if s.name in names]


def test_job_events_set_status_attempt_and_code():
    scheduled = models.JobScheduled(
        job_id="j", pipeline="clean", pipeline_version="v1", executor="local",
        inputs=[models.InputCommit(repo="raw", commit_id="a" * 64)], output_repo="clean",
        service_account=models.Agent(kind="service_account", name="etl"),
    )
    failed = models.JobFailed(job_id="j", attempt=1, finished_at=T, exit_code=137, reason="OOMKilled", final=False)
    succeeded = models.JobSucceeded(
        job_id="j", attempt=2, finished_at=T.replace(minute=5), duration_s=3.0, output_commit_id="b" * 64,
        code=models.CodeIdentity(code_hash="c" * 64, parameters={"b": "2", "a": "1"}),
    )

    batch = build_rows([make_event(data, source="/custody/tests") for data in (succeeded, failed, scheduled)])

    [status] = batch.rows("job_status")
    [result] = batch.rows("job_result")
    assert (status["props"]["status"], status["props"]["attempt"]) == ("succeeded", 2)
    assert result["props"]["parameters"] == '{"a":"1","b":"2"}'
    assert result["props"]["output_commit_id"] == "b" * 64
    attempts = {row["id"]: row["props"] for row in batch.rows("attempt_result")}
    assert attempts["j#1"]["reason"] == "OOMKilled"
    assert attempts["j#1"]["final"] is False


def test_unrecorded_event_types_are_counted_as_skipped():
    alert = models.AlertRaised(alert_id="a1", rule="r", severity="info", summary="s", dedupe_key="k")

    batch = build_rows([make_event(alert, source="/custody/tests")])

    assert (batch.event_count, batch.skipped_count, batch.row_count()) == (0, 1, 0)
