"""Key layout of a repo's own state inside its bucket, under `<prefix>.custody/`.

    <prefix>.custody/HEAD                               the head commit and its emission state (JSON)
    <prefix>.custody/commits/<commit id>.json           the DataCommitted event of each commit
    <prefix>.custody/covered/<sha256 of path>/<version> marker: this object version is covered by a commit

Objects under `.custody/` are never data: every producer ignores them, and an
explicit commit rejects paths that start with it.
"""

from __future__ import annotations

import hashlib
from urllib.parse import quote

from custody.events.models import RepoRegistered

STATE_DIR = ".custody/"
HEAD_NAME = "HEAD"
COMMITS_DIR = "commits/"
COVERED_DIR = "covered/"
WATCHER_NAME = "watcher.json"


def is_internal(path: str) -> bool:
    """Return True for a repo-relative path inside the repo's own state directory."""
    return path == STATE_DIR.rstrip("/") or path.startswith(STATE_DIR)


def relative_path(repo: RepoRegistered, key: str) -> str | None:
    """Return the key relative to the repo prefix, or None when the key lies outside the repo."""
    if not key.startswith(repo.prefix):
        return None
    path = key[len(repo.prefix):]
    return path or None


def object_key(repo: RepoRegistered, path: str) -> str:
    """Return the bucket key of a repo-relative path."""
    return f"{repo.prefix}{path}"


def state_prefix(repo: RepoRegistered) -> str:
    """Return the key prefix of the repo's state directory."""
    return f"{repo.prefix}{STATE_DIR}"


def head_key(repo: RepoRegistered) -> str:
    """Return the key of the repo's HEAD object."""
    return f"{state_prefix(repo)}{HEAD_NAME}"


def manifest_key(repo: RepoRegistered, commit_id: str) -> str:
    """Return the key of one commit's manifest."""
    return f"{state_prefix(repo)}{COMMITS_DIR}{commit_id}.json"


def watcher_checkpoint_key(repo: RepoRegistered) -> str:
    """Return the key of the bucket watcher's checkpoint for this repo."""
    return f"{state_prefix(repo)}{WATCHER_NAME}"


def covered_prefix(repo: RepoRegistered) -> str:
    """Return the key prefix under which coverage markers live."""
    return f"{state_prefix(repo)}{COVERED_DIR}"


def path_digest(path: str) -> str:
    """Return the hex SHA-256 of a repo-relative path, so any path fits in one key segment."""
    return hashlib.sha256(path.encode("utf-8")).hexdigest()


def version_key(version_id: str | None, etag: str | None) -> str:
    """Return the identity of one object version inside a marker key.

    A versioned bucket has a version id. An unversioned one reports none (or the
    literal `null`), so its ETag identifies the version instead. Rewriting the
    same bytes then counts as the same version.
    """
    if version_id and version_id != "null":
        return "v-" + quote(version_id, safe="")
    if etag:
        return "e-" + quote(etag.strip('"'), safe="")
    raise ValueError("an object version needs a version id or an ETag")


def marker_key(repo: RepoRegistered, path: str, version: str) -> str:
    """Return the key of the coverage marker of one object version (`version` from `version_key`)."""
    return f"{covered_prefix(repo)}{path_digest(path)}/{version}"


def normalize_version_id(version_id: str | None) -> str | None:
    """Return None for a missing version id and for the literal `null` of unversioned buckets."""
    if not version_id or version_id == "null":
        return None
    return version_id
