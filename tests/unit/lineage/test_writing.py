"""Converting Neo4j driver failures into retryable and permanent Custody errors."""

from __future__ import annotations

import pytest
from neo4j.exceptions import ServiceUnavailable, SessionExpired

from lineage.exceptions import GraphUnavailableError
from lineage.writing import convert_error


@pytest.mark.parametrize("error", [ServiceUnavailable("connection refused"), SessionExpired("leader switched")])
def test_connection_failures_are_retryable(error):
    converted = convert_error(error, "writing 3 event(s)")

    assert isinstance(converted, GraphUnavailableError)
    assert "writing 3 event(s)" in str(converted)
    assert "will be retried" in str(converted)
