"""Look up object versions in S3: the version a notification meant, listings, and SHA-256 of the bytes.

Notifications do not always name the version. The Versity gateway v1.8.0 sends
`versionId: null` for PutObject and for deletions and `size: 0` for multipart
completions, copies and deletions, so every created object is read back with
HEAD (or found by ETag among the key's versions) before it is committed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from custody.errors import PermanentError
from custody.repos.hashing import sha256_hex_from_b64, sha256_of_stream
from custody.repos.s3errors import is_not_found, s3_errors

log = logging.getLogger(__name__)

READ_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ListedVersion:
    """One entry of a bucket listing: an object version or a delete marker."""

    key: str
    version_id: str | None
    etag: str | None
    size: int
    last_modified: datetime
    is_latest: bool
    is_delete_marker: bool = False


@dataclass(frozen=True)
class StoredObject:
    """One object version as HEAD returned it."""

    bucket: str
    key: str
    version_id: str | None
    etag: str
    size: int
    last_modified: datetime
    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    checksum_sha256: str | None = None
    checksum_type: str | None = None


def _version_id(value: str | None) -> str | None:
    return None if not value or value == "null" else value


class ObjectResolver:
    """S3 reads behind the producers; every method makes its requests immediately."""

    def __init__(self, client: BaseClient) -> None:
        self.client = client

    def head(self, bucket: str, key: str, version_id: str | None = None) -> StoredObject | None:
        """Return one version (the latest when `version_id` is None), or None if it no longer exists."""
        arguments = {"Bucket": bucket, "Key": key, "ChecksumMode": "ENABLED"}
        if version_id:
            arguments["VersionId"] = version_id
        with s3_errors(f"HeadObject {bucket}/{key}"):
            try:
                response = self.client.head_object(**arguments)
            except ClientError as exc:
                if is_not_found(exc):
                    return None
                raise
        return StoredObject(
            bucket=bucket,
            key=key,
            version_id=_version_id(response.get("VersionId")),
            etag=response["ETag"],
            size=response["ContentLength"],
            last_modified=response["LastModified"],
            content_type=response.get("ContentType"),
            metadata=dict(response.get("Metadata", {})),
            checksum_sha256=response.get("ChecksumSHA256"),
            checksum_type=response.get("ChecksumType"),
        )

    def candidates(self, bucket: str, key: str, *, version_id: str | None, etag: str | None) -> list[StoredObject]:
        """Return the versions a creation notification may refer to, oldest first.

        With a version id that is exactly one version. With only an ETag it is
        every version of the key with that ETag, because rewriting identical
        bytes gives several. With neither it is the latest version.
        """
        version_id = _version_id(version_id)
        if version_id:
            found = self.head(bucket, key, version_id)
            return [found] if found else []
        if not etag:
            found = self.head(bucket, key)
            return [found] if found else []

        wanted = etag.strip('"')
        listed = [v for v in self.key_versions(bucket, key) if not v.is_delete_marker and (v.etag or "").strip('"') == wanted]
        listed.sort(key=lambda v: v.last_modified)
        found_objects = []
        for item in listed:
            found = self.head(bucket, key, item.version_id)
            if found is not None:
                found_objects.append(found)
        return found_objects

    def key_versions(self, bucket: str, key: str) -> list[ListedVersion]:
        """Return the versions and delete markers of exactly `key`, newest first as S3 lists them."""
        return [v for v in self.list_versions(bucket, key) if v.key == key]

    def list_versions(self, bucket: str, prefix: str) -> Iterator[ListedVersion]:
        """Yield every version and delete marker under `prefix`, page by page."""
        paginator = self.client.get_paginator("list_object_versions")
        with s3_errors(f"ListObjectVersions {bucket}/{prefix}"):
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Versions", []):
                    yield ListedVersion(
                        key=item["Key"],
                        version_id=_version_id(item.get("VersionId")),
                        etag=item.get("ETag"),
                        size=item.get("Size", 0),
                        last_modified=item["LastModified"],
                        is_latest=item.get("IsLatest", True),
                    )
                for item in page.get("DeleteMarkers", []):
                    yield ListedVersion(
                        key=item["Key"],
                        version_id=_version_id(item.get("VersionId")),
                        etag=None,
                        size=0,
                        last_modified=item["LastModified"],
                        is_latest=item.get("IsLatest", True),
                        is_delete_marker=True,
                    )

    def list_objects(self, bucket: str, prefix: str) -> Iterator[ListedVersion]:
        """Yield the current objects under `prefix` with ListObjectsV2, for buckets without versioning."""
        paginator = self.client.get_paginator("list_objects_v2")
        with s3_errors(f"ListObjectsV2 {bucket}/{prefix}"):
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield ListedVersion(item["Key"], None, item.get("ETag"), item.get("Size", 0), item["LastModified"], True)

    def versioning_enabled(self, bucket: str) -> bool:
        """Return True when the bucket keeps versions (versioning enabled or suspended)."""
        with s3_errors(f"GetBucketVersioning {bucket}"):
            status = self.client.get_bucket_versioning(Bucket=bucket).get("Status")
        return status in ("Enabled", "Suspended")

    def sha256(self, stored: StoredObject) -> str:
        """Return the object's SHA-256: its full-object checksum if S3 has one, else computed by reading it.

        Reading streams the object in 1 MiB chunks, so memory does not grow with its size.
        """
        checksum = stored.checksum_sha256
        if checksum and stored.checksum_type in (None, "FULL_OBJECT") and "-" not in checksum:
            return sha256_hex_from_b64(checksum)

        arguments = {"Bucket": stored.bucket, "Key": stored.key}
        if stored.version_id:
            arguments["VersionId"] = stored.version_id
        with s3_errors(f"GetObject {stored.bucket}/{stored.key}"):
            try:
                body = self.client.get_object(**arguments)["Body"]
            except ClientError as exc:
                if is_not_found(exc):
                    raise ObjectGone(f"{stored.bucket}/{stored.key} version {stored.version_id} was deleted before it could be read") from exc
                raise
            digest, size = sha256_of_stream(body.iter_chunks(READ_CHUNK))
        if size != stored.size:
            raise ObjectGone(f"{stored.bucket}/{stored.key} changed while it was read ({size} bytes instead of {stored.size})")
        return digest


class ObjectGone(PermanentError):
    """The object version a notification or listing named no longer exists, so its bytes cannot be committed."""
