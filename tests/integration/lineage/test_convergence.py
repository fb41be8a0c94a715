"""Events that arrive shuffled, duplicated and in any batching give the same graph as the ordered history."""

from __future__ import annotations

import random
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custody.graphdb import Neo4jConnector
from lineage.dumping import dump_graph
from lineage.writing import GraphWriter
from tests.integration.lineage.events import full_history

CHAIN, HISTORY = full_history("convergence")


def content(connector: Neo4jConnector, namespace: str) -> dict:
    dump = dump_graph(connector, namespace)
    return {"nodes": dump["nodes"], "relationships": dump["relationships"]}


def write_in_batches(writer: GraphWriter, events: list, sizes: list[int]) -> None:
    position = 0
    for size in sizes:
        if position >= len(events):
            break
        writer.write(events[position : position + size])
        position += size
    if position < len(events):
        writer.write(events[position:])


@pytest.fixture(scope="module")
def ordered_graph(backend):
    connector = Neo4jConnector(backend.neo4j)
    namespace = f"test-ordered-{uuid.uuid4().hex[:10]}"
    writer = GraphWriter(connector, namespace=namespace)
    writer.start()
    for event in HISTORY:
        writer.write([event])
    yield connector, content(connector, namespace)
    writer.clear()
    connector.close()


def test_ordered_history_has_expected_shape(ordered_graph):
    _, dump = ordered_graph
    nodes = {node["key"]: node["props"] for node in dump["nodes"]}

    assert nodes["Job:j-report"]["status"] == "succeeded"
    assert nodes["Job:j-report"]["attempt"] == 2
    assert nodes["Attempt:j-report#1"]["reason"] == "OOMKilled"
    assert nodes["Repo:raw"]["labels"] == ["health", "pii"]
    assert nodes["Pipeline:clean"]["status"] == "removed"
    assert nodes[f"Commit:{CHAIN.upload_commit}"]["via"] == "cli"
    assert nodes["Job:j-orphan"]["status"] == "succeeded"
    assert any(key.startswith("Removal:raw|visits.csv") for key in nodes)


@settings(max_examples=12, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    order=st.permutations(range(len(HISTORY))),
    duplicates=st.lists(st.integers(0, len(HISTORY) - 1), max_size=len(HISTORY)),
    shuffle_seed=st.integers(0, 2**32 - 1),
    batch_sizes=st.lists(st.integers(1, 9), min_size=1, max_size=40),
)
def test_shuffled_duplicated_history_converges(ordered_graph, order, duplicates, shuffle_seed, batch_sizes):
    connector, expected = ordered_graph
    delivered = [HISTORY[index] for index in order] + [HISTORY[index] for index in duplicates]
    random.Random(shuffle_seed).shuffle(delivered)
    namespace = f"test-shuffled-{uuid.uuid4().hex[:10]}"
    writer = GraphWriter(connector, namespace=namespace)

    try:
        write_in_batches(writer, delivered, batch_sizes)
        actual = content(connector, namespace)
    finally:
        writer.clear()

    assert actual == expected
