"""Write batches of events into the lineage graph, one managed transaction per batch.

Neo4j and driver errors are converted here. A failure that may pass on retry
(connection lost, leader switch, deadlock, lock timeout) becomes a
`GraphUnavailableError`. A wrong account, database or statement becomes a
`GraphAccessDenied`, which stops the service. Anything else, such as a value
Neo4j cannot store or index, becomes a `GraphWriteRejected`, which retrying
cannot fix.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from neo4j import Driver, ManagedTransaction
from neo4j.exceptions import DriverError, Neo4jError

from custody.events import CloudEvent
from custody.graphdb import Neo4jConnector
from lineage import model
from lineage.exceptions import GraphAccessDenied, GraphUnavailableError, GraphWriteRejected
from lineage.rows import RowBatch, build_rows
from lineage.schema import create_schema
from lineage.statements import BY_NAME

log = logging.getLogger(__name__)

CLEAR_CHUNK = 10_000


@dataclass(frozen=True)
class WriteResult:
    """Counts and duration of one committed write transaction."""

    events: int
    skipped: int
    rows: int
    seconds: float


class GraphWriter:
    """Write events to the lineage graph of one namespace.

    Every statement is an idempotent MERGE, so the driver may retry a transaction
    function and a consumer may write the same events again after a restart.
    """

    def __init__(self, connector: Neo4jConnector, *, namespace: str = "") -> None:
        self.connector = connector
        self.namespace = namespace
        connector.add_schema_hook(create_schema)

    def start(self) -> Driver:
        """Connect, create the schema and wait for its indexes; raise ServiceUnavailableError naming the URI."""
        driver = self.connector.connect()
        try:
            with driver.session(database=self.connector.database) as session:
                session.run("CALL db.awaitIndexes(300)").consume()
        except (DriverError, Neo4jError) as exc:
            raise convert_error(exc, "waiting for the lineage indexes") from exc
        return driver

    def write(self, events: Sequence[CloudEvent]) -> WriteResult:
        """Write the events in one transaction; return what was written."""
        started = time.monotonic()
        batch = build_rows(events)
        if batch.event_count:
            self._execute(batch)
        return WriteResult(batch.event_count, batch.skipped_count, batch.row_count(), time.monotonic() - started)

    def clear(self) -> int:
        """Delete every node of this namespace, in chunks; return how many were deleted."""
        deleted = 0
        for label in model.KEY_LABELS:
            while True:
                count = self._run_write(
                    f"MATCH (n:{label}) WHERE n.ns = $ns WITH n LIMIT $chunk DETACH DELETE n RETURN count(*) AS deleted",
                    chunk=CLEAR_CHUNK,
                )
                deleted += count
                if count < CLEAR_CHUNK:
                    break
        log.info("cleared lineage graph ns=%r nodes=%d", self.namespace, deleted)
        return deleted

    def _execute(self, batch: RowBatch) -> None:
        statements = batch.statements()

        def work(tx: ManagedTransaction) -> None:
            for name, rows in statements:
                tx.run(BY_NAME[name].cypher, rows=rows, ns=self.namespace).consume()

        try:
            with self.connector.driver().session(database=self.connector.database) as session:
                session.execute_write(work)
        except (DriverError, Neo4jError) as exc:
            raise convert_error(exc, f"writing {batch.event_count} event(s)") from exc

    def _run_write(self, cypher: str, **parameters: object) -> int:
        def work(tx: ManagedTransaction) -> int:
            return tx.run(cypher, ns=self.namespace, **parameters).single(strict=True)[0]

        try:
            with self.connector.driver().session(database=self.connector.database) as session:
                return session.execute_write(work)
        except (DriverError, Neo4jError) as exc:
            raise convert_error(exc, "clearing the lineage graph") from exc


# Errors that no event causes: they stop the service instead of dead-lettering every event.
SETUP_ERROR_CODES = (
    "Neo.ClientError.Security.",
    "Neo.ClientError.Database.DatabaseNotFound",
    "Neo.ClientError.Statement.SyntaxError",
)


def convert_error(exc: DriverError | Neo4jError, action: str) -> GraphUnavailableError | GraphWriteRejected | GraphAccessDenied:
    """Return the Custody error for a Neo4j failure: transient when a retry may pass, permanent otherwise."""
    if isinstance(exc, Neo4jError):
        code = exc.code or type(exc).__name__
        message = exc.message or str(exc)
        if code.startswith(SETUP_ERROR_CODES):
            return GraphAccessDenied(
                f"Neo4j refused the lineage service while {action} ({code}: {message}); "
                "check CUSTODY_NEO4J_USER, CUSTODY_NEO4J_PASSWORD and CUSTODY_NEO4J_DATABASE"
            )
        if exc.is_retryable() or code.startswith("Neo.TransientError."):
            return GraphUnavailableError(f"Neo4j failed while {action} ({code}: {message}); the write will be retried")
        return GraphWriteRejected(f"Neo4j rejected the write while {action} ({code}: {message})", code=code)

    # Driver errors are about the connection (refused, lost, timed out, commit
    # outcome unknown), never about the data, and every write is idempotent.
    return GraphUnavailableError(f"Neo4j connection failed while {action} ({type(exc).__name__}: {exc}); the write will be retried")
