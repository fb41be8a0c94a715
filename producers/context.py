"""Clients and steps shared by the notification, webhook and watcher services."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime

from custody.events import make_event
from custody.events.catalog import DataCommittedEvent
from custody.events.envelope import utc_now
from custody.events.models import Agent, AlertRaised, DataRemoved, FileVersion, RepoRegistered, UploadOrigin
from custody.kafka import DurableProducer
from custody.repos import Committer, CommitResult, RepoRegistry, RepoStore, layout
from custody.repos.uploading import TOKEN_METADATA
from custody.s3 import make_s3_client
from custody.settings import Settings
from custody.topics import topic
from producers.objects import ObjectResolver, StoredObject
from producers.routing import RepoRoutes
from producers.settings import ProducerSettings

log = logging.getLogger(__name__)

Via = str
GAP_RULE = "notification-gap"
# Coverage markers of removals hold this text and the event id instead of a commit id.
REMOVED_PREFIX = "removed:"
# Removal markers use their own version keys, because deleting one version
# permanently names the same version id its creation did.
REMOVAL_KEY_PREFIX = "rm-"


def removal_version_key(version_id: str | None) -> str:
    """Return the coverage-marker version key of a removal."""
    return REMOVAL_KEY_PREFIX + layout.version_key(version_id, None)


class ProducerContext:
    """S3 client, durable producer, committer and repo routes of one producer service; no network call here."""

    def __init__(self, settings: Settings, producer_settings: ProducerSettings, *, service: str) -> None:
        self.settings = settings
        self.producer_settings = producer_settings
        self.service = service
        self.client = make_s3_client(settings.s3)
        self.producer = DurableProducer(settings.kafka, topic_prefix=settings.topic_prefix, client_id=f"custody-{service}")
        self.committer = Committer(
            self.client,
            self.producer,
            kafka=settings.kafka,
            commits_topic=topic("custody.data.commits").full_name(settings.topic_prefix),
            pending_timeout_s=producer_settings.pending_commit_timeout_s,
        )
        self.resolver = ObjectResolver(self.client)
        self.routes = RepoRoutes(RepoRegistry(settings), refresh_s=producer_settings.registry_refresh_s)
        self.counters: Counter[str] = Counter()

    def close(self) -> None:
        """Flush the producer; records still queued are delivered or raise DeliveryError."""
        self.producer.close()

    def count(self, outcome: str, amount: int = 1) -> None:
        """Count an outcome, for logs and tests."""
        self.counters[outcome] += amount

    # Coverage

    def store(self, repo: RepoRegistered) -> RepoStore:
        """Return the state store of a repo."""
        return RepoStore(self.client, repo)

    def covering(self, repo: RepoRegistered, path: str, version_id: str | None, etag: str | None) -> str | None:
        """Return what covers one object version (a commit id or a removal), or None."""
        return self.store(repo).covering_commit(path, layout.version_key(version_id, etag))

    def first_uncovered(self, repo: RepoRegistered, path: str, candidates: Sequence[StoredObject]) -> StoredObject | None:
        """Return the oldest candidate version that no commit covers yet."""
        for stored in candidates:
            if self.covering(repo, path, stored.version_id, stored.etag) is None:
                return stored
        return None

    @staticmethod
    def owned_by_explicit_commit(stored: StoredObject) -> bool:
        """Return True for objects uploaded by `commit_files`, which sends its own commit for them."""
        return TOKEN_METADATA in stored.metadata

    # Commits

    def file_version(self, path: str, stored: StoredObject) -> FileVersion:
        """Return the file version of a stored object, reading its bytes when S3 has no SHA-256 for it."""
        return FileVersion(
            path=path,
            size=stored.size,
            sha256=self.resolver.sha256(stored),
            etag=stored.etag,
            version_id=stored.version_id,
            content_type=stored.content_type,
        )

    def commit(
        self,
        repo: RepoRegistered,
        files: Sequence[FileVersion],
        *,
        author: Agent,
        via: Via,
        notification_ids: Iterable[str] = (),
        message: str = "",
    ) -> CommitResult:
        """Commit files that arrived in storage; the first notification id becomes the causation id."""
        ids = list(notification_ids)
        origin = UploadOrigin(via=via, notification_ids=ids)  # type: ignore[arg-type]
        result = self.committer.commit(repo, files, author=author, origin=origin, message=message, causationid=ids[0] if ids else None)
        self.count("no-op commits" if result.no_op else "commits")
        return result

    def directory_files(self, repo: RepoRegistered, directory: str) -> list[FileVersion]:
        """Return the latest uncovered object versions under a repo-relative directory, as file versions.

        Objects of another repo (a longer prefix), the repo's own state and
        uploads owned by an explicit commit are left out.
        """
        store = self.store(repo)
        covered = store.covered_versions()
        files = []
        for listed in self.resolver.list_versions(repo.bucket, layout.object_key(repo, directory)):
            if not listed.is_latest or listed.is_delete_marker:
                continue
            path = layout.relative_path(repo, listed.key)
            if path is None or layout.is_internal(path) or self.routes.owner(repo.bucket, listed.key) != repo:
                continue
            if (layout.path_digest(path), layout.version_key(listed.version_id, listed.etag)) in covered:
                continue
            stored = self.resolver.head(repo.bucket, listed.key, listed.version_id)
            if stored is None or self.owned_by_explicit_commit(stored):
                continue
            files.append(self.file_version(path, stored))
        return files

    # Removals and alerts

    def remove(
        self,
        repo: RepoRegistered,
        path: str,
        *,
        version_id: str | None,
        delete_marker: bool,
        removed_by: Agent | None,
        removed_at: datetime | None,
        via: Via,
        causationid: str | None,
    ) -> str:
        """Send one DataRemoved and mark the removal covered; return the event id."""
        data = DataRemoved(
            repo=repo.name,
            bucket=repo.bucket,
            path=path,
            version_id=version_id,
            delete_marker=delete_marker,
            removed_by=removed_by,
            removed_at=removed_at or utc_now(),
            via=via,  # type: ignore[arg-type]
        )
        event = make_event(data, source=f"/custody/producers/{via}", subject=repo.name, causationid=causationid)
        self.producer.send_event(event)
        self.producer.flush()
        # NOTE: the marker is written after the acknowledgement, so a crash in
        # between sends this removal again on restart. Removals have no
        # content-addressed id that would let a reader drop the copy.
        if version_id:
            self.store(repo).write_markers([(path, removal_version_key(version_id))], f"{REMOVED_PREFIX}{event.id}")
        self.count("removals")
        log.info("repo=%s path=%r version=%s removal sent event=%s", repo.name, path, version_id, event.id)
        return event.id

    def report_gap(
        self,
        repo: RepoRegistered,
        path: str,
        *,
        version_id: str | None,
        etag: str | None,
        last_modified: datetime,
        grace_s: float,
        event: DataCommittedEvent | None,
        event_id: str | None = None,
        owned_by_explicit_commit: bool = False,
    ) -> str:
        """Send an AlertRaised (rule `notification-gap`) for an object version no notification covered."""
        version = layout.version_key(version_id, etag)
        cause = "an explicit commit that never finished uploaded it" if owned_by_explicit_commit else "no notification arrived for it"
        caused_by = event.id if event is not None else event_id
        alert = AlertRaised(
            alert_id=str(uuid.uuid4()),
            rule=GAP_RULE,
            severity="warning",
            summary=f"{repo.bucket}/{layout.object_key(repo, path)} ({version}) stayed uncovered for more than {grace_s:.0f}s: {cause}; the reconciler recorded it",
            dedupe_key=f"{GAP_RULE}:{repo.name}:{layout.path_digest(path)}:{version}",
            subject=repo.name,
            event_ids=[caused_by] if caused_by else [],
            details={
                "repo": repo.name,
                "bucket": repo.bucket,
                "path": path,
                "version_id": version_id or "",
                "etag": etag or "",
                "last_modified": last_modified.isoformat(),
                "commit_id": event.data.commit_id if event is not None else "",
                "cause": cause,
            },
        )
        alert_event = make_event(alert, source="/custody/producers/reconciler", subject=repo.name, causationid=caused_by)
        self.producer.send_event(alert_event)
        self.producer.flush()
        self.count("gaps")
        log.warning("repo=%s path=%r version=%s notification gap reported alert=%s", repo.name, path, version, alert.alert_id)
        return alert.alert_id
