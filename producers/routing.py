"""Find the repo an object key belongs to, from a periodically refreshed copy of the repo registry."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

from custody.events.models import Agent, RepoRegistered
from custody.repos import RepoRegistry, layout

log = logging.getLogger(__name__)

# A key with no repo makes the routes re-read the registry, at most this often,
# so a repo created after the service started is picked up quickly.
MISS_REFRESH_S = 5.0
_AGENT_NAME_INVALID = re.compile(r"[^A-Za-z0-9._@+-]+")


class RepoRoutes:
    """Map (bucket, key) to a repo and a repo-relative path; the longest matching prefix wins."""

    def __init__(
        self,
        registry: RepoRegistry,
        *,
        refresh_s: float,
        miss_refresh_s: float = MISS_REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.refresh_s = refresh_s
        self.miss_refresh_s = miss_refresh_s
        self._clock = clock
        self._repos: dict[str, list[RepoRegistered]] = {}
        self._loaded_at: float | None = None

    def repos(self) -> list[RepoRegistered]:
        """Return every registered repo, re-reading the registry when the copy is older than `refresh_s`."""
        self._refresh_if_older_than(self.refresh_s)
        return [repo for repos in self._repos.values() for repo in repos]

    def route(self, bucket: str, key: str) -> tuple[RepoRegistered, str] | None:
        """Return the repo owning `key` and the repo-relative path, or None for keys of no repo."""
        self._refresh_if_older_than(self.refresh_s)
        found = self._match(bucket, key)
        if found is None:
            self._refresh_if_older_than(self.miss_refresh_s)
            found = self._match(bucket, key)
        return found

    def owner(self, bucket: str, key: str) -> RepoRegistered | None:
        """Return the repo owning `key` without refreshing, for keys listed from a known repo."""
        found = self._match(bucket, key)
        return found[0] if found else None

    def set_repos(self, repos: list[RepoRegistered]) -> None:
        """Replace the copy of the registry."""
        by_bucket: dict[str, list[RepoRegistered]] = {}
        for repo in repos:
            by_bucket.setdefault(repo.bucket, []).append(repo)
        for bucket_repos in by_bucket.values():
            bucket_repos.sort(key=lambda repo: len(repo.prefix), reverse=True)
        self._repos = by_bucket
        self._loaded_at = self._clock()

    def _refresh_if_older_than(self, age_s: float) -> None:
        if self._loaded_at is not None and self._clock() - self._loaded_at < age_s:
            return
        repos = self.registry.list()
        self.set_repos(repos)
        log.debug("repo routes refreshed repos=%d", len(repos))

    def _match(self, bucket: str, key: str) -> tuple[RepoRegistered, str] | None:
        for repo in self._repos.get(bucket, []):
            path = layout.relative_path(repo, key)
            if path is not None:
                return repo, path
        return None


def uploader_agent(principal: str | None) -> Agent:
    """Return the agent of an upload from the principal a notification names.

    S3 principals are credentials (an access key, an IAM user or role), so they
    are service accounts; characters Agent names cannot hold become `-`.
    """
    name = _AGENT_NAME_INVALID.sub("-", principal or "").strip("-._@+")
    return Agent(kind="service_account", name=name or "unknown-uploader")
