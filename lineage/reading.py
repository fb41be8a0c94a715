"""Read transactions against the lineage graph, with Neo4j errors converted at this boundary."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from neo4j import ManagedTransaction, unit_of_work
from neo4j.exceptions import DriverError, Neo4jError

from custody.errors import ServiceUnavailableError
from custody.graphdb import Neo4jConnector
from lineage.exceptions import QueryRejected

T = TypeVar("T")


def read(connector: Neo4jConnector, work: Callable[..., T], *args: Any, timeout_s: float | None = None) -> T:
    """Run `work(tx, *args)` in a managed read transaction and return its result.

    `timeout_s` is enforced by the server: a slower transaction is aborted.
    The server enforces read access, so a write clause fails. Notifications
    (such as an unknown label in an empty graph) are switched off because audit
    output has no place for them.
    """
    try:
        with connector.driver().session(database=connector.database, notifications_min_severity="OFF") as session:
            function = unit_of_work(timeout=timeout_s)(work) if timeout_s else work
            return session.execute_read(function, *args)
    except Neo4jError as exc:
        code = exc.code or type(exc).__name__
        if code.startswith("Neo.ClientError."):
            raise QueryRejected(f"Neo4j rejected the query ({code}: {exc.message})", code=code) from exc
        raise ServiceUnavailableError(f"Neo4j at {connector.settings.uri} failed the query ({code}: {exc.message})") from exc
    except DriverError as exc:
        raise ServiceUnavailableError(
            f"Neo4j is not reachable at {connector.settings.uri} ({exc}). Start the local stack with "
            "`custody dev up`, or set CUSTODY_NEO4J_URI to a running server."
        ) from exc


def records(tx: ManagedTransaction, cypher: str, **parameters: Any) -> list[dict[str, Any]]:
    """Run one query in a transaction and return its records as dictionaries."""
    return [record.data() for record in tx.run(cypher, **parameters)]


def public_props(props: dict[str, Any]) -> dict[str, Any]:
    """Return node properties without the namespace and the internal ordering keys (names starting with `_`)."""
    return {key: value for key, value in props.items() if key != "ns" and not key.startswith("_")}
