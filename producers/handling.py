"""Turn object notifications into commits and removals; shared by the Kafka consumer and the webhook.

Delivery is at least once, so every step is idempotent: a notification already
seen in this process is dropped at once, and after a restart the coverage
markers in the bucket show which object versions some commit already holds.
Within one batch the notifications of each object are handled in `sequencer`
order, so a creation and a deletion that arrive swapped are still recorded in
the order they happened.
"""

from __future__ import annotations

import logging
import posixpath
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from typing import TypeVar

from custody.errors import PermanentError
from custody.events.models import Agent, RepoRegistered
from custody.repos import layout, marker_items
from producers.context import ProducerContext, removal_version_key
from producers.notifications import ObjectNotification, sequencer_value
from producers.objects import StoredObject
from producers.retrying import StopRequested
from producers.routing import uploader_agent
from producers.windows import QuietWindows, Window, WindowEntry

log = logging.getLogger(__name__)

T = TypeVar("T")
Runner = Callable[[Callable[[], T], str], T]

RECENT_CAPACITY = 100_000


class MessageTicket:
    """Finishes one message once every notification in it is finished, collecting permanent problems."""

    def __init__(self, count: int, on_done: Callable[[list[str]], None], *, problems: Sequence[str] = ()) -> None:
        self.remaining = count
        self.problems = list(problems)
        self.finished = False
        self._on_done = on_done
        if count == 0:
            self._finish()

    def release(self, problem: str | None = None) -> None:
        """Finish one notification of the message, with the reason it failed if it did."""
        if problem:
            self.problems.append(problem)
        self.remaining -= 1
        if self.remaining == 0:
            self._finish()

    def _finish(self) -> None:
        self.finished = True
        self._on_done(self.problems)


class RecentNotifications:
    """The identities of the last notifications handled, oldest forgotten first."""

    def __init__(self, capacity: int = RECENT_CAPACITY) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[tuple[str, ...], None] = OrderedDict()

    def __contains__(self, identity: tuple[str, ...]) -> bool:
        return identity in self._seen

    def add(self, identity: tuple[str, ...]) -> None:
        self._seen[identity] = None
        self._seen.move_to_end(identity)
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)


def in_object_order(items: list[tuple[ObjectNotification, MessageTicket]]) -> list[tuple[ObjectNotification, MessageTicket]]:
    """Return the items with each object's notifications sorted by sequencer, objects in first-seen order."""
    first_seen: dict[tuple[str, str], int] = {}
    for index, (notification, _ticket) in enumerate(items):
        first_seen.setdefault((notification.bucket, notification.key), index)
    return sorted(items, key=lambda item: (first_seen[(item[0].bucket, item[0].key)], sequencer_value(item[0].sequencer)))


class NotificationHandler:
    """Apply each repo's grouping strategy to the notifications of its objects."""

    def __init__(self, context: ProducerContext, *, via: str, run: Runner, windows: QuietWindows | None = None) -> None:
        self.context = context
        self.via = via
        self.run = run
        self.windows = windows or QuietWindows()
        self.recent = RecentNotifications()

    def handle(self, items: list[tuple[ObjectNotification, MessageTicket]]) -> None:
        """Handle a batch; each ticket is released now, or when its quiet window is committed."""
        for notification, ticket in in_object_order(items):
            try:
                waiting = self.run(lambda: self._process(notification, ticket.release), f"notification {notification.notification_id}")
            except PermanentError as exc:
                self.context.count("failed notifications")
                log.error("notification=%s bucket=%s key=%r failed permanently: %s", notification.notification_id, notification.bucket, notification.key, exc)
                ticket.release(f"{notification.notification_id}: {exc}")
                continue
            if not waiting:
                ticket.release()

    def flush_due(self) -> int:
        """Commit every quiet window whose quiet period has passed; return the number committed."""
        flushed = 0
        for window in self.windows.due():
            try:
                self.run(lambda: self._commit_window(window), f"quiet window of repo {window.repo.name}")
            except StopRequested:
                self.windows.restore(window)
                raise
            except PermanentError as exc:
                log.error("repo=%s quiet window of %d objects failed permanently: %s", window.repo.name, len(window.entries), exc)
                for entry in window.entries:
                    entry.release(f"{entry.notification_id}: {exc}")
                continue
            for entry in window.entries:
                entry.release(None)
            flushed += 1
        return flushed

    # Steps

    def _process(self, notification: ObjectNotification, release: Callable[[str | None], None]) -> bool:
        """Handle one notification; return True when it waits in a quiet window."""
        if notification.kind == "other":
            self.context.count("ignored event types")
            log.debug("notification=%s event=%s is neither a creation nor a removal; ignored", notification.notification_id, notification.event_name)
            return False

        routed = self.context.routes.route(notification.bucket, notification.key)
        if routed is None:
            self.context.count("keys outside repos")
            log.debug("notification=%s bucket=%s key=%r belongs to no repo; ignored", notification.notification_id, notification.bucket, notification.key)
            return False
        repo, path = routed
        if layout.is_internal(path):
            self.context.count("repo state objects")
            return False
        if notification.identity() in self.recent:
            self.context.count("duplicates")
            log.debug("notification=%s repo=%s path=%r already handled; dropped", notification.notification_id, repo.name, path)
            return False

        # A writer that stopped mid-commit leaves markers unwritten; finishing its
        # commit first keeps the coverage checks below truthful.
        self.context.committer.recover(repo)
        waiting = self._dispatch(repo, path, notification, release)
        self.recent.add(notification.identity())
        return waiting

    def _dispatch(self, repo: RepoRegistered, path: str, notification: ObjectNotification, release: Callable[[str | None], None]) -> bool:
        if notification.kind == "removed":
            self._remove(repo, path, notification)
            return False

        strategy = repo.grouping.strategy
        if strategy == "per-object":
            self._commit_object(repo, path, notification)
            return False
        if strategy == "marker":
            if posixpath.basename(path) == repo.grouping.marker:
                self._commit_marker(repo, path, notification)
            else:
                self.context.count("waiting for marker")
            return False
        return self._add_to_window(repo, path, notification, release)

    def _uncovered_version(self, repo: RepoRegistered, path: str, notification: ObjectNotification) -> StoredObject | None:
        candidates = self.context.resolver.candidates(
            notification.bucket, notification.key, version_id=notification.version_id, etag=notification.etag
        )
        if not candidates:
            self.context.count("objects gone")
            log.info("notification=%s repo=%s path=%r: the object version no longer exists; nothing to commit", notification.notification_id, repo.name, path)
            return None

        stored = self.context.first_uncovered(repo, path, candidates)
        if stored is None:
            self.context.count("duplicates")
            return None
        if self.context.owned_by_explicit_commit(stored):
            self.context.count("explicit commit uploads")
            log.debug("repo=%s path=%r was uploaded by an explicit commit, which sends its own event", repo.name, path)
            return None
        return stored

    def _commit_object(self, repo: RepoRegistered, path: str, notification: ObjectNotification) -> None:
        stored = self._uncovered_version(repo, path, notification)
        if stored is None:
            return
        file = self.context.file_version(path, stored)
        self.context.commit(
            repo,
            [file],
            author=uploader_agent(notification.principal),
            via=self.via,
            notification_ids=[notification.notification_id],
            message=notification.event_name,
        )

    def _commit_marker(self, repo: RepoRegistered, path: str, notification: ObjectNotification) -> None:
        stored = self._uncovered_version(repo, path, notification)
        if stored is None:
            return

        directory = posixpath.dirname(path)
        files = self.context.directory_files(repo, f"{directory}/" if directory else "")
        if not any(f.path == path for f in files):
            # A newer marker may already have replaced this one; the marker version
            # named by the notification still belongs to the commit.
            files.append(self.context.file_version(path, stored))
        self.context.commit(
            repo,
            files,
            author=uploader_agent(notification.principal),
            via=self.via,
            notification_ids=[notification.notification_id],
            message=f"{repo.grouping.marker} in {directory or 'the repo root'}",
        )

    def _add_to_window(self, repo: RepoRegistered, path: str, notification: ObjectNotification, release: Callable[[str | None], None]) -> bool:
        stored = self._uncovered_version(repo, path, notification)
        if stored is None:
            return False
        entry = WindowEntry(
            file=self.context.file_version(path, stored),
            last_modified=stored.last_modified,
            notification_id=notification.notification_id,
            author=uploader_agent(notification.principal),
            release=release,
        )
        self.windows.add(repo, entry)
        self.context.count("waiting in quiet windows")
        return True

    def _commit_window(self, window: Window) -> None:
        repo = window.repo
        self.context.committer.recover(repo)
        newest, superseded = window.files()
        files = [f for f in newest if self.context.covering(repo, f.path, f.version_id, f.etag) is None]
        if not files:
            self.context.count("duplicates")
            return

        authors = Counter(entry.author for entry in window.entries)
        author: Agent = authors.most_common(1)[0][0]
        result = self.context.commit(
            repo,
            files,
            author=author,
            via=self.via,
            notification_ids=[entry.notification_id for entry in window.entries],
            message=f"{len(files)} object(s) after {repo.grouping.quiet_window_s:g}s without new uploads",
        )
        # NOTE: these markers follow the commit, so a crash right after it leaves
        # the superseded versions uncovered and the reconciler reports them.
        self.context.store(repo).write_markers(marker_items(superseded), result.commit_id)

    def _remove(self, repo: RepoRegistered, path: str, notification: ObjectNotification) -> None:
        version_id, delete_marker = self._removed_version(repo, path, notification)
        if version_id and self.context.store(repo).covering_commit(path, removal_version_key(version_id)):
            self.context.count("duplicates")
            return
        self.context.remove(
            repo,
            path,
            version_id=version_id,
            delete_marker=delete_marker,
            removed_by=uploader_agent(notification.principal),
            removed_at=notification.event_time,
            via=self.via,
            causationid=notification.notification_id,
        )

    def _removed_version(self, repo: RepoRegistered, path: str, notification: ObjectNotification) -> tuple[str | None, bool]:
        """Return the version a removal concerns and whether it is a delete marker."""
        version_id = layout.normalize_version_id(notification.version_id)
        if version_id:
            return version_id, notification.marks_deletion

        # The notification does not say which marker it created, so the oldest
        # delete marker no removal covers yet is the one it stands for.
        markers = [v for v in self.context.resolver.key_versions(notification.bucket, notification.key) if v.is_delete_marker]
        store = self.context.store(repo)
        for marker in sorted(markers, key=lambda v: v.last_modified):
            if marker.version_id and store.covering_commit(path, removal_version_key(marker.version_id)) is None:
                return marker.version_id, True
        if markers:
            return sorted(markers, key=lambda v: v.last_modified)[-1].version_id, True
        return None, False
