"""Explicit commits, the repo registry and the commit protocol against the real Kafka and S3 server."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest

from custody.events import make_event
from custody.events.envelope import utc_now
from custody.events.models import DataCommitted, FileVersion, UploadOrigin
from custody.kafka import DurableProducer
from custody.repos import Committer, HeadRecord, RepoNotFound, RepoRegistry, RepoStore, commit_files, layout
from custody.commits import compute_commit_id, content_digest
from custody.settings import Settings
from custody.topics import topic
from tests.integration.producers.conftest import ALICE, commits, register

CLI = UploadOrigin(via="api")


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def committer_for(settings: Settings, s3) -> tuple[Committer, DurableProducer]:
    producer = DurableProducer(settings.kafka, topic_prefix=settings.topic_prefix)
    commits_topic = topic("custody.data.commits").full_name(settings.topic_prefix)
    # A zero timeout treats every pending head as left by a writer that died.
    return Committer(s3, producer, kafka=settings.kafka, commits_topic=commits_topic, pending_timeout_s=0), producer


def test_registry_create_get_list(settings: Settings, bucket: str):
    registry = RepoRegistry(settings)
    register(settings, "raw", bucket, prefix="in/", labels=["pii"])
    register(settings, "Train_Model.V2", bucket, prefix="models/", strategy="marker")
    register(settings, "raw", bucket, prefix="in/", labels=["pii", "health"])

    assert registry.get("raw").labels == ["pii", "health"]
    assert [r.name for r in registry.list()] == ["Train_Model.V2", "raw"]
    assert registry.get("Train_Model.V2").grouping.strategy == "marker"
    with pytest.raises(RepoNotFound, match="'missing'.*custody repo create missing"):
        registry.get("missing")


def test_commit_directory_records_bytes_and_state(settings: Settings, s3, bucket: str, readers, tmp_path: Path):
    repo = register(settings, "raw", bucket, prefix="in/", labels=["pii"])
    files = {"a+b.csv": b"x,y\n1,2\n", "sub/r\xc3\xa9sum\xc3\xa9.txt".encode().decode("utf-8"): b"hi", "empty.bin": b""}
    source = write_tree(tmp_path / "d", files)
    reader = readers("custody.data.commits")

    result = commit_files(settings, "raw", [source], author=ALICE, message="first", origin=CLI)
    events = commits(reader.read(until=lambda e: len(commits(e)) >= 1, settle_s=1.0))

    assert not result.no_op
    assert len(events) == 1
    data = events[0].data
    assert data.commit_id == result.commit_id
    assert data.labels == ["pii"]
    assert data.message == "first"
    assert data.origin.via == "api"
    assert {f.path: f.sha256 for f in data.files} == {name: hashlib.sha256(body).hexdigest() for name, body in files.items()}
    assert all(f.version_id for f in data.files)
    assert s3.get_object(Bucket=bucket, Key="in/a+b.csv")["Body"].read() == b"x,y\n1,2\n"
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=data.manifest_key)["Body"].read())
    assert manifest["id"] == events[0].id
    head = RepoStore(s3, repo).read_head()
    assert (head.commit_id, head.state) == (result.commit_id, "emitted")


def test_identical_content_is_no_op(settings: Settings, bucket: str, readers, tmp_path: Path):
    register(settings, "raw", bucket)
    source = write_tree(tmp_path / "d", {"a.csv": b"1", "b.csv": b"2"})
    reader = readers("custody.data.commits")

    first = commit_files(settings, "raw", [source], author=ALICE, origin=CLI)
    again = commit_files(settings, "raw", [source], author=ALICE, origin=CLI)
    (source / "b.csv").write_bytes(b"changed")
    third = commit_files(settings, "raw", [source], author=ALICE, origin=CLI)
    events = commits(reader.read(until=lambda e: len(commits(e)) >= 2, settle_s=1.0))

    assert again.no_op
    assert again.event is None
    assert again.commit_id == first.commit_id
    assert [e.data.commit_id for e in events] == [first.commit_id, third.commit_id]
    assert events[1].data.parent_id == first.commit_id


def test_concurrent_commits_form_a_chain(settings: Settings, bucket: str, readers, tmp_path: Path):
    register(settings, "raw", bucket)
    sources = [write_tree(tmp_path / f"d{i}", {f"f{i}.csv": f"{i}".encode()}) for i in range(4)]
    results: list = []
    errors: list = []

    def run(source: Path) -> None:
        try:
            results.append(commit_files(settings, "raw", [source], author=ALICE, origin=CLI))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    events = commits(readers("custody.data.commits").read(until=lambda e: len(commits(e)) >= 4, settle_s=1.0))

    assert errors == []
    assert len(events) == 4
    parents = [e.data.parent_id for e in events]
    ids = [e.data.commit_id for e in events]
    assert parents[0] is None
    assert parents[1:] == ids[:-1]


def pending_head(s3, repo, committer: Committer, path: str, data: bytes) -> tuple[HeadRecord, object]:
    """Leave the repo as a writer that died right after claiming HEAD would."""
    store = RepoStore(s3, repo)
    head = committer.head(repo)
    file = FileVersion(path=path, size=len(data), sha256=hashlib.sha256(data).hexdigest(), version_id="v-test")
    commit_id = compute_commit_id(repo.name, head.commit_id if head else None, [file])
    payload = DataCommitted(
        repo=repo.name, bucket=repo.bucket, commit_id=commit_id, parent_id=head.commit_id if head else None,
        files=[file], author=ALICE, committed_at=utc_now(), origin=CLI, manifest_key=layout.manifest_key(repo, commit_id),
    )
    event = make_event(payload, source="/custody/api", subject=repo.name)
    claim = HeadRecord(commit_id, "pending", event.id, utc_now(), content_digest([file]), event_json=event.model_dump_json())
    return store.write_head(claim, expected_etag=head.etag if head else None), event


@pytest.mark.parametrize("sent_before_crash", [False, True])
def test_pending_commit_finished_exactly_once(settings: Settings, s3, bucket: str, readers, sent_before_crash: bool):
    repo = register(settings, "raw", bucket)
    committer, producer = committer_for(settings, s3)
    _claim, event = pending_head(s3, repo, committer, "lost.csv", b"bytes")
    if sent_before_crash:
        producer.send_event(event)
        producer.flush()
    reader = readers("custody.data.commits")

    committer.recover(repo)
    committer.recover(repo)
    events = commits(reader.read(until=lambda e: len(commits(e)) >= 1, settle_s=1.5))

    assert [e.id for e in events] == [event.id]
    head = RepoStore(s3, repo).read_head()
    assert (head.commit_id, head.state) == (event.data.commit_id, "emitted")
    assert RepoStore(s3, repo).covering_commit("lost.csv", "v-v-test") == event.data.commit_id


def test_commit_cli_uploads_and_reports(settings: Settings, bucket: str, readers, tmp_path: Path, monkeypatch):
    from typer.testing import CliRunner

    from custody.cli.main import app

    register(settings, "raw", bucket)
    source = write_tree(tmp_path / "d", {"x%41.csv": b"1"})
    monkeypatch.setenv("CUSTODY_TOPIC_PREFIX", settings.topic_prefix)
    monkeypatch.setenv("CUSTODY_KAFKA_BOOTSTRAP_SERVERS", settings.kafka.bootstrap_servers)
    monkeypatch.setenv("CUSTODY_S3_ENDPOINT_URL", settings.s3.endpoint_url or "")

    first = CliRunner().invoke(app, ["commit", "raw", str(source), "-m", "cli", "--author", "person:bob", "--no-progress"])
    again = CliRunner().invoke(app, ["commit", "raw", str(source), "--no-progress"])
    missing = CliRunner().invoke(app, ["commit", "nope", str(source), "--no-progress"])
    events = commits(readers("custody.data.commits").read(until=lambda e: len(commits(e)) >= 1, settle_s=1.0))

    assert first.exit_code == 0, first.output
    assert "committed" in first.output
    assert "nothing to commit" in again.output
    assert missing.exit_code == 1
    assert "custody repo create nope" in missing.output
    assert len(events) == 1
    assert events[0].data.author.agent_id == "person:bob"
    assert [f.path for f in events[0].data.files] == ["x%41.csv"]


def test_repo_cli_create_list_show(settings: Settings, s3, unique: str, monkeypatch):
    from typer.testing import CliRunner

    from custody.cli.main import app

    monkeypatch.setenv("CUSTODY_TOPIC_PREFIX", settings.topic_prefix)
    monkeypatch.setenv("CUSTODY_KAFKA_BOOTSTRAP_SERVERS", settings.kafka.bootstrap_servers)
    monkeypatch.setenv("CUSTODY_S3_ENDPOINT_URL", settings.s3.endpoint_url or "")
    bucket = f"cli-{unique}"
    runner = CliRunner()

    missing_bucket = runner.invoke(app, ["repo", "create", "scans", "--bucket", bucket])
    created = runner.invoke(app, ["repo", "create", "scans", "--bucket", bucket, "--prefix", "ct", "--label", "health", "--label", "pii", "--create-bucket"])
    moved = runner.invoke(app, ["repo", "create", "scans", "--bucket", bucket, "--prefix", "mri"])
    bad_label = runner.invoke(app, ["repo", "create", "other", "--bucket", bucket, "--label", "Not Valid"])
    listed = runner.invoke(app, ["repo", "list"])
    shown = runner.invoke(app, ["repo", "show", "scans"])

    assert missing_bucket.exit_code == 1
    assert "--create-bucket" in missing_bucket.output
    assert created.exit_code == 0, created.output
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert moved.exit_code == 1
    assert "--replace" in moved.output
    assert bad_label.exit_code == 1
    assert "labels" in bad_label.output
    assert "scans" in listed.output
    assert "s3://" + bucket + "/ct/" in shown.output
    assert "no commit yet" in shown.output
    assert RepoRegistry(settings).get("scans").labels == ["health", "pii"]
