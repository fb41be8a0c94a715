"""SHA-256 of local files and stored objects, read in fixed-size blocks so memory stays bounded."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from custody.repos.sources import LocalFile

BLOCK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class HashedFile:
    """A local file with its size, modification time and SHA-256.

    `part_digests` are the SHA-256 digests of the multipart parts of `part_size`
    bytes, so the composite checksum S3 reports can be checked against them.
    """

    source: LocalFile
    size: int
    sha256: str
    mtime_ns: int
    part_size: int | None = None
    part_digests: tuple[bytes, ...] = ()


def hash_file(source: LocalFile, *, part_size: int | None = None, on_bytes: Callable[[int], None] | None = None) -> HashedFile:
    """Read the file once and return its SHA-256 (and part digests when `part_size` is set)."""
    status = source.local_path.stat()
    whole = hashlib.sha256()
    parts = _PartDigests(part_size) if part_size else None
    # Small files get a small buffer, since many are hashed at once.
    buffer = bytearray(max(1, min(BLOCK_SIZE, status.st_size)))
    view = memoryview(buffer)

    with open(source.local_path, "rb", buffering=0) as handle:
        while count := handle.readinto(buffer):
            block = view[:count]
            whole.update(block)
            if parts is not None:
                parts.update(block)
            if on_bytes is not None:
                on_bytes(count)

    digests = parts.finish() if parts is not None else ()
    return HashedFile(source, status.st_size, whole.hexdigest(), status.st_mtime_ns, part_size, digests)


class _PartDigests:
    """SHA-256 of consecutive parts of `part_size` bytes; blocks need not align with parts."""

    def __init__(self, part_size: int) -> None:
        self.part_size = part_size
        self._digests: list[bytes] = []
        self._current = hashlib.sha256()
        self._filled = 0

    def update(self, block: memoryview) -> None:
        while len(block):
            piece = block[: self.part_size - self._filled]
            self._current.update(piece)
            self._filled += len(piece)
            block = block[len(piece):]
            if self._filled == self.part_size:
                self._digests.append(self._current.digest())
                self._current = hashlib.sha256()
                self._filled = 0

    def finish(self) -> tuple[bytes, ...]:
        if self._filled:
            self._digests.append(self._current.digest())
        return tuple(self._digests)


def composite_sha256(part_digests: Iterable[bytes]) -> str:
    """Return the S3 composite checksum of a multipart object: base64 SHA-256 of the part digests, then `-<parts>`."""
    digests = list(part_digests)
    combined = hashlib.sha256(b"".join(digests)).digest()
    return f"{base64.b64encode(combined).decode()}-{len(digests)}"


def sha256_b64(hex_digest: str) -> str:
    """Return a hex SHA-256 as the base64 form S3 checksum headers use."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def sha256_hex_from_b64(value: str) -> str:
    """Return the hex form of a base64 SHA-256 checksum header."""
    return base64.b64decode(value).hex()


def sha256_of_stream(chunks: Iterable[bytes]) -> tuple[str, int]:
    """Return the SHA-256 and byte count of a stream of chunks."""
    digest = hashlib.sha256()
    size = 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def file_unchanged(hashed: HashedFile, path: Path) -> bool:
    """Return True when the file still has the size and modification time it had when hashed."""
    status = path.stat()
    return status.st_size == hashed.size and status.st_mtime_ns == hashed.mtime_ns
