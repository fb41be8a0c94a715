"""The repo registry: `RepoRegistered` events on the compacted `custody.repos` topic, keyed by repo name.

Compaction keeps the latest definition of each repo, so reading the topic from
the start to its end gives the current registry. A record with an empty value
(a tombstone) removes a repo.
"""

from __future__ import annotations

import logging


from custody.events import InvalidEvent, decode, make_event
from custody.events.catalog import RepoRegisteredEvent
from custody.events.models import RepoRegistered
from custody.kafka import DurableProducer
from custody.kafka.snapshot import read_to_end
from custody.repos.errors import InvalidRepo, RepoNotFound
from custody.settings import Settings
from custody.topics import topic

log = logging.getLogger(__name__)

REGISTRY_SOURCE = "/custody/repos"


def check_repo(repo: RepoRegistered) -> None:
    """Raise InvalidRepo when the definition cannot work as a repo."""
    if repo.prefix and not repo.prefix.endswith("/"):
        raise InvalidRepo(
            f"repo {repo.name!r}: prefix {repo.prefix!r} must end with '/', or keys such as "
            f"'{repo.prefix}x' outside the intended folder would belong to the repo; use {repo.prefix + '/'!r}"
        )
    if repo.prefix.startswith("/"):
        raise InvalidRepo(f"repo {repo.name!r}: prefix {repo.prefix!r} must not start with '/'; S3 keys have no leading slash")


class RepoRegistry:
    """Create and read repos; the constructor makes no network call."""

    def __init__(self, settings: Settings, *, timeout_s: float = 10.0) -> None:
        self.settings = settings
        self.topic = topic("custody.repos").full_name(settings.topic_prefix)
        self.timeout_s = timeout_s

    def create(self, repo: RepoRegistered) -> None:
        """Publish a repo definition and wait for Kafka's acknowledgement; a later definition replaces an earlier one."""
        check_repo(repo)
        producer = DurableProducer(self.settings.kafka, topic_prefix=self.settings.topic_prefix, client_id="custody-repos")
        event = make_event(repo, source=REGISTRY_SOURCE, subject=repo.name)
        producer.send_event(event)
        producer.close(self.timeout_s)
        log.info("repo=%s registered bucket=%s prefix=%r topic=%s", repo.name, repo.bucket, repo.prefix, self.topic)

    def get(self, name: str) -> RepoRegistered:
        """Return the current definition of one repo; raise RepoNotFound naming it."""
        repos = self.snapshot()
        if name not in repos:
            raise RepoNotFound(name, topic=self.topic)
        return repos[name]

    def list(self) -> list[RepoRegistered]:
        """Return every registered repo, sorted by name."""
        return [repo for _name, repo in sorted(self.snapshot().items())]

    def snapshot(self) -> dict[str, RepoRegistered]:
        """Read the topic from the start to its current end and return the repos by name."""
        repos: dict[str, RepoRegistered] = {}
        for message in read_to_end(self.settings.kafka, self.topic, timeout_s=self.timeout_s):
            key = (message.key() or b"").decode("utf-8", "replace")
            if message.value() is None:
                repos.pop(key, None)
            else:
                self._apply_value(message, key, repos)
        return repos

    def _apply_value(self, message, key: str, repos: dict[str, RepoRegistered]) -> None:
        try:
            event = decode(message.value())
        except InvalidEvent as exc:
            # The registry is read by every service; one bad record must not stop them.
            log.warning("topic=%s partition=%d offset=%d skipped an invalid repo record: %s", self.topic, message.partition(), message.offset(), exc)
            return
        if isinstance(event, RepoRegisteredEvent):
            repos[event.data.name] = event.data
