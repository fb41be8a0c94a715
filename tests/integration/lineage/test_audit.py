"""Audit commands over a two-stage chain that went through the real Kafka and Neo4j.

alice uploads two raw files. Pipeline `clean` (owner bob, run by service
account clean-runner acting for bob) writes a cleaned commit from them, and
pipeline `train` (owner carol, run by train-runner) writes a model commit.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from custody.cli.main import app
from custody.graphdb import Neo4jConnector
from lineage.audit.cypher import run_cypher
from lineage.audit.involvement import who
from lineage.audit.jobrecord import job_record
from lineage.audit.reports import build_report, parse_time, report_html, report_markdown
from lineage.audit.targets import parse_target
from lineage.audit.tracing import impact, trace
from lineage.exceptions import QueryRejected, TargetNotFound
from lineage.synthetic import Chain, build_chain
from tests.integration.lineage.conftest import LineageEnv, clear_namespace, consume_all


@pytest.fixture(scope="module")
def chain_graph(backend) -> Iterator[tuple[LineageEnv, Chain]]:
    unique = uuid.uuid4().hex[:10]
    connector = Neo4jConnector(backend.neo4j)
    connector.connect()
    env = LineageEnv(f"test-{unique}.", f"test-{unique}", f"lineage-{unique}", backend.kafka, backend.neo4j, connector)
    chain = build_chain(tag=unique)
    consume_all(env, chain.events)
    yield env, chain
    clear_namespace(connector, env.namespace)
    connector.close()


def _cli(env: LineageEnv, *args: str):
    variables = {
        "CUSTODY_NEO4J_URI": env.neo4j.uri,
        "CUSTODY_NEO4J_USER": env.neo4j.user,
        "CUSTODY_NEO4J_PASSWORD": env.neo4j.password.get_secret_value(),
        "CUSTODY_LINEAGE_NAMESPACE": env.namespace,
        "COLUMNS": "250",
    }
    return CliRunner().invoke(app, list(args), env=variables)


def test_trace_of_model_lists_the_whole_chain(chain_graph):
    env, chain = chain_graph
    model_commit = chain.commits[-1]

    result = trace(env.connector, env.namespace, parse_target(model_commit), max_depth=25).to_dict()

    commits = {commit["id"]: commit for commit in result["commits"]}
    assert list(commits) == chain.commits
    raw_files = {file["path"]: file["sha256"] for file in commits[chain.upload_commit]["files"]}
    assert raw_files == chain.upload_files
    assert commits[chain.upload_commit]["authors"] == ["person:alice"]
    assert commits[chain.upload_commit]["committed_at"].startswith("2026-03-02T09:06:00")
    assert [job["id"] for job in result["jobs"]] == chain.jobs
    assert [job["plan"] for job in result["jobs"]] == chain.plans
    assert [job["image_digest"] for job in result["jobs"]] == chain.code_digests
    assert [job["status"] for job in result["jobs"]] == ["succeeded", "succeeded"]
    assert [job["exit_code"] for job in result["jobs"]] == [0, 0]
    assert [job["duration_s"] for job in result["jobs"]] == [60.0, 60.0]
    assert result["jobs"][1]["parameters"] == {"epochs": "20", "seed": "7"}
    assert result["jobs"][0]["command"] == ["python", "-m", "acme.clean"]
    assert all(job["started_at"] and job["finished_at"] for job in result["jobs"])
    assert [job["caused_by_uploads"] for job in result["jobs"]] == [[chain.upload_commit], [chain.upload_commit]]
    assert result["jobs"][0]["decisions"][0]["causation_id"] == chain.events[5].id
    assert {plan["id"] for plan in result["plans"]} == set(chain.plans)
    assert {owner for plan in result["plans"] for owner in plan["owners"]} == {"person:bob", "person:carol"}
    agents = {agent["id"]: agent for agent in result["agents"]}
    assert set(agents) == {"person:alice", "person:bob", "person:carol", "service_account:clean-runner", "service_account:train-runner"}
    assert agents["service_account:train-runner"]["acting_for"] == ["person:carol"]
    assert result["truncated"] is False


def test_trace_of_file_starts_at_its_commit(chain_graph):
    env, chain = chain_graph
    [model_files] = [files for files in chain.output_files if "model.pkl" in files]

    result = trace(env.connector, env.namespace, parse_target("s3://acme-models/model.pkl"), max_depth=25)

    assert result.target["file"]["sha256"] == model_files["model.pkl"]
    assert result.start_commits == [chain.commits[-1]]
    assert set(result.commits) == set(chain.commits)


def test_trace_depth_limit_marks_truncation(chain_graph):
    env, chain = chain_graph

    result = trace(env.connector, env.namespace, parse_target(chain.commits[-1]), max_depth=1)

    assert list(result.jobs) == [chain.jobs[-1]]
    assert set(result.commits) == {chain.commits[-1], chain.commits[-2]}
    assert result.truncated is True


def test_impact_of_raw_file_lists_every_derived_commit(chain_graph):
    env, chain = chain_graph

    result = impact(env.connector, env.namespace, parse_target("s3://acme-raw/incoming/patients.csv"), max_depth=25)

    assert result.start_commits == [chain.upload_commit]
    assert set(result.commits) - {chain.upload_commit} == set(chain.commits[1:])
    assert set(result.jobs) == set(chain.jobs)


def test_impact_of_middle_job_excludes_upstream(chain_graph):
    env, chain = chain_graph

    result = impact(env.connector, env.namespace, parse_target(f"job:{chain.jobs[1]}"), max_depth=25)

    assert set(result.jobs) == {chain.jobs[1]}
    assert set(result.commits) == {chain.commits[2]}


def test_unknown_targets_are_named_in_the_error(chain_graph):
    env, _ = chain_graph

    with pytest.raises(TargetNotFound, match="no-such-job"):
        trace(env.connector, env.namespace, parse_target("job:no-such-job"), max_depth=5)
    with pytest.raises(TargetNotFound, match="s3://acme-raw/missing.csv"):
        impact(env.connector, env.namespace, parse_target("s3://acme-raw/missing.csv"), max_depth=5)


def test_who_lists_writers_readers_and_owners(chain_graph):
    env, chain = chain_graph

    rows = who(env.connector, env.namespace, "clean").to_dict()["rows"]

    actions = {(row["agent"], row["action"]) for row in rows}
    assert ("service_account:clean-runner", "wrote") in actions
    assert ("service_account:train-runner", "read") in actions
    assert ("person:carol", "processed") in actions
    assert ("person:bob", "processed") in actions
    assert ("person:alice", "registered the repo") in actions
    readers = [row for row in rows if row["action"] == "read"]
    assert readers[0]["acting_for"] == ["person:carol"]
    assert readers[0]["at"].startswith("2026-03-02T09:14:00")


def test_who_of_one_path_shows_its_uploader(chain_graph):
    env, _ = chain_graph

    rows = who(env.connector, env.namespace, "raw/patients.csv").to_dict()["rows"]

    assert ("person:alice", "wrote") in {(row["agent"], row["action"]) for row in rows}
    assert ("service_account:clean-runner", "read") in {(row["agent"], row["action"]) for row in rows}


def test_job_record_includes_trigger_decision(chain_graph):
    env, chain = chain_graph

    record = job_record(env.connector, env.namespace, chain.jobs[1], max_depth=25)

    job = record.jobs[chain.jobs[1]]
    assert job["decisions"][0]["outcome"] == "started"
    assert "train" in job["decisions"][0]["reason"]
    assert job["attempts"][0]["runner"] == "pid:4001"
    assert job["input_commits"] == [chain.commits[1]]
    assert job["output_commits"] == [chain.commits[2]]
    assert job["caused_by_uploads"] == [chain.upload_commit]
    assert record.plans[chain.plans[1]]["spec"]["parameters"] == {"epochs": "20", "seed": "7"}


def test_cypher_runs_reads_and_rejects_writes(chain_graph):
    env, chain = chain_graph

    result = run_cypher(env.connector, "MATCH (j:Job {ns: $ns}) RETURN j.id AS id ORDER BY id", {"ns": env.namespace}, timeout_s=30)

    assert [row[0] for row in result.rows] == sorted(chain.jobs)
    with pytest.raises(QueryRejected, match="read-only"):
        run_cypher(env.connector, "MATCH (j:Job {ns: $ns}) SET j.status = 'forged'", {"ns": env.namespace}, timeout_s=30)
    with pytest.raises(QueryRejected, match="LOAD CSV"):
        run_cypher(env.connector, "LOAD CSV FROM 'file:///etc/passwd' AS line RETURN line", {}, timeout_s=30)
    unchanged = run_cypher(env.connector, "MATCH (j:Job {ns: $ns}) RETURN collect(DISTINCT j.status) AS s", {"ns": env.namespace}, timeout_s=30)
    assert unchanged.rows == [[["succeeded"]]]


def test_report_covers_jobs_of_window(chain_graph):
    env, chain = chain_graph
    window = {"since": parse_time("2026-03-02T09:00:00Z", "--since"), "until": parse_time("2026-03-02T10:00:00Z", "--until")}

    everything = build_report(env.connector, env.namespace, repo=None, **window)
    models_only = build_report(env.connector, env.namespace, repo="models", **window)
    before = build_report(env.connector, env.namespace, repo=None, since=parse_time("2026-03-01", "--since"), until=parse_time("2026-03-02", "--until"))

    assert [entry["job_id"] for entry in everything["jobs"]] == chain.jobs
    assert everything["summary"]["by_status"] == {"succeeded": 2}
    assert everything["jobs"][0]["inputs"][0]["files"][0]["sha256"] in chain.upload_files.values()
    assert [entry["job_id"] for entry in models_only["jobs"]] == [chain.jobs[1]]
    assert before["jobs"] == []
    assert chain.jobs[0] in report_markdown(everything)
    assert f"<code>{chain.jobs[1]}</code>" in report_html(everything)


def test_cli_trace_writes_json_markdown_and_pictures(chain_graph, tmp_path):
    env, chain = chain_graph

    as_json = _cli(env, "audit", "trace", chain.commits[-1], "--format", "json", "--graph", str(tmp_path / "t.svg"))
    as_markdown = _cli(env, "audit", "trace", chain.commits[-1][:12], "--format", "markdown", "--graph", str(tmp_path / "t.mmd"))
    as_table = _cli(env, "audit", "trace", f"job:{chain.jobs[0]}", "--graph", str(tmp_path / "t.png"))
    as_dot = _cli(env, "audit", "impact", "s3://acme-raw/incoming/visits.csv", "--format", "json", "--graph", str(tmp_path / "t.dot"))

    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout)["jobs"][1]["id"] == chain.jobs[1]
    assert as_markdown.exit_code == 0, as_markdown.output
    assert "| s3://acme-raw/incoming/patients.csv |" in as_markdown.stdout
    assert as_table.exit_code == 0, as_table.output
    assert "person:alice" in as_table.stdout
    assert as_dot.exit_code == 0, as_dot.output
    assert (tmp_path / "t.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    assert "flowchart BT" in (tmp_path / "t.mmd").read_text()
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "digraph provenance" in (tmp_path / "t.dot").read_text()


def test_cli_who_job_cypher_report(chain_graph, tmp_path):
    env, chain = chain_graph

    who_output = _cli(env, "audit", "who", "models", "--format", "json")
    job_output = _cli(env, "audit", "job", chain.jobs[0], "--format", "markdown")
    cypher_output = _cli(env, "audit", "cypher", "MATCH (c:Commit {ns: $ns, id: $id}) RETURN c.repo AS repo", "--param", f"id={chain.upload_commit}", "-f", "json")
    forged = _cli(env, "audit", "cypher", "CREATE (x:Job {ns: $ns, id: 'forged'})")
    report_output = _cli(env, "audit", "report", "--since", "2026-03-02", "--until", "2026-03-03", "--format", "html", "--output", str(tmp_path / "r.html"))

    assert who_output.exit_code == 0, who_output.output
    assert "service_account:train-runner" in {row["agent"] for row in json.loads(who_output.stdout)["rows"]}
    assert job_output.exit_code == 0, job_output.output
    assert "new commit in raw" in job_output.stdout
    assert json.loads(cypher_output.stdout)["rows"] == [{"repo": "raw"}]
    assert forged.exit_code == 1
    assert "read-only" in forged.output
    assert report_output.exit_code == 0, report_output.output
    assert chain.jobs[1] in (tmp_path / "r.html").read_text()
