"""Custody's exception hierarchy.

Errors from Kafka, Neo4j, boto3 and Kubernetes are converted into these at the
boundary and chained with `from`, so callers decide by type: a `TransientError`
may succeed when retried after `retry_after_s`, a `PermanentError` never will.
"""

from __future__ import annotations


class CustodyError(Exception):
    """Root of every error Custody raises on purpose."""


class ConfigurationError(CustodyError):
    """A setting is missing or invalid; the message names the variable and the fix."""


class StackError(CustodyError):
    """A local-stack service could not be installed, started or stopped."""


class TransientError(CustodyError):
    """A failure that may pass when retried, such as an unreachable server."""

    def __init__(self, message: str, *, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PermanentError(CustodyError):
    """A failure that retrying cannot fix, such as invalid input."""


class ServiceUnavailableError(TransientError):
    """A server (Kafka, Neo4j, S3, kube-apiserver) did not answer at its endpoint."""


class DeliveryError(TransientError):
    """Kafka did not acknowledge a produced record."""


class ValidationFailed(PermanentError):
    """An event or spec failed validation; the message names the field and the value."""
