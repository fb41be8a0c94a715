"""Parse and resolve the TARGET of `custody audit trace` and `impact`.

A target is one of:

- `s3://BUCKET/KEY`: a file; the latest version by default, or one version with
  `?sha256=HEX` (also written `s3://BUCKET/KEY@sha256:HEX`);
- `commit:ID` or a 64-digit hex commit id; an unambiguous prefix of at least 8 digits works too;
- `job:ID` or any other text, which is looked up as a job id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from neo4j import ManagedTransaction

from lineage.exceptions import TargetNotFound
from lineage.reading import records

TargetKind = Literal["file", "commit", "job", "auto"]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX_PREFIX = re.compile(r"^[0-9a-f]{8,63}$")
MIN_PREFIX = 8


@dataclass(frozen=True)
class Target:
    """A parsed target: its kind and value, and for a file the S3 URI and an optional sha256."""

    kind: TargetKind
    value: str
    sha256: str | None = None

    def describe(self) -> str:
        """Return the target as a user would write it."""
        if self.kind == "file" and self.sha256:
            return f"{self.value}?sha256={self.sha256}"
        return self.value if self.kind in ("file", "auto") else f"{self.kind}:{self.value}"


@dataclass(frozen=True)
class ResolvedTarget:
    """The graph nodes a target names: commits and jobs to start from, and the file version if any."""

    target: Target
    kind: Literal["file", "commit", "job"]
    commit_ids: tuple[str, ...] = ()
    job_ids: tuple[str, ...] = ()
    file: dict | None = None


def parse_target(text: str) -> Target:
    """Parse a target; raise TargetNotFound with the accepted forms for an empty or malformed one."""
    text = text.strip()
    if not text:
        raise TargetNotFound("empty target; give an S3 URI (s3://bucket/key), a commit id or a job id")

    if text.startswith("s3://"):
        return _parse_s3(text)
    if text.startswith("commit:"):
        return Target("commit", _nonempty(text[len("commit:"):], text))
    if text.startswith("job:"):
        return Target("job", _nonempty(text[len("job:"):], text))
    return Target("auto", text)


def _parse_s3(text: str) -> Target:
    sha256 = None
    if "@sha256:" in text:
        text, _, sha256 = text.rpartition("@sha256:")
    parts = urlsplit(text)
    if parts.query:
        sha256 = (parse_qs(parts.query).get("sha256") or [None])[0]
        text = text.split("?", 1)[0]
    key = parts.path.lstrip("/")
    if not parts.netloc or not key:
        raise TargetNotFound(f"invalid S3 URI {text!r}; write s3://BUCKET/KEY, for example s3://acme-raw/incoming/patients.csv")
    if sha256 is not None and not _HEX64.match(sha256):
        raise TargetNotFound(f"invalid sha256 {sha256!r} in target; it must be 64 lower-case hex digits")
    return Target("file", f"s3://{parts.netloc}/{key}", sha256)


def _nonempty(value: str, text: str) -> str:
    if not value:
        raise TargetNotFound(f"target {text!r} names no id; write commit:ID or job:ID")
    return value


def resolve_target(tx: ManagedTransaction, namespace: str, target: Target, *, all_versions: bool = False) -> ResolvedTarget:
    """Find the nodes a target names; raise TargetNotFound naming the target and what was tried.

    For a file, trace starts from the commit that introduced the version
    (`all_versions=False`). Impact starts from every commit that contains any
    matching version (`all_versions=True`), because a job may have read any of them.
    """
    if target.kind == "file":
        return _resolve_file(tx, namespace, target, all_versions=all_versions)
    if target.kind in ("commit", "auto"):
        commit = _resolve_commit(tx, namespace, target.value, strict=target.kind == "commit")
        if commit is not None:
            return ResolvedTarget(target, "commit", commit_ids=(commit,))
    if target.kind in ("job", "auto") and _exists(tx, "Job", namespace, target.value):
        return ResolvedTarget(target, "job", job_ids=(target.value,))
    raise TargetNotFound(
        f"no commit or job {target.value!r} in the lineage graph (namespace {namespace!r}); "
        "check the id, or that the lineage consumer has caught up (`custody lineage run`)"
    )


def _resolve_commit(tx: ManagedTransaction, namespace: str, value: str, *, strict: bool) -> str | None:
    if _exists(tx, "Commit", namespace, value):
        return value
    if not _HEX_PREFIX.match(value):
        if strict:
            raise TargetNotFound(f"no commit {value!r} in the lineage graph (namespace {namespace!r})")
        return None

    matches = [
        row["id"]
        for row in records(
            tx,
            "MATCH (c:Commit) WHERE c.ns = $ns AND c.id STARTS WITH $prefix RETURN c.id AS id LIMIT 2",
            ns=namespace,
            prefix=value,
        )
    ]
    if len(matches) > 1:
        raise TargetNotFound(f"commit prefix {value!r} matches several commits; give more digits")
    if matches:
        return matches[0]
    if strict:
        raise TargetNotFound(f"no commit starts with {value!r} in the lineage graph (namespace {namespace!r})")
    return None


def _exists(tx: ManagedTransaction, label: str, namespace: str, key: str) -> bool:
    rows = records(tx, f"MATCH (n:{label} {{ns: $ns, id: $id}}) RETURN count(n) AS n", ns=namespace, id=key)
    return rows[0]["n"] > 0


def _resolve_file(tx: ManagedTransaction, namespace: str, target: Target, *, all_versions: bool) -> ResolvedTarget:
    versions = records(
        tx,
        """
        MATCH (f:File {ns: $ns, uri: $uri})
        WHERE $sha256 IS NULL OR f.sha256 = $sha256
        MATCH (c:Commit)-[:HAD_MEMBER]->(f)
        WITH f, c ORDER BY c.committed_at, c.id
        WITH f, collect(c.id) AS commits, min(c.committed_at) AS introduced_at
        RETURN f {.id, .repo, .path, .sha256, .size, .uri} AS file, commits, introduced_at
        ORDER BY introduced_at DESC, file.sha256
        """,
        ns=namespace,
        uri=target.value,
        sha256=target.sha256,
    )
    if not versions:
        version = f" with sha256 {target.sha256}" if target.sha256 else ""
        raise TargetNotFound(
            f"no file {target.value}{version} in the lineage graph (namespace {namespace!r}); "
            "check the bucket and key (the key includes the repo prefix), or that the commit was recorded"
        )

    if all_versions:
        commits = tuple(dict.fromkeys(commit for version in versions for commit in version["commits"]))
        return ResolvedTarget(target, "file", commit_ids=commits, file=versions[0]["file"])

    latest = versions[0]
    return ResolvedTarget(target, "file", commit_ids=(latest["commits"][0],), file=latest["file"])
