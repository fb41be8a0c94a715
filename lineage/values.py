"""Convert Neo4j values into plain Python values for JSON, tables and dumps."""

from __future__ import annotations

from typing import Any

from neo4j.graph import Node, Path, Relationship
from neo4j.time import Date, DateTime, Duration, Time


def plain(value: Any) -> Any:
    """Return a JSON-ready form of a Neo4j value: temporal values become ISO 8601 text."""
    if isinstance(value, DateTime):
        return value.iso_format()
    if isinstance(value, (Date, Time)):
        return value.iso_format()
    if isinstance(value, Duration):
        return str(value)
    if isinstance(value, Node):
        return {"labels": sorted(value.labels), "properties": plain(dict(value))}
    if isinstance(value, Relationship):
        return {"type": value.type, "properties": plain(dict(value))}
    if isinstance(value, Path):
        return {"nodes": [plain(node) for node in value.nodes], "relationships": [plain(rel) for rel in value.relationships]}
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value
