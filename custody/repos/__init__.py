"""Repos and commits: the repo registry and the commit protocol, shared by producers and processors.

A repo is a bucket plus an optional prefix, with labels and a grouping strategy
for storage notifications. A commit is an immutable, content-addressed set of
file versions. The repo's state (head, manifests, coverage markers) lives in
the bucket under `<prefix>.custody/`, and commit events go to `custody.data.commits`.
"""

from custody.repos.api import commit_files
from custody.repos.committing import CommitResult, Committer, marker_items, source_for
from custody.repos.errors import CommitConflict, FileChangedDuringCommit, InvalidRepo, InvalidSources, RepoNotFound
from custody.repos.registry import RepoRegistry, check_repo
from custody.repos.store import HeadRecord, RepoStore

__all__ = [
    "CommitConflict",
    "CommitResult",
    "Committer",
    "FileChangedDuringCommit",
    "HeadRecord",
    "InvalidRepo",
    "InvalidSources",
    "RepoNotFound",
    "RepoRegistry",
    "RepoStore",
    "check_repo",
    "commit_files",
    "marker_items",
    "source_for",
]
