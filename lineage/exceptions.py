"""Errors of the lineage service and the audit commands.

    CustodyError
    ├── TransientError
    │   └── GraphUnavailableError   Neo4j did not take the write; retry later
    ├── PermanentError
    │   ├── GraphWriteRejected      Neo4j refused the data; retrying cannot help
    │   ├── QueryRejected           an audit query is not allowed (it writes, or loads files)
    │   └── TargetNotFound          an audit target names nothing in the graph
    └── ConfigurationError
        └── GraphAccessDenied       wrong account, database or statement: fix the setup
"""

from __future__ import annotations

from custody.errors import ConfigurationError, PermanentError, TransientError


class GraphUnavailableError(TransientError):
    """Neo4j could not be reached or asked for a retry (deadlock, leader switch, timeout)."""


class GraphWriteRejected(PermanentError):
    """Neo4j rejected a write because of the data, e.g. a value too large to index."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class GraphAccessDenied(ConfigurationError):
    """Neo4j rejected the account, the database name or a statement: no event can be written until the setup is fixed."""


class QueryRejected(PermanentError):
    """An audit query was refused, for example because it writes to the graph."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class TargetNotFound(PermanentError):
    """An audit target (S3 URI, commit id, job id, repo) matches nothing in the lineage graph."""
