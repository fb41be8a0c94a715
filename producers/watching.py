"""The bucket watcher and reconciler: find object versions no commit covers, by listing the bucket.

As a watcher (`reconcile=False`) it is the only producer for stores that send
no notifications: every uncovered version is committed on the next poll. As a
reconciler (`reconcile=True`) it runs beside the notification service: a
version still uncovered `grace_s` after it was written is committed and
reported as a notification gap (an `AlertRaised` with rule `notification-gap`).

Its checkpoint is an object in the bucket, `<prefix>.custody/watcher.json`,
holding the time of the first poll and of the last complete one. Versions
written before the first poll are a backfill, committed without a gap alert.
Which versions are done is recorded by the coverage markers every commit
writes, so a poll that stops half-way resumes where it stopped, and the
checkpoint moves only after the poll's events are acknowledged.
"""

from __future__ import annotations

import json
import logging
import posixpath
from dataclasses import dataclass
from datetime import datetime, timedelta

from botocore.exceptions import ClientError

from custody.errors import PermanentError
from custody.events.envelope import utc_now
from custody.events.models import Agent, RepoRegistered
from custody.repos import layout
from custody.repos.s3errors import is_not_found, s3_errors
from custody.settings import Settings
from custody.shutdown import StopSignal
from producers.context import ProducerContext, removal_version_key
from producers.objects import ListedVersion, StoredObject
from producers.retrying import StopRequested, retry_until_stopped
from producers.settings import ProducerSettings

log = logging.getLogger(__name__)

SERVICE = "producers-watcher"
WATCHER_AGENT = Agent(kind="service_account", name="custody-watcher")


@dataclass(frozen=True)
class Checkpoint:
    """The watcher's durable state for one repo."""

    first_poll_at: datetime
    last_poll_at: datetime | None = None

    def to_json(self) -> bytes:
        return json.dumps(
            {"first_poll_at": self.first_poll_at.isoformat(), "last_poll_at": self.last_poll_at.isoformat() if self.last_poll_at else None}
        ).encode()

    @classmethod
    def from_json(cls, body: bytes) -> Checkpoint:
        try:
            document = json.loads(body)
            last = document.get("last_poll_at")
            return cls(datetime.fromisoformat(document["first_poll_at"]), datetime.fromisoformat(last) if last else None)
        except (ValueError, KeyError, TypeError) as exc:
            raise PermanentError(f"the watcher checkpoint is not valid ({exc!r}); delete it to backfill again") from exc


@dataclass
class Candidate:
    """An uncovered listing entry and the repo-relative path it has."""

    listed: ListedVersion
    path: str


class BucketWatcher:
    """Poll every repo (or the named ones) until stopped."""

    def __init__(
        self,
        settings: Settings,
        producer_settings: ProducerSettings,
        *,
        stop: StopSignal,
        reconcile: bool,
        repos: list[str] | None = None,
        interval_s: float | None = None,
        grace_s: float | None = None,
    ) -> None:
        self.stop = stop
        self.reconcile = reconcile
        self.repo_names = set(repos or [])
        self.interval_s = interval_s if interval_s is not None else producer_settings.watch_interval_s
        self.grace_s = grace_s if grace_s is not None else producer_settings.reconcile_grace_s
        self.retry_delay_s = producer_settings.retry_delay_s
        self.context = ProducerContext(settings, producer_settings, service=SERVICE)

    @property
    def counters(self):
        """Return the outcome counters (commits, removals, gaps, ...)."""
        return self.context.counters

    def run(self) -> None:
        """Poll every `interval_s` until the stop signal is set."""
        mode = "reconciler" if self.reconcile else "watcher"
        log.info("service=%s starting mode=%s interval=%.0fs grace=%.0fs", SERVICE, mode, self.interval_s, self.grace_s)
        try:
            while not self.stop.is_set():
                retry_until_stopped(self.poll_once, stop=self.stop, delay_s=self.retry_delay_s, description="bucket poll")
                self.stop.wait(self.interval_s)
        except StopRequested:
            log.info("service=%s stop requested during a retry", SERVICE)
        finally:
            self.context.close()
            log.info("service=%s stopped counters=%s", SERVICE, dict(self.counters))

    def poll_once(self) -> None:
        """List every selected repo once and commit what no commit covers yet."""
        for repo in self.context.routes.repos():
            if self.repo_names and repo.name not in self.repo_names:
                continue
            try:
                self.poll_repo(repo)
            except PermanentError as exc:
                # One broken repo (missing bucket, refused credentials) must not stop the others.
                self.context.count("failed polls")
                log.error("service=%s repo=%s poll failed: %s; trying again next poll", SERVICE, repo.name, exc)

    def poll_repo(self, repo: RepoRegistered) -> None:
        """Poll one repo: finish a pending commit, commit uncovered versions, then move the checkpoint."""
        self.context.committer.recover(repo)
        started = utc_now()
        # S3 listings give LastModified in whole seconds, so the backfill boundary
        # is rounded down: a version written in the same second counts as new.
        first_poll = started.replace(microsecond=0)
        checkpoint = self._read_checkpoint(repo) or self._write_checkpoint(repo, Checkpoint(first_poll_at=first_poll))

        candidates = self._uncovered(repo)
        ready = [c for c in candidates if self._old_enough(c.listed, started)]
        log.debug("service=%s repo=%s uncovered=%d ready=%d", SERVICE, repo.name, len(candidates), len(ready))

        for candidate in sorted((c for c in ready if c.listed.is_delete_marker), key=lambda c: c.listed.last_modified):
            self._remove(repo, candidate, checkpoint)
        creations = [c for c in ready if not c.listed.is_delete_marker]
        strategy = repo.grouping.strategy
        if strategy == "per-object":
            for candidate in sorted(creations, key=lambda c: (c.listed.last_modified, c.path)):
                self._commit_one(repo, candidate, checkpoint, started)
        elif strategy == "marker":
            for candidate in sorted(creations, key=lambda c: c.listed.last_modified):
                if posixpath.basename(candidate.path) == repo.grouping.marker:
                    self._commit_marker(repo, candidate, checkpoint, started)
        else:
            self._commit_quiet(repo, creations, candidates, checkpoint, started)

        self._write_checkpoint(repo, Checkpoint(checkpoint.first_poll_at, started))

    # Listing

    def _uncovered(self, repo: RepoRegistered) -> list[Candidate]:
        resolver = self.context.resolver
        if resolver.versioning_enabled(repo.bucket):
            listing = resolver.list_versions(repo.bucket, repo.prefix)
        else:
            listing = resolver.list_objects(repo.bucket, repo.prefix)

        covered = self.context.store(repo).covered_versions()
        candidates = []
        for listed in listing:
            path = layout.relative_path(repo, listed.key)
            if path is None or layout.is_internal(path) or self.context.routes.owner(repo.bucket, listed.key) != repo:
                continue
            if listed.is_delete_marker:
                if not listed.version_id:
                    continue
                version = removal_version_key(listed.version_id)
            else:
                version = layout.version_key(listed.version_id, listed.etag)
            if (layout.path_digest(path), version) not in covered:
                candidates.append(Candidate(listed, path))
        return candidates

    def _old_enough(self, listed: ListedVersion, now: datetime) -> bool:
        # A watcher alone commits at once; a reconciler gives notifications the grace period first.
        if not self.reconcile:
            return True
        return now - listed.last_modified >= timedelta(seconds=self.grace_s)

    def _is_gap(self, listed: ListedVersion, checkpoint: Checkpoint) -> bool:
        return self.reconcile and listed.last_modified >= checkpoint.first_poll_at

    def _via(self, listed: ListedVersion, checkpoint: Checkpoint) -> str:
        return "reconciler" if self._is_gap(listed, checkpoint) else "watcher"

    # Commits

    def _stored(self, repo: RepoRegistered, candidate: Candidate, now: datetime) -> StoredObject | None:
        """HEAD an uncovered version; None when it is gone or an explicit commit still owns it."""
        stored = self.context.resolver.head(repo.bucket, candidate.listed.key, candidate.listed.version_id)
        if stored is None:
            self.context.count("objects gone")
            return None
        young = now - stored.last_modified < timedelta(seconds=self.grace_s)
        if self.context.owned_by_explicit_commit(stored) and young:
            # The explicit commit that uploaded it is probably still running.
            self.context.count("explicit commit uploads")
            return None
        return stored

    def _commit_one(self, repo: RepoRegistered, candidate: Candidate, checkpoint: Checkpoint, now: datetime) -> None:
        stored = self._stored(repo, candidate, now)
        if stored is None:
            return
        file = self.context.file_version(candidate.path, stored)
        result = self.context.commit(repo, [file], author=WATCHER_AGENT, via=self._via(candidate.listed, checkpoint), message=f"found by listing: {candidate.path}")
        if self._is_gap(candidate.listed, checkpoint):
            self.context.report_gap(
                repo,
                candidate.path,
                version_id=stored.version_id,
                etag=stored.etag,
                last_modified=stored.last_modified,
                grace_s=self.grace_s,
                event=result.event,
                owned_by_explicit_commit=self.context.owned_by_explicit_commit(stored),
            )

    def _commit_marker(self, repo: RepoRegistered, candidate: Candidate, checkpoint: Checkpoint, now: datetime) -> None:
        stored = self._stored(repo, candidate, now)
        if stored is None:
            return
        directory = posixpath.dirname(candidate.path)
        files = self.context.directory_files(repo, f"{directory}/" if directory else "")
        if not any(f.path == candidate.path for f in files):
            files.append(self.context.file_version(candidate.path, stored))
        result = self.context.commit(
            repo, files, author=WATCHER_AGENT, via=self._via(candidate.listed, checkpoint), message=f"{repo.grouping.marker} in {directory or 'the repo root'}"
        )
        if self._is_gap(candidate.listed, checkpoint):
            self.context.report_gap(
                repo, candidate.path, version_id=stored.version_id, etag=stored.etag, last_modified=stored.last_modified, grace_s=self.grace_s, event=result.event
            )

    def _commit_quiet(
        self, repo: RepoRegistered, ready: list[Candidate], uncovered: list[Candidate], checkpoint: Checkpoint, now: datetime
    ) -> None:
        creations = [c for c in uncovered if not c.listed.is_delete_marker]
        if not ready or not creations:
            return
        newest = max(c.listed.last_modified for c in creations)
        if now - newest < timedelta(seconds=repo.grouping.quiet_window_s):
            return

        by_path: dict[str, tuple[Candidate, StoredObject]] = {}
        superseded: list[tuple[str, str]] = []
        for candidate in sorted(ready, key=lambda c: c.listed.last_modified):
            stored = self._stored(repo, candidate, now)
            if stored is None:
                continue
            if candidate.path in by_path:
                # A commit contains one version per path, so older versions are marked covered by it.
                _old, old_stored = by_path[candidate.path]
                superseded.append((candidate.path, layout.version_key(old_stored.version_id, old_stored.etag)))
            by_path[candidate.path] = (candidate, stored)
        if not by_path:
            return

        files = [self.context.file_version(c.path, stored) for c, stored in by_path.values()]
        gaps = [(c, stored) for c, stored in by_path.values() if self._is_gap(c.listed, checkpoint)]
        result = self.context.commit(
            repo,
            files,
            author=WATCHER_AGENT,
            via="reconciler" if gaps else "watcher",
            message=f"{len(files)} object(s) after {repo.grouping.quiet_window_s:g}s without new uploads",
        )
        self.context.store(repo).write_markers(superseded, result.commit_id)
        for candidate, stored in gaps:
            self.context.report_gap(
                repo, candidate.path, version_id=stored.version_id, etag=stored.etag, last_modified=stored.last_modified, grace_s=self.grace_s, event=result.event
            )

    def _remove(self, repo: RepoRegistered, candidate: Candidate, checkpoint: Checkpoint) -> None:
        via = self._via(candidate.listed, checkpoint)
        event_id = self.context.remove(
            repo,
            candidate.path,
            version_id=candidate.listed.version_id,
            delete_marker=True,
            removed_by=None,
            removed_at=candidate.listed.last_modified,
            via=via,
            causationid=None,
        )
        if self._is_gap(candidate.listed, checkpoint):
            self.context.report_gap(
                repo,
                candidate.path,
                version_id=candidate.listed.version_id,
                etag=None,
                last_modified=candidate.listed.last_modified,
                grace_s=self.grace_s,
                event=None,
                event_id=event_id,
            )

    # Checkpoint

    def _read_checkpoint(self, repo: RepoRegistered) -> Checkpoint | None:
        key = layout.watcher_checkpoint_key(repo)
        with s3_errors(f"GetObject {repo.bucket}/{key}"):
            try:
                body = self.context.client.get_object(Bucket=repo.bucket, Key=key)["Body"].read()
            except ClientError as exc:
                if is_not_found(exc):
                    return None
                raise
        return Checkpoint.from_json(body)

    def _write_checkpoint(self, repo: RepoRegistered, checkpoint: Checkpoint) -> Checkpoint:
        key = layout.watcher_checkpoint_key(repo)
        with s3_errors(f"PutObject {repo.bucket}/{key}"):
            self.context.client.put_object(Bucket=repo.bucket, Key=key, Body=checkpoint.to_json(), ContentType="application/json")
        return checkpoint
