"""Turn the files and directories given to a commit into repo-relative paths."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from custody.repos import layout
from custody.repos.errors import InvalidSources

# S3 keys are at most 1024 bytes of UTF-8, prefix included.
MAX_KEY_BYTES = 1024


@dataclass(frozen=True)
class LocalFile:
    """A local file and the repo-relative path it is committed under."""

    path: str
    local_path: Path


def collect_sources(sources: Sequence[str | os.PathLike[str]], *, prefix: str = "") -> list[LocalFile]:
    """Return the files to commit, sorted by path.

    A file is committed under its own name and a directory's files under their
    paths relative to that directory. Paths are used exactly as they are on
    disk: a file named `a+b.csv` stays `a+b.csv`. Raises InvalidSources for a
    missing source, an empty selection, two sources giving the same path, or a
    path that S3 or the repo layout cannot hold.
    """
    if not sources:
        raise InvalidSources("no files or directories given; name at least one path to commit")

    found: dict[str, LocalFile] = {}
    for source in sources:
        for item in _expand(Path(source)):
            _check_path(item, prefix)
            if item.path in found:
                raise InvalidSources(
                    f"{found[item.path].local_path} and {item.local_path} would both be committed as {item.path!r}; "
                    "commit them in separate commits or rename one"
                )
            found[item.path] = item

    if not found:
        raise InvalidSources(f"no files found in {', '.join(str(s) for s in sources)}; empty directories cannot be committed")
    return [found[path] for path in sorted(found)]


def _expand(source: Path) -> list[LocalFile]:
    if source.is_file():
        return [LocalFile(source.name, source)]
    if source.is_dir():
        return _walk(source)
    if source.exists():
        raise InvalidSources(f"{source} is neither a regular file nor a directory")
    raise InvalidSources(f"{source} does not exist")


def _walk(directory: Path) -> list[LocalFile]:
    files = []
    for root, dirnames, filenames in os.walk(directory):
        dirnames.sort()
        for name in sorted(filenames):
            local_path = Path(root) / name
            if local_path.is_file():
                files.append(LocalFile(local_path.relative_to(directory).as_posix(), local_path))
    return files


def _check_path(item: LocalFile, prefix: str) -> None:
    if layout.is_internal(item.path):
        raise InvalidSources(f"{item.local_path}: paths under {layout.STATE_DIR} are reserved for the repo's own state; rename it")
    key_bytes = len((prefix + item.path).encode("utf-8"))
    if key_bytes > MAX_KEY_BYTES:
        raise InvalidSources(f"{item.local_path}: the object key would be {key_bytes} bytes, above the S3 limit of {MAX_KEY_BYTES}")
