"""Neo4j driver factory with a schema bootstrap hook."""

from __future__ import annotations

import logging
from collections.abc import Callable

from neo4j import Driver, GraphDatabase, ManagedTransaction
from neo4j.exceptions import AuthError, DriverError, Neo4jError, ServiceUnavailable

from custody.errors import ConfigurationError, ServiceUnavailableError
from custody.settings import Neo4jSettings

log = logging.getLogger(__name__)

SchemaHook = Callable[[ManagedTransaction], None]


class Neo4jConnector:
    """Create the driver lazily, check connectivity and run schema hooks in `connect`.

    Schema hooks must be idempotent (`CREATE CONSTRAINT ... IF NOT EXISTS`),
    because every process runs them at start-up.
    """

    def __init__(self, settings: Neo4jSettings, *, schema_hooks: list[SchemaHook] | None = None) -> None:
        self.settings = settings
        self._schema_hooks = list(schema_hooks or [])
        self._driver: Driver | None = None

    @property
    def database(self) -> str:
        """Name of the database every session uses."""
        return self.settings.database

    def driver(self) -> Driver:
        """Return the driver; the neo4j driver opens connections only when a query runs."""
        if self._driver is None:
            self._driver = GraphDatabase.driver(
                self.settings.uri,
                auth=(self.settings.user, self.settings.password.get_secret_value()),
                connection_timeout=self.settings.connection_timeout_s,
                max_transaction_retry_time=self.settings.max_transaction_retry_time_s,
            )
        return self._driver

    def add_schema_hook(self, hook: SchemaHook) -> None:
        """Register a hook that `connect` runs in its own write transaction."""
        self._schema_hooks.append(hook)

    def connect(self) -> Driver:
        """Check that Neo4j responds, then run the schema hooks; raise an error naming the URI and the fix."""
        driver = self.driver()
        try:
            driver.verify_connectivity()
            with driver.session(database=self.database) as session:
                for hook in self._schema_hooks:
                    session.execute_write(hook)
        except AuthError as exc:
            raise ConfigurationError(
                f"Neo4j at {self.settings.uri} rejected user {self.settings.user!r}; "
                "check CUSTODY_NEO4J_USER and CUSTODY_NEO4J_PASSWORD"
            ) from exc
        except (ServiceUnavailable, DriverError, OSError) as exc:
            raise ServiceUnavailableError(
                f"Neo4j is not reachable at {self.settings.uri} ({exc}). Start the local stack with "
                "`custody dev up`, or set CUSTODY_NEO4J_URI to a running server."
            ) from exc
        except Neo4jError as exc:
            raise ServiceUnavailableError(f"Neo4j at {self.settings.uri} failed the schema bootstrap: {exc}") from exc
        log.info("connected to neo4j uri=%s database=%s hooks=%d", self.settings.uri, self.database, len(self._schema_hooks))
        return driver

    def close(self) -> None:
        """Close the driver and its connection pool."""
        if self._driver is not None:
            self._driver.close()
            self._driver = None

