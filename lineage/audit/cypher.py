"""`cypher QUERY`: raw Cypher for auditors, in a read transaction so nothing can be changed."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from neo4j import ManagedTransaction

from custody.graphdb import Neo4jConnector
from lineage.audit.rendering import Document, Table
from lineage.exceptions import QueryRejected
from lineage.reading import read
from lineage.values import plain

# LOAD CSV reads files on the Neo4j server or fetches URLs from it; an audit query has no need for either.
_LOAD_CSV = re.compile(r"\bLOAD\s+CSV\b", re.IGNORECASE)
ACCESS_MODE_CODE = "Neo.ClientError.Statement.AccessMode"


@dataclass
class CypherResult:
    """Columns and rows of a query, with values converted to plain Python."""

    columns: list[str]
    rows: list[list[Any]]

    def to_dict(self) -> dict[str, Any]:
        """Return the rows as a list of objects keyed by column."""
        return {"columns": self.columns, "rows": [dict(zip(self.columns, row)) for row in self.rows]}


def parse_parameters(pairs: list[str]) -> dict[str, Any]:
    """Parse `name=value` pairs; a value that is valid JSON is decoded (numbers, lists), anything else stays text."""
    parameters: dict[str, Any] = {}
    for pair in pairs:
        name, separator, raw = pair.partition("=")
        if not separator or not name.isidentifier():
            raise QueryRejected(f"invalid parameter {pair!r}; write NAME=VALUE, for example --param commit=3b0f3c6c")
        try:
            parameters[name] = json.loads(raw)
        except json.JSONDecodeError:
            parameters[name] = raw
    return parameters


def run_cypher(connector: Neo4jConnector, query: str, parameters: dict[str, Any], *, timeout_s: float) -> CypherResult:
    """Run a query in a read transaction; raise QueryRejected for a write, a LOAD CSV or invalid Cypher."""
    if _LOAD_CSV.search(query):
        raise QueryRejected("LOAD CSV is not allowed in audit queries; query the lineage graph only")
    try:
        return read(connector, _run, query, parameters, timeout_s=timeout_s)
    except QueryRejected as exc:
        if exc.code == ACCESS_MODE_CODE:
            raise QueryRejected(
                "the query writes to the graph, and `custody audit cypher` runs read-only transactions; "
                "remove CREATE, MERGE, SET, DELETE and REMOVE clauses"
            ) from exc
        raise


def _run(tx: ManagedTransaction, query: str, parameters: dict[str, Any]) -> CypherResult:
    result = tx.run(query, **parameters)
    columns = list(result.keys())
    rows = [[plain(value) for value in record.values()] for record in result]
    return CypherResult(columns, rows)


def cypher_document(result: CypherResult, query: str) -> Document:
    """Return a document with one table of the query's rows; structured values are shown as JSON."""
    table = Table("Rows", result.columns or ["(no columns)"])
    for row in result.rows:
        table.rows.append([_cell(value) for value in row])
    return Document("Cypher", [query.strip(), f"{len(result.rows)} row(s)"], [table])


def _cell(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)
