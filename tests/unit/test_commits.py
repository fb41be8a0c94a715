"""Content-addressed commit ids."""

from __future__ import annotations

from custody.commits import compute_commit_id, content_digest
from custody.events.models import FileVersion

A = FileVersion(path="data/a+b.csv", size=3, sha256="1" * 64, version_id="v1", etag="e1")
B = FileVersion(path="data/a b.csv", size=4, sha256="2" * 64)


def test_id_ignores_file_order_and_store_metadata():
    relabelled = FileVersion(path=A.path, size=A.size, sha256=A.sha256, version_id="other", etag="other")

    assert compute_commit_id("r", None, [A, B]) == compute_commit_id("r", None, [B, relabelled])


def test_id_depends_on_repo_parent_and_bytes():
    base = compute_commit_id("r", None, [A])

    assert compute_commit_id("s", None, [A]) != base
    assert compute_commit_id("r", "f" * 64, [A]) != base
    assert compute_commit_id("r", None, [FileVersion(path=A.path, size=3, sha256="3" * 64)]) != base


def test_plus_and_space_are_different_files():
    assert compute_commit_id("r", None, [A]) != compute_commit_id("r", None, [FileVersion(path="data/a b.csv", size=3, sha256="1" * 64)])


def test_content_digest_ignores_parent():
    assert content_digest([A, B]) == content_digest([B, A])
    assert len(compute_commit_id("r", None, [A])) == 64
