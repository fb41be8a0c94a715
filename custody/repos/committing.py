"""The commit protocol: one content-addressed commit per call, sent exactly once.

Each commit moves the repo head (an object in the bucket) with a conditional
write, so two writers never build on the same parent unnoticed:

1. Read HEAD. If it is `pending`, wait for its writer, or finish the commit
   (steps 4 and 5) when that writer died.
2. Compute the commit from the parent and the files. Content identical to the
   head's commit is a no-op.
3. Claim HEAD as `pending`, carrying the whole event, with If-Match on the ETag
   read in step 1 (If-None-Match for the first commit). A failed precondition
   means another writer committed first, so the loop starts again at step 1.
4. Write the manifest, send the event and wait for Kafka's acknowledgement.
5. Write one coverage marker per file version, then mark HEAD `emitted`.

A pending head normally belongs to a writer that is still working, so other
writers, and coverage checks, wait for it. Once it is older than
`pending_timeout_s`, its writer is taken to have died, and whoever touches the
repo next finishes the commit: it sends the event only if Kafka has no record
with its id since the claim, so the commit is neither lost nor sent twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from botocore.client import BaseClient

from custody.commits import compute_commit_id, content_digest
from custody.events import make_event
from custody.events.catalog import DataCommittedEvent
from custody.events.envelope import utc_now
from custody.events.models import Agent, DataCommitted, FileVersion, JobOrigin, RepoRegistered, UploadOrigin
from custody.kafka import DurableProducer
from custody.repos import layout
from custody.repos.emissions import event_was_sent
from custody.repos.errors import CommitConflict
from custody.repos.store import HeadRecord, RepoStore
from custody.settings import KafkaSettings

log = logging.getLogger(__name__)

DEFAULT_ATTEMPTS = 8
# A writer needs well under a second from claim to acknowledgement. Writing
# the markers afterwards takes about a millisecond per file on the local stack.
# A pending head older than this is taken to be left by a writer that died.
# NOTE: a writer can stall longer than this between claim and send, for
# example in a frozen VM. Another process then finishes its commit, and the
# stalled writer sends the same event (same event id and commit id) again.
DEFAULT_PENDING_TIMEOUT_S = 30.0
PENDING_POLL_S = 0.2


@dataclass(frozen=True)
class CommitResult:
    """Outcome of a commit: its id, the event sent (None for a no-op) and whether it was a no-op."""

    commit_id: str
    event: DataCommittedEvent | None
    no_op: bool
    manifest_key: str | None = None


def source_for(origin: UploadOrigin | JobOrigin) -> str:
    """Return the CloudEvents `source` of a commit made through `origin`."""
    if isinstance(origin, JobOrigin):
        return "/custody/processors"
    if origin.via in ("cli", "api"):
        return f"/custody/{origin.via}"
    return f"/custody/producers/{origin.via}"


def marker_items(files: Sequence[FileVersion]) -> list[tuple[str, str]]:
    """Return the (path, version key) pairs of the files that carry an S3 identity."""
    return [(f.path, layout.version_key(f.version_id, f.etag)) for f in files if f.version_id or f.etag]


class Committer:
    """Run the commit protocol against one S3 client and one durable producer."""

    def __init__(
        self,
        client: BaseClient,
        producer: DurableProducer,
        *,
        kafka: KafkaSettings,
        commits_topic: str,
        max_attempts: int = DEFAULT_ATTEMPTS,
        pending_timeout_s: float = DEFAULT_PENDING_TIMEOUT_S,
    ) -> None:
        self.client = client
        self.producer = producer
        self.kafka = kafka
        self.commits_topic = commits_topic
        self.max_attempts = max_attempts
        self.pending_timeout_s = pending_timeout_s

    def head(self, repo: RepoRegistered) -> HeadRecord | None:
        """Return the repo head once it is not pending: wait for a live writer, finish a dead one's commit."""
        store = RepoStore(self.client, repo)
        while True:
            head = store.read_head()
            if head is None or head.state == "emitted":
                return head
            if utc_now() - head.claimed_at >= timedelta(seconds=self.pending_timeout_s):
                return self._finish(store, head)
            time.sleep(PENDING_POLL_S)

    def recover(self, repo: RepoRegistered) -> None:
        """Wait for a pending commit to complete, or finish it when its writer died."""
        self.head(repo)

    def commit(
        self,
        repo: RepoRegistered,
        files: Sequence[FileVersion],
        *,
        author: Agent,
        origin: UploadOrigin | JobOrigin,
        message: str = "",
        causationid: str | None = None,
        source: str | None = None,
    ) -> CommitResult:
        """Commit `files` to `repo` on top of its head; return the result.

        Files whose content equals the head commit's make a no-op; their
        versions are still marked as covered by the head commit. Raises
        CommitConflict when other writers keep moving the head.
        """
        if not files:
            raise ValueError("a commit needs at least one file")
        store = RepoStore(self.client, repo)
        digest = content_digest(files)

        for attempt in range(1, self.max_attempts + 1):
            head = self.head(repo)
            if head is not None and head.content_digest == digest:
                store.write_markers(marker_items(files), head.commit_id)
                log.info("repo=%s commit=%s content equals the head; nothing to commit", repo.name, head.commit_id[:12])
                return CommitResult(head.commit_id, None, True, layout.manifest_key(repo, head.commit_id))

            event = self._build_event(repo, files, head, author=author, origin=origin, message=message, causationid=causationid, source=source)
            claim = HeadRecord(
                commit_id=event.data.commit_id,
                state="pending",
                event_id=event.id,
                claimed_at=utc_now(),
                content_digest=digest,
                event_json=event.model_dump_json(),
            )
            try:
                claimed = store.write_head(claim, expected_etag=head.etag if head else None)
            except CommitConflict:
                # Another writer moved the head after we read it; build on its commit instead.
                log.info("repo=%s head moved during commit attempt=%d; retrying from the new head", repo.name, attempt)
                continue

            self._complete(store, claimed, event, already_sent=False)
            return CommitResult(event.data.commit_id, event, False, event.data.manifest_key)

        raise CommitConflict(
            f"repo {repo.name}: the head kept moving during {self.max_attempts} commit attempts; "
            "another writer is committing to it continuously, retry later"
        )

    def _build_event(
        self,
        repo: RepoRegistered,
        files: Sequence[FileVersion],
        head: HeadRecord | None,
        *,
        author: Agent,
        origin: UploadOrigin | JobOrigin,
        message: str,
        causationid: str | None,
        source: str | None,
    ) -> DataCommittedEvent:
        parent = head.commit_id if head else None
        commit_id = compute_commit_id(repo.name, parent, files)
        data = DataCommitted(
            repo=repo.name,
            bucket=repo.bucket,
            prefix=repo.prefix,
            commit_id=commit_id,
            parent_id=parent,
            files=sorted(files, key=lambda f: f.path),
            author=author,
            committed_at=utc_now(),
            message=message,
            labels=list(repo.labels),
            origin=origin,
            manifest_key=layout.manifest_key(repo, commit_id),
        )
        event = make_event(data, source=source or source_for(origin), subject=repo.name, causationid=causationid)
        assert isinstance(event, DataCommittedEvent)
        return event

    def _finish(self, store: RepoStore, head: HeadRecord) -> HeadRecord:
        event = head.pending_event()
        sent = event_was_sent(self.kafka, self.commits_topic, event.id, since=head.claimed_at)
        log.warning(
            "repo=%s commit=%s was left pending by a stopped writer; finishing it (event already sent: %s)",
            store.repo.name, head.commit_id[:12], sent,
        )
        return self._complete(store, head, event, already_sent=sent)

    def _complete(self, store: RepoStore, claimed: HeadRecord, event: DataCommittedEvent, *, already_sent: bool) -> HeadRecord:
        store.write_manifest(event)
        if not already_sent:
            topic = self.producer.send_event(event)
            self.producer.flush()
            log.info(
                "repo=%s commit=%s files=%d sent to topic=%s",
                store.repo.name, event.data.commit_id[:12], len(event.data.files), topic,
            )
        store.write_markers(marker_items(event.data.files), event.data.commit_id)

        try:
            return store.write_head(claimed.emitted(), expected_etag=claimed.etag)
        except CommitConflict:
            # Another process finished this same commit first; its head is just as good.
            log.info("repo=%s commit=%s was marked emitted by another process", store.repo.name, event.data.commit_id[:12])
            current = store.read_head()
            assert current is not None
            return current
