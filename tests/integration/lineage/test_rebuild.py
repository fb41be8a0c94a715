"""`custody lineage rebuild` replays the topics into a graph equal to the one built incrementally."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from custody.cli.main import app
from lineage.dumping import dump_graph
from tests.integration.lineage.conftest import LineageEnv, consume_all
from tests.integration.lineage.events import full_history


def _cli(env: LineageEnv, *args: str):
    variables = {
        "CUSTODY_KAFKA_BOOTSTRAP_SERVERS": env.kafka.bootstrap_servers,
        "CUSTODY_NEO4J_URI": env.neo4j.uri,
        "CUSTODY_NEO4J_USER": env.neo4j.user,
        "CUSTODY_NEO4J_PASSWORD": env.neo4j.password.get_secret_value(),
        "CUSTODY_TOPIC_PREFIX": env.prefix,
        "CUSTODY_LINEAGE_NAMESPACE": env.namespace,
        "CUSTODY_LINEAGE_GROUP_ID": env.group_id,
    }
    return CliRunner().invoke(app, list(args), env=variables)


def test_rebuilt_graph_equals_incremental_graph(lineage_env: LineageEnv, tmp_path):
    env = lineage_env
    _, history = full_history(env.namespace)
    consume_all(env, history)
    incremental = dump_graph(env.connector, env.namespace)

    rebuilt_output = _cli(env, "lineage", "rebuild", "--yes")
    dumped_output = _cli(env, "lineage", "dump", str(tmp_path / "rebuilt.json"))

    assert rebuilt_output.exit_code == 0, rebuilt_output.output
    assert f"deleted {len(incremental['nodes'])} node(s)" in rebuilt_output.output
    assert dumped_output.exit_code == 0, dumped_output.output
    rebuilt = json.loads((tmp_path / "rebuilt.json").read_text())
    assert len(rebuilt["nodes"]) > 40
    assert rebuilt == incremental


def test_rebuild_asks_before_deleting(lineage_env: LineageEnv):
    result = _cli(lineage_env, "lineage", "rebuild")

    assert result.exit_code == 1
    assert "Delete the lineage graph of namespace" in result.output
