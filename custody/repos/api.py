"""`commit_files`: commit local files and directories to a repo in one `DataCommitted`."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from custody.commits import content_digest
from custody.events.models import Agent, FileVersion, JobOrigin, RepoRegistered, UploadOrigin
from custody.kafka import DurableProducer
from custody.repos.committing import CommitResult, Committer
from custody.repos.hashing import HashedFile, hash_file
from custody.repos.progress import ProgressReporter, make_progress
from custody.repos.registry import RepoRegistry
from custody.repos.sources import LocalFile, collect_sources
from custody.repos.uploading import Uploader, part_size_for
from custody.s3 import make_s3_client
from custody.settings import Settings
from custody.topics import topic

log = logging.getLogger(__name__)

# Files hashed or uploaded at once. Each worker uses one read block, and a
# multipart upload adds its own part threads, so memory stays bounded.
FILE_WORKERS = 8

T = TypeVar("T")
R = TypeVar("R")


def commit_files(
    settings: Settings,
    repo: RepoRegistered | str,
    sources: Sequence[str | os.PathLike[str]],
    *,
    author: Agent,
    message: str = "",
    origin: UploadOrigin | JobOrigin,
    causationid: str | None = None,
    progress: bool = False,
) -> CommitResult:
    """Upload files and directories to `repo` and send one DataCommitted for the whole set.

    Directories are walked and their files committed under paths relative to
    the directory; a file is committed under its name. Paths are never decoded.
    Content identical to the repo head is a no-op: nothing is uploaded, no
    event is sent and the result has `no_op=True`. Raises RepoNotFound,
    InvalidSources, FileChangedDuringCommit, CommitConflict, or a transient
    error when S3 or Kafka is unreachable.
    """
    if isinstance(repo, str):
        repo = RepoRegistry(settings).get(repo)
    files = collect_sources(sources, prefix=repo.prefix)
    reporter = make_progress(progress)
    client = make_s3_client(settings.s3)
    producer = DurableProducer(settings.kafka, topic_prefix=settings.topic_prefix, client_id="custody-commit")
    committer = Committer(
        client, producer, kafka=settings.kafka, commits_topic=topic("custody.data.commits").full_name(settings.topic_prefix)
    )

    try:
        hashed = _hash_all(files, reporter)
        head = committer.head(repo)
        unchanged = head is not None and head.content_digest == content_digest(_unversioned(hashed))
        if unchanged:
            log.info("repo=%s commit=%s content equals the head; nothing uploaded or sent", repo.name, head.commit_id[:12])
            return CommitResult(head.commit_id, None, True, None)

        uploader = Uploader(client, repo, token=uuid.uuid4().hex, progress=reporter)
        reporter.start("upload", total_bytes=sum(h.size for h in hashed), total_files=len(hashed))
        versions = _in_parallel(uploader.upload, hashed)
        result = committer.commit(repo, versions, author=author, origin=origin, message=message, causationid=causationid)
    finally:
        reporter.finish()
        producer.close()

    log.info("repo=%s commit=%s files=%d committed", repo.name, result.commit_id[:12], len(files))
    return result


def _hash_all(files: list[LocalFile], reporter: ProgressReporter) -> list[HashedFile]:
    sizes = [f.local_path.stat().st_size for f in files]
    reporter.start("hash", total_bytes=sum(sizes), total_files=len(files))

    def hash_one(item: tuple[LocalFile, int]) -> HashedFile:
        source, size = item
        hashed = hash_file(source, part_size=part_size_for(size), on_bytes=reporter.advance)
        reporter.file_done()
        return hashed

    return _in_parallel(hash_one, list(zip(files, sizes)))


def _unversioned(hashed: list[HashedFile]) -> list[FileVersion]:
    return [FileVersion(path=h.source.path, size=h.size, sha256=h.sha256) for h in hashed]


def _in_parallel(function: Callable[[T], R], items: list[T]) -> list[R]:
    """Apply `function` to every item on a small thread pool, in order; the first error cancels the rest."""
    with ThreadPoolExecutor(max_workers=min(FILE_WORKERS, len(items)), thread_name_prefix="commit") as pool:
        futures = [pool.submit(function, item) for item in items]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise
