"""Read and write a repo's state objects (HEAD, manifests, coverage markers) in its bucket."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from custody.events import decode
from custody.events.catalog import DataCommittedEvent
from custody.events.codec import encode
from custody.errors import PermanentError
from custody.events.models import RepoRegistered
from custody.repos import layout
from custody.repos.s3errors import is_not_found, s3_errors

log = logging.getLogger(__name__)

JSON = "application/json"
# Markers are tiny PUTs, so a few parallel requests hide most of the round-trip time.
MARKER_WRITERS = 8


@dataclass(frozen=True)
class HeadRecord:
    """The repo head: its commit, and whether that commit's event reached Kafka.

    `pending` means the head was claimed for the commit but the event may not
    have been acknowledged yet. If its writer dies, the next writer or the
    watcher finishes the commit.
    """

    commit_id: str
    state: Literal["pending", "emitted"]
    event_id: str
    claimed_at: datetime
    content_digest: str
    # The whole commit event while pending, so that any process can finish the commit.
    event_json: str | None = None
    etag: str | None = None

    def to_json(self) -> bytes:
        """Return the HEAD object body."""
        document = {
            "commit_id": self.commit_id,
            "state": self.state,
            "event_id": self.event_id,
            "claimed_at": self.claimed_at.isoformat(),
            "content_digest": self.content_digest,
        }
        if self.state == "pending":
            document["event"] = self.event_json
        return json.dumps(document, sort_keys=True).encode()

    @classmethod
    def from_json(cls, body: bytes, *, etag: str | None) -> HeadRecord:
        """Parse a HEAD object body; raise PermanentError naming the problem."""
        try:
            document = json.loads(body)
            return cls(
                commit_id=document["commit_id"],
                state=document["state"],
                event_id=document["event_id"],
                claimed_at=datetime.fromisoformat(document["claimed_at"]),
                content_digest=document["content_digest"],
                event_json=document.get("event"),
                etag=etag,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise PermanentError(f"the repo HEAD object is not valid ({exc!r}); restore it from the latest manifest") from exc

    def emitted(self) -> HeadRecord:
        """Return this record marked as emitted."""
        return replace(self, state="emitted", event_json=None)

    def pending_event(self) -> DataCommittedEvent:
        """Return the commit event carried by a pending head."""
        if self.event_json is None:
            raise PermanentError(f"the pending repo HEAD of commit {self.commit_id} contains no event; restore it from the manifest")
        event = decode(self.event_json)
        if not isinstance(event, DataCommittedEvent):
            raise PermanentError(f"the pending repo HEAD of commit {self.commit_id} contains a {event.type} event")
        return event


class RepoStore:
    """State objects of one repo; every method makes its requests immediately."""

    def __init__(self, client: BaseClient, repo: RepoRegistered) -> None:
        self.client = client
        self.repo = repo

    # HEAD

    def read_head(self) -> HeadRecord | None:
        """Return the head, or None for a repo with no commit yet."""
        key = layout.head_key(self.repo)
        with s3_errors(f"GetObject {self.repo.bucket}/{key}"):
            try:
                response = self.client.get_object(Bucket=self.repo.bucket, Key=key)
            except ClientError as exc:
                if is_not_found(exc):
                    return None
                raise
            body = response["Body"].read()
        return HeadRecord.from_json(body, etag=response.get("ETag"))

    def write_head(self, record: HeadRecord, *, expected_etag: str | None) -> HeadRecord:
        """Write the head only if it is unchanged since it was read; return it with its new ETag.

        `expected_etag` None means "there must be no head yet". Raises
        CommitConflict when another writer got there first.
        """
        key = layout.head_key(self.repo)
        condition = {"IfMatch": expected_etag} if expected_etag else {"IfNoneMatch": "*"}
        with s3_errors(f"PutObject {self.repo.bucket}/{key}"):
            response = self.client.put_object(
                Bucket=self.repo.bucket, Key=key, Body=record.to_json(), ContentType=JSON, **condition
            )
        return replace(record, etag=response.get("ETag"))

    # Manifests

    def write_manifest(self, event: DataCommittedEvent) -> str:
        """Store the commit event as the commit's manifest; return its key."""
        key = layout.manifest_key(self.repo, event.data.commit_id)
        with s3_errors(f"PutObject {self.repo.bucket}/{key}"):
            self.client.put_object(Bucket=self.repo.bucket, Key=key, Body=encode(event), ContentType=JSON)
        return key

    def read_manifest(self, commit_id: str) -> DataCommittedEvent:
        """Return the commit event stored as a manifest; raise PermanentError if it is missing or invalid."""
        key = layout.manifest_key(self.repo, commit_id)
        with s3_errors(f"GetObject {self.repo.bucket}/{key}"):
            try:
                body = self.client.get_object(Bucket=self.repo.bucket, Key=key)["Body"].read()
            except ClientError as exc:
                if is_not_found(exc):
                    raise PermanentError(f"manifest {key} of repo {self.repo.name} is missing") from exc
                raise
        event = decode(body)
        if not isinstance(event, DataCommittedEvent):
            raise PermanentError(f"manifest {key} contains a {event.type} event instead of a commit")
        return event

    # Coverage markers

    def write_markers(self, versions: Iterable[tuple[str, str]], commit_id: str) -> int:
        """Mark each (path, version key) as covered by `commit_id`; return the number written."""
        items = list(versions)
        if not items:
            return 0

        def write(item: tuple[str, str]) -> None:
            path, version = item
            key = layout.marker_key(self.repo, path, version)
            with s3_errors(f"PutObject {self.repo.bucket}/{key}"):
                self.client.put_object(Bucket=self.repo.bucket, Key=key, Body=commit_id.encode(), ContentType="text/plain")

        with ThreadPoolExecutor(max_workers=min(MARKER_WRITERS, len(items)), thread_name_prefix="markers") as pool:
            list(pool.map(write, items))
        return len(items)

    def covering_commit(self, path: str, version: str) -> str | None:
        """Return the commit that covers one object version, or None if none does."""
        key = layout.marker_key(self.repo, path, version)
        with s3_errors(f"GetObject {self.repo.bucket}/{key}"):
            try:
                body = self.client.get_object(Bucket=self.repo.bucket, Key=key)["Body"].read()
            except ClientError as exc:
                if is_not_found(exc):
                    return None
                raise
        return body.decode() or None

    def covered_versions(self) -> set[tuple[str, str]]:
        """Return every covered (path digest, version key) pair, listing the markers in pages."""
        prefix = layout.covered_prefix(self.repo)
        covered: set[tuple[str, str]] = set()
        paginator = self.client.get_paginator("list_objects_v2")
        with s3_errors(f"ListObjectsV2 {self.repo.bucket}/{prefix}"):
            for page in paginator.paginate(Bucket=self.repo.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    digest, _, version = item["Key"][len(prefix):].partition("/")
                    covered.add((digest, version))
        return covered
