"""A notification service killed in the middle of a burst and restarted loses nothing and duplicates nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from custody.settings import Settings
from tests.integration.producers.conftest import GATEWAY_TOPIC, commits, register, start_group_at_end

UPLOADS = 80
DISTINCT_KEYS = 60


def start_service(settings: Settings, group: str, log_path: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "CUSTODY_TOPIC_PREFIX": settings.topic_prefix,
        "CUSTODY_KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "CUSTODY_S3_ENDPOINT_URL": settings.s3.endpoint_url or "",
        # A killed writer's claimed commit is finished after 2 s instead of 30.
        "CUSTODY_PRODUCERS_PENDING_COMMIT_TIMEOUT_S": "2",
        "CUSTODY_PRODUCERS_RETRY_DELAY_S": "0.5",
        "CUSTODY_PRODUCERS_REGISTRY_REFRESH_S": "2",
        # The killed member leaves the group after 6 s (the broker's minimum) instead of 45 s.
        "CUSTODY_KAFKA_EXTRA": '{"session.timeout.ms": "6000", "heartbeat.interval.ms": "1000"}',
    }
    command = [sys.executable, "-m", "custody.cli.main", "producers", "run", "s3-events", "--topic", GATEWAY_TOPIC, "--group", group, "--key-encoding", "raw"]
    return subprocess.Popen(command, env=env, stdout=log_path.open("ab"), stderr=subprocess.STDOUT)


def upload_burst(s3, bucket: str) -> None:
    for index in range(UPLOADS):
        s3.put_object(Bucket=bucket, Key=f"burst/{index % DISTINCT_KEYS:03d}.csv", Body=f"upload {index}".encode())
        time.sleep(0.02)


def bucket_versions(s3, bucket: str) -> set[tuple[str, str]]:
    versions = set()
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix="burst/"):
        versions |= {(v["Key"], v["VersionId"]) for v in page.get("Versions", [])}
    return versions


def test_killed_service_loses_and_duplicates_nothing(settings: Settings, s3, bucket: str, readers, unique: str, tmp_path: Path):
    register(settings, "burst", bucket)
    group = f"restart-{unique}"
    start_group_at_end(settings.kafka, GATEWAY_TOPIC, group)
    reader = readers("custody.data.commits")
    log_path = tmp_path / "service.log"

    first = start_service(settings, group, log_path)
    uploader = threading.Thread(target=upload_burst, args=(s3, bucket))
    uploader.start()
    reader.read(until=lambda e: len(commits(e)) >= 10, timeout_s=60)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    killed_after = len(commits(reader.events()))
    uploader.join()

    second = start_service(settings, group, log_path)
    try:
        events = commits(reader.read(until=lambda e: len(commits(e)) >= UPLOADS, timeout_s=120, settle_s=3.0))
    finally:
        second.send_signal(signal.SIGTERM)
        exit_code = second.wait(60)

    stored = bucket_versions(s3, bucket)
    committed = Counter((f.path, f.version_id) for e in events for f in e.data.files)
    per_commit = Counter(e.data.commit_id for e in events)
    print(f"killed after {killed_after} of {UPLOADS} commits; {len(events)} commit events in total")
    assert killed_after < UPLOADS, "the service finished the burst before it was killed"
    assert len(stored) == UPLOADS
    assert set(committed) == stored, log_path.read_text()[-3000:]
    assert max(committed.values()) == 1, "an object version was committed twice"
    assert max(per_commit.values()) == 1, "a commit event was sent twice"
    assert exit_code == 0
