"""Content-addressed commit ids, shared by every path that creates a commit.

A commit id is the SHA-256 of a canonical JSON manifest of the repo name, the
parent commit and the sorted (path, size, sha256) triples of its files. Two
commits with the same content and the same parent therefore get the same id,
whichever producer made them; S3 version ids and ETags are left out because
they differ between stores for identical bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from custody.events.models import FileVersion


def manifest_document(repo: str, parent_id: str | None, files: Iterable[FileVersion]) -> dict:
    """Return the canonical manifest that a commit id is computed from."""
    entries = sorted(({"path": f.path, "size": f.size, "sha256": f.sha256} for f in files), key=lambda e: e["path"])
    return {"repo": repo, "parent": parent_id, "files": entries}


def compute_commit_id(repo: str, parent_id: str | None, files: Iterable[FileVersion]) -> str:
    """Return the hex SHA-256 commit id of the canonical manifest."""
    document = manifest_document(repo, parent_id, files)
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def content_digest(files: Iterable[FileVersion]) -> str:
    """Return a digest of the file contents alone, to tell whether a commit changes anything."""
    entries = sorted((f.path, f.sha256) for f in files)
    return hashlib.sha256(json.dumps(entries, ensure_ascii=False).encode("utf-8")).hexdigest()
