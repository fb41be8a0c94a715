"""Neo4j connector against the real server."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from custody.errors import ConfigurationError, ServiceUnavailableError
from custody.graphdb import Neo4jConnector
from custody.settings import Neo4jSettings


def test_write_and_read_with_schema_hook(neo4j_settings: Neo4jSettings, unique: str):
    label = f"Probe_{unique}"

    def create_constraint(tx):
        tx.run(f"CREATE CONSTRAINT probe_{unique} IF NOT EXISTS FOR (n:{label}) REQUIRE n.id IS UNIQUE")

    connector = Neo4jConnector(neo4j_settings, schema_hooks=[create_constraint])
    driver = connector.connect()
    connector.connect()  # hooks are idempotent
    try:
        with driver.session(database=connector.database) as session:
            for _ in range(2):
                session.execute_write(lambda tx: tx.run(f"MERGE (n:{label} {{id: $id}}) SET n.value = 42", id="a").consume())
            count, value = session.execute_read(
                lambda tx: tx.run(f"MATCH (n:{label}) RETURN count(n) AS c, max(n.value) AS v").single().values()
            )
            constraints = session.run("SHOW CONSTRAINTS YIELD name RETURN collect(name) AS names").single()["names"]
    finally:
        with driver.session(database=connector.database) as session:
            session.run(f"MATCH (n:{label}) DETACH DELETE n").consume()
            session.run(f"DROP CONSTRAINT probe_{unique} IF EXISTS").consume()
        connector.close()

    assert (count, value) == (1, 42)
    assert f"probe_{unique}" in constraints


def test_read_transaction_rejects_writes(neo4j_connector: Neo4jConnector, unique: str):
    from neo4j.exceptions import ClientError

    with neo4j_connector.driver().session(database=neo4j_connector.database) as session:
        with pytest.raises(ClientError):
            session.execute_read(lambda tx: tx.run(f"CREATE (:Probe_{unique})").consume())


def test_wrong_password_names_the_variables(neo4j_settings: Neo4jSettings):
    wrong = Neo4jSettings(uri=neo4j_settings.uri, user=neo4j_settings.user, password=SecretStr("not-the-password"))
    connector = Neo4jConnector(wrong)

    with pytest.raises(ConfigurationError, match="CUSTODY_NEO4J_PASSWORD"):
        connector.connect()
    connector.close()


def test_closed_port_names_the_endpoint():
    connector = Neo4jConnector(Neo4jSettings(uri="bolt://127.0.0.1:1", connection_timeout_s=2))

    with pytest.raises(ServiceUnavailableError, match="bolt://127.0.0.1:1"):
        connector.connect()
    connector.close()
