"""Every Cypher recipe in docs/audit.md runs, read-only, and finds rows in a graph built from a known history."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from custody.graphdb import Neo4jConnector
from lineage.audit.cypher import run_cypher
from lineage.writing import GraphWriter
from tests.integration.lineage.events import full_history

DOC = Path(__file__).resolve().parents[3] / "docs" / "audit.md"


def recipes() -> list[str]:
    tokens = MarkdownIt().parse(DOC.read_text(encoding="utf-8"))
    return [token.content for token in tokens if token.type == "fence" and token.info.strip() == "cypher"]


RECIPES = recipes()


@pytest.fixture(scope="module")
def history_graph(backend):
    connector = Neo4jConnector(backend.neo4j)
    namespace = f"test-recipes-{uuid.uuid4().hex[:10]}"
    writer = GraphWriter(connector, namespace=namespace)
    writer.start()
    chain, events = full_history(namespace)
    writer.write(events)
    parameters = {
        "ns": namespace,
        "commit": chain.commits[-1],
        "job": chain.jobs[-1],
        "uri": "s3://acme-raw/incoming/patients.csv",
        "repo": "raw",
        "path": "visits.csv",
        "pipeline": "clean",
        "person": "person:alice",
        "since": "2026-03-01T00:00:00Z",
        "until": "2026-04-01T00:00:00Z",
    }
    yield connector, parameters
    writer.clear()
    connector.close()


def test_doc_has_recipes():
    assert len(RECIPES) >= 10


@pytest.mark.parametrize("recipe", RECIPES, ids=[f"recipe-{index}" for index in range(len(RECIPES))])
def test_recipe_returns_rows(history_graph, recipe):
    connector, parameters = history_graph

    result = run_cypher(connector, recipe, parameters, timeout_s=30)

    assert result.rows, f"recipe returned no rows:\n{recipe}"
    assert all(value is not None for value in result.rows[0][:2]), result.rows[0]
