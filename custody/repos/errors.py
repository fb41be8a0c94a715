"""Errors of the repo registry and the commit protocol."""

from __future__ import annotations

from custody.errors import PermanentError, TransientError, ValidationFailed


class RepoNotFound(PermanentError):
    """No repo of this name is registered on the repos topic."""

    def __init__(self, name: str, *, topic: str) -> None:
        super().__init__(
            f"repo {name!r} is not registered on topic {topic}; "
            f"create it with `custody repo create {name} --bucket BUCKET`"
        )
        self.name = name


class InvalidRepo(ValidationFailed):
    """A repo definition cannot be registered, for example a prefix without a trailing `/`."""


class InvalidSources(ValidationFailed):
    """The files or directories given to a commit cannot be committed as they are."""


class CommitConflict(TransientError):
    """Another writer moved the repo head between our read and our write; retry from the new head."""


class FileChangedDuringCommit(TransientError):
    """A local file changed between hashing and uploading, so its recorded sha256 may not match the object."""
