"""Convert boto3 errors into Custody errors at the S3 boundary."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from custody.errors import PermanentError, ServiceUnavailableError
from custody.repos.errors import CommitConflict

NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchVersion"})
PRECONDITION_CODES = frozenset({"412", "PreconditionFailed", "ConditionalRequestConflict"})
PERMANENT_CODES = frozenset({"403", "AccessDenied", "NoSuchBucket", "InvalidAccessKeyId", "SignatureDoesNotMatch", "BadDigest"})


def error_code(exc: ClientError) -> str:
    """Return the S3 error code of a ClientError, for example `NoSuchKey`."""
    return str(exc.response.get("Error", {}).get("Code", "unknown"))


def is_not_found(exc: ClientError) -> bool:
    """Return True when the error means the key, version or object does not exist."""
    return error_code(exc) in NOT_FOUND_CODES


@contextmanager
def s3_errors(action: str) -> Iterator[None]:
    """Re-raise boto3 errors of `action` (e.g. "PutObject b/k") as Custody errors.

    A failed precondition becomes CommitConflict, a missing bucket or a refused
    credential a PermanentError, and anything else (network, 5xx, throttling)
    a ServiceUnavailableError that callers may retry.
    """
    try:
        yield
    except ClientError as exc:
        code = error_code(exc)
        if code in PRECONDITION_CODES:
            raise CommitConflict(f"{action} failed its precondition ({code}): another writer changed it first") from exc
        if code in PERMANENT_CODES:
            raise PermanentError(f"{action} failed: {code}. Check that the bucket exists and the credentials may write it.") from exc
        raise ServiceUnavailableError(f"{action} failed: {code}; retry when the S3 server is healthy") from exc
    except BotoCoreError as exc:
        raise ServiceUnavailableError(f"{action} failed: {exc}; retry when the S3 server is reachable") from exc
