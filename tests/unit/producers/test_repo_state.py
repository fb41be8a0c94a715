"""Repo layout, head records, source collection and hashing of the commit protocol."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from custody.cli.repo import normalize_prefix, parse_agent
from custody.errors import PermanentError, ValidationFailed
from custody.events.models import Agent, RepoRegistered
from custody.repos import HeadRecord, InvalidRepo, InvalidSources, check_repo, layout
from custody.repos.hashing import composite_sha256, hash_file
from custody.repos.sources import LocalFile, collect_sources
from custody.repos.uploading import PART_SIZE, part_size_for

ALICE = Agent(kind="person", name="alice")


def repo(prefix: str = "") -> RepoRegistered:
    return RepoRegistered(name="raw", bucket="b", prefix=prefix, registered_by=ALICE)


# Layout


@pytest.mark.parametrize(
    ("path", "internal"),
    [(".custody/HEAD", True), (".custody", True), (".custody/covered/x/v-1", True), ("a/.custody/HEAD", False), (".custodyx", False), ("data.csv", False)],
)
def test_internal_paths(path: str, internal: bool):
    assert layout.is_internal(path) is internal


def test_state_keys_live_under_prefix():
    target = repo("data/")

    assert layout.head_key(target) == "data/.custody/HEAD"
    assert layout.manifest_key(target, "ab") == "data/.custody/commits/ab.json"
    assert layout.marker_key(target, "x.csv", "v-1").startswith("data/.custody/covered/")
    assert layout.relative_path(target, "data/x.csv") == "x.csv"
    assert layout.relative_path(target, "other/x.csv") is None


@pytest.mark.parametrize(
    ("version_id", "etag", "expected"),
    [("3HL4kqtJ", '"abc"', "v-3HL4kqtJ"), ("null", '"abc"', "e-abc"), (None, '"abc-2"', "e-abc-2"), ("a/b+c", None, "v-a%2Fb%2Bc")],
)
def test_version_keys(version_id, etag, expected: str):
    assert layout.version_key(version_id, etag) == expected


def test_version_key_needs_identity():
    with pytest.raises(ValueError):
        layout.version_key(None, None)


def test_head_record_round_trip():
    head = HeadRecord("c" * 64, "pending", "e1", datetime(2026, 5, 1, tzinfo=timezone.utc), "d" * 64, event_json='{"x": 1}')

    again = HeadRecord.from_json(head.to_json(), etag='"t"')

    assert again.commit_id == head.commit_id
    assert again.event_json == '{"x": 1}'
    assert again.etag == '"t"'
    assert b'"event"' not in head.emitted().to_json()


def test_invalid_head_names_fix():
    with pytest.raises(PermanentError, match="not valid"):
        HeadRecord.from_json(b"{}", etag=None)


@pytest.mark.parametrize("prefix", ["data", "/data/"])
def test_prefix_must_be_folder(prefix: str):
    with pytest.raises(InvalidRepo, match="prefix"):
        check_repo(repo(prefix))


@pytest.mark.parametrize(("given", "expected"), [("", ""), ("data", "data/"), ("/data/", "data/"), ("a/b/", "a/b/")])
def test_cli_prefix_normalized(given: str, expected: str):
    assert normalize_prefix(given) == expected


def test_cli_agent_parsing():
    assert parse_agent("service_account:etl-bot").agent_id == "service_account:etl-bot"
    assert parse_agent("bob").agent_id == "person:bob"
    with pytest.raises(ValidationFailed, match="kind"):
        parse_agent("robot:x")


# Sources


def test_directory_paths_relative_and_undecoded(tmp_path: Path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a+b.csv").write_text("1")
    (tmp_path / "d" / "sub" / "x%41.csv").write_text("2")
    (tmp_path / "single.txt").write_text("3")

    files = collect_sources([tmp_path / "d", tmp_path / "single.txt"])

    assert [f.path for f in files] == ["a+b.csv", "single.txt", "sub/x%41.csv"]


@pytest.mark.parametrize(
    ("files", "sources", "reason"),
    [
        ({"d1/a.csv": "1", "d2/a.csv": "2"}, ["d1", "d2"], "both be committed"),
        ({"d1/.custody/HEAD": "x"}, ["d1"], "reserved"),
        ({"d1/": ""}, ["d1"], "no files found"),
    ],
)
def test_invalid_sources_rejected(tmp_path: Path, files: dict[str, str], sources: list[str], reason: str):
    for name, text in files.items():
        target = tmp_path / name
        if name.endswith("/"):
            target.mkdir(parents=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)

    with pytest.raises(InvalidSources, match=reason):
        collect_sources([tmp_path / source for source in sources])


def test_missing_source_named(tmp_path: Path):
    with pytest.raises(InvalidSources, match="does not exist"):
        collect_sources([tmp_path / "nope"])


def test_key_longer_than_s3_limit_rejected(tmp_path: Path):
    (tmp_path / "f.csv").write_text("x")

    with pytest.raises(InvalidSources, match="1024"):
        collect_sources([tmp_path / "f.csv"], prefix="p" * 1020 + "/")


# Hashing


@pytest.mark.parametrize("size", [0, 1, 5 * 1024 * 1024, 5 * 1024 * 1024 + 1, 11 * 1024 * 1024 + 17])
def test_part_digests_match_parts(tmp_path: Path, size: int):
    data = os.urandom(size)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    part = 5 * 1024 * 1024

    hashed = hash_file(LocalFile("f.bin", path), part_size=part)

    expected_parts = [hashlib.sha256(data[i : i + part]).digest() for i in range(0, size, part)]
    assert hashed.sha256 == hashlib.sha256(data).hexdigest()
    assert hashed.size == size
    assert list(hashed.part_digests) == expected_parts


def test_composite_checksum_format():
    digests = [hashlib.sha256(b"a").digest(), hashlib.sha256(b"b").digest()]

    value = composite_sha256(digests)

    assert value.endswith("-2")
    assert len(value.split("-")[0]) == 44


def test_small_files_use_single_put():
    assert part_size_for(1024) is None
    assert part_size_for(200 * 1024 * 1024) == PART_SIZE
