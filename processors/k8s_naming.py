"""Kubernetes names and label values from user-chosen pipeline, repo and job identifiers.

Rules (Kubernetes API conventions):

- an object name used for a Job is a DNS-1123 label: at most 63 characters,
  lower-case letters, digits and `-`, starting and ending with a letter or digit
  (the Job controller adds a suffix to pod names and puts the name in a label);
- a label value is empty or at most 63 characters of letters, digits, `-`, `_`
  and `.`, starting and ending with a letter or digit.

Contracts:

- `job_name` is a pure function of (pipeline, job id): a retry after an unclear
  create reaches the same name and gets 409 AlreadyExists, which means "already
  submitted". Its last 16 characters are a SHA-256 digest of both inputs, so
  two job ids give two names (a collision needs 2^32 jobs to become likely,
  and job ids are themselves SHA-256 digests).
- `label_value` returns a valid value unchanged, and otherwise a readable prefix
  followed by a digest of the full value, so two different values never share
  a label value by truncation. Full values go into annotations, which have no
  such limit.
"""

from __future__ import annotations

import hashlib
import re

MAX_LENGTH = 63
NAME_DIGEST_LENGTH = 16
LABEL_DIGEST_LENGTH = 10

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_NOT_NAME_CHARACTER = re.compile(r"[^a-z0-9-]+")
_NOT_LABEL_CHARACTER = re.compile(r"[^A-Za-z0-9_.-]+")
_EDGE_NOT_ALNUM = re.compile(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$")


def is_dns_label(value: str) -> bool:
    """Return True when `value` is a valid DNS-1123 label."""
    return len(value) <= MAX_LENGTH and _DNS_LABEL.match(value) is not None


def is_label_value(value: str) -> bool:
    """Return True when `value` is a valid Kubernetes label value."""
    return len(value) <= MAX_LENGTH and _LABEL_VALUE.match(value) is not None


def _digest(*parts: str, length: int) -> str:
    # A NUL separator keeps ("ab", "c") and ("a", "bc") apart.
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:length]


def _trim_edges(value: str) -> str:
    return _EDGE_NOT_ALNUM.sub("", value)


def job_name(pipeline: str, job_id: str, *, prefix: str = "") -> str:
    """Return the Job name of one job: `<prefix><pipeline, shortened>-<digest>`, at most 63 characters.

    The pipeline part is lower-cased, characters outside `a-z0-9-` become `-`,
    and it is cut so that the whole name fits; a cut that leaves a `-` at the
    end drops it. An empty part (a name of symbols only) is left out.
    """
    digest = _digest(pipeline, job_id, length=NAME_DIGEST_LENGTH)

    readable = _NOT_NAME_CHARACTER.sub("-", (prefix + pipeline).lower())
    room = MAX_LENGTH - len(digest) - 1
    readable = _trim_edges(_trim_edges(readable)[:room])

    name = f"{readable}-{digest}" if readable else digest
    # The digest is hex, so the name ends with a letter or digit; the check
    # guards the rules above against a future edit.
    assert is_dns_label(name), name
    return name


def label_value(value: str) -> str:
    """Return `value` if it is a valid label value, otherwise a valid value unique to it."""
    if is_label_value(value):
        return value

    digest = _digest(value, length=LABEL_DIGEST_LENGTH)
    readable = _NOT_LABEL_CHARACTER.sub("-", value)
    room = MAX_LENGTH - len(digest) - 1
    readable = _trim_edges(_trim_edges(readable)[:room])

    result = f"{readable}-{digest}" if readable else digest
    assert is_label_value(result), result
    return result
