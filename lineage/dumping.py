"""A canonical dump of one namespace of the lineage graph, to compare two graphs for equality.

Nodes are named by their key label and key, relationships by their end nodes,
type and properties, and everything is sorted, so two graphs with the same
content give the same dump whatever order they were written in. Neo4j's internal
element ids never appear.
"""

from __future__ import annotations

import json
from typing import Any

from neo4j import ManagedTransaction

from custody.graphdb import Neo4jConnector
from lineage import model
from lineage.reading import read
from lineage.values import plain

_NODES = "MATCH (n:{label}) WHERE n.ns = $ns RETURN n.id AS id, labels(n) AS labels, properties(n) AS props"
_RELATIONSHIPS = (
    "MATCH (a:{label})-[r]->(b) WHERE a.ns = $ns "
    "RETURN a.id AS source, type(r) AS type, properties(r) AS props, b.id AS target, labels(b) AS target_labels"
)


def key_label(labels: list[str]) -> str:
    """Return the key label among a node's labels."""
    for label in model.KEY_LABELS:
        if label in labels:
            return label
    return "?" + ",".join(sorted(labels))


def dump_graph(connector: Neo4jConnector, namespace: str) -> dict[str, Any]:
    """Return the canonical content of a namespace: sorted nodes and sorted relationships."""
    return read(connector, _read_dump, namespace)


def dump_json(dump: dict[str, Any]) -> str:
    """Return a dump as stable, indented JSON."""
    return json.dumps(dump, indent=1, sort_keys=True, ensure_ascii=False)


def _read_dump(tx: ManagedTransaction, namespace: str) -> dict[str, Any]:
    nodes = []
    relationships = []
    for label in model.KEY_LABELS:
        for record in tx.run(_NODES.format(label=label), ns=namespace):
            props = {key: plain(value) for key, value in record["props"].items() if key != "ns"}
            nodes.append({"key": f"{label}:{record['id']}", "labels": sorted(record["labels"]), "props": props})
        for record in tx.run(_RELATIONSHIPS.format(label=label), ns=namespace):
            relationships.append(
                {
                    "source": f"{label}:{record['source']}",
                    "type": record["type"],
                    "target": f"{key_label(record['target_labels'])}:{record['target']}",
                    "props": {key: plain(value) for key, value in record["props"].items()},
                }
            )
    nodes.sort(key=lambda node: node["key"])
    relationships.sort(key=lambda rel: json.dumps(rel, sort_keys=True))
    return {"namespace": namespace, "nodes": nodes, "relationships": relationships}
