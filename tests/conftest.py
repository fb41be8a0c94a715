"""Session fixtures: real Kafka, Neo4j and S3 for integration tests.

A fixture whose service does not answer fails the test with a message naming
the service and its endpoint; integration tests never skip.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from custody.errors import CustodyError
from custody.graphdb import Neo4jConnector
from custody.kafka.admin import probe_kafka
from custody.s3 import make_s3_client, probe_s3
from custody.settings import KafkaSettings, Neo4jSettings, S3Settings
from tests.support.backends import Backend, start_backend


@pytest.fixture(scope="session")
def backend() -> Iterator[Backend]:
    try:
        started = start_backend()
    except CustodyError as exc:
        pytest.fail(f"could not start the integration services: {exc}", pytrace=False)
    yield started
    started.close()


@pytest.fixture
def kafka_settings(backend: Backend) -> KafkaSettings:
    try:
        probe_kafka(backend.kafka, timeout_s=10)
    except CustodyError as exc:
        pytest.fail(f"Kafka unavailable ({backend.name} backend): {exc}", pytrace=False)
    return backend.kafka


@pytest.fixture
def neo4j_connector(backend: Backend) -> Iterator[Neo4jConnector]:
    connector = Neo4jConnector(backend.neo4j)
    try:
        connector.connect()
    except CustodyError as exc:
        pytest.fail(f"Neo4j unavailable ({backend.name} backend): {exc}", pytrace=False)
    yield connector
    connector.close()


@pytest.fixture
def s3_settings(backend: Backend) -> S3Settings:
    try:
        probe_s3(make_s3_client(backend.s3), backend.s3)
    except CustodyError as exc:
        pytest.fail(f"S3 unavailable ({backend.name} backend): {exc}", pytrace=False)
    return backend.s3


@pytest.fixture
def neo4j_settings(neo4j_connector: Neo4jConnector) -> Neo4jSettings:
    return neo4j_connector.settings


@pytest.fixture
def unique() -> str:
    """A short random suffix that keeps topics, buckets and node ids of one test apart."""
    return uuid.uuid4().hex[:10]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.integration)
