"""Upload hashed local files into a repo with boto3 managed transfers.

Every object carries two metadata entries. `custody-commit-token`, unique to
one `commit_files` call, marks the object as owned by an explicit commit, so
the notification producers skip it. `custody-sha256` is for people reading
the bucket. Small files are sent with one PutObject whose SHA-256 checksum the
server verifies. Large files go through a multipart upload with per-part
SHA-256 checksums, and the composite checksum the server reports afterwards
is compared with the one computed while hashing.
"""

from __future__ import annotations

import logging
import mimetypes

from boto3.s3.transfer import TransferConfig
from botocore.client import BaseClient
from s3transfer.utils import ChunksizeAdjuster

from custody.events.models import FileVersion, RepoRegistered
from custody.repos import layout
from custody.repos.errors import CommitConflict, FileChangedDuringCommit
from custody.repos.hashing import HashedFile, composite_sha256, file_unchanged, sha256_b64
from custody.repos.progress import ProgressReporter
from custody.repos.s3errors import s3_errors

log = logging.getLogger(__name__)

TOKEN_METADATA = "custody-commit-token"
SHA256_METADATA = "custody-sha256"

MULTIPART_THRESHOLD = 16 * 1024 * 1024
PART_SIZE = 8 * 1024 * 1024
# Threads per multipart upload. Parts are read from the file lazily, so memory
# stays near this many parts in flight at most.
PART_CONCURRENCY = 4


def part_size_for(size: int) -> int | None:
    """Return the multipart part size s3transfer will use for a file of `size` bytes, or None for one PutObject."""
    if size < MULTIPART_THRESHOLD:
        return None
    return ChunksizeAdjuster().adjust_chunksize(PART_SIZE, size)


def transfer_config() -> TransferConfig:
    """Return the managed-transfer settings that `part_size_for` mirrors."""
    return TransferConfig(
        multipart_threshold=MULTIPART_THRESHOLD,
        multipart_chunksize=PART_SIZE,
        max_concurrency=PART_CONCURRENCY,
        use_threads=True,
    )


def content_type_of(path: str) -> str:
    """Return the MIME type guessed from the file name, or `application/octet-stream`."""
    guessed, _encoding = mimetypes.guess_type(path)
    return guessed or "application/octet-stream"


class Uploader:
    """Upload files of one commit; `upload` may be called from several threads."""

    def __init__(self, client: BaseClient, repo: RepoRegistered, *, token: str, progress: ProgressReporter) -> None:
        self.client = client
        self.repo = repo
        self.token = token
        self.progress = progress
        self._config = transfer_config()

    def upload(self, hashed: HashedFile) -> FileVersion:
        """Upload one file and return its file version; raise if the file changed since it was hashed."""
        key = layout.object_key(self.repo, hashed.source.path)
        content_type = content_type_of(hashed.source.path)
        metadata = {TOKEN_METADATA: self.token, SHA256_METADATA: hashed.sha256}

        if hashed.part_size is None:
            version_id, etag = self._put(hashed, key, content_type, metadata)
        else:
            version_id, etag = self._multipart(hashed, key, content_type, metadata)

        if not file_unchanged(hashed, hashed.source.local_path):
            raise FileChangedDuringCommit(
                f"{hashed.source.local_path} changed while it was being committed, so its object may not match "
                "the recorded sha256; run the commit again once the file is complete"
            )
        self.progress.file_done()
        return FileVersion(
            path=hashed.source.path,
            size=hashed.size,
            sha256=hashed.sha256,
            etag=etag,
            version_id=layout.normalize_version_id(version_id),
            content_type=content_type,
        )

    def _put(self, hashed: HashedFile, key: str, content_type: str, metadata: dict[str, str]) -> tuple[str | None, str]:
        # The server recomputes the SHA-256 and rejects the request (BadDigest) if the bytes differ.
        with open(hashed.source.local_path, "rb") as body, s3_errors(f"PutObject {self.repo.bucket}/{key}"):
            response = self.client.put_object(
                Bucket=self.repo.bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                Metadata=metadata,
                ChecksumSHA256=sha256_b64(hashed.sha256),
            )
        self.progress.advance(hashed.size)
        return response.get("VersionId"), response["ETag"]

    def _multipart(self, hashed: HashedFile, key: str, content_type: str, metadata: dict[str, str]) -> tuple[str | None, str]:
        extra = {"ContentType": content_type, "Metadata": metadata, "ChecksumAlgorithm": "SHA256"}
        with s3_errors(f"multipart upload {self.repo.bucket}/{key}"):
            self.client.upload_file(
                str(hashed.source.local_path), self.repo.bucket, key, ExtraArgs=extra, Config=self._config, Callback=self.progress.advance
            )
        with s3_errors(f"HeadObject {self.repo.bucket}/{key}"):
            head = self.client.head_object(Bucket=self.repo.bucket, Key=key, ChecksumMode="ENABLED")

        # The multipart API returns no version id, so HEAD reads it, and the
        # token proves that the latest version is still the one uploaded here.
        if head.get("Metadata", {}).get(TOKEN_METADATA) != self.token:
            raise CommitConflict(f"{self.repo.bucket}/{key} was overwritten by another writer during the commit; run it again")
        if head["ContentLength"] != hashed.size:
            raise FileChangedDuringCommit(
                f"{self.repo.bucket}/{key} contains {head['ContentLength']} bytes but the file had {hashed.size} when hashed; "
                "run the commit again once the file is complete"
            )
        reported = head.get("ChecksumSHA256")
        expected = composite_sha256(hashed.part_digests)
        if reported is not None and reported != expected:
            raise FileChangedDuringCommit(
                f"{self.repo.bucket}/{key}: the server reports checksum {reported} but the file hashed to {expected}; "
                "the file probably changed during the upload, so run the commit again"
            )
        if reported is None:
            log.debug("repo=%s key=%s no composite checksum returned; relying on size and mtime checks", self.repo.name, key)
        return head.get("VersionId"), head["ETag"]
