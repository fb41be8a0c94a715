"""`custody commit` of 1,000 small files and one 200 MB file: one commit, right hashes, bounded memory."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from custody.settings import Settings
from tests.integration.producers.conftest import commits, register

BIG_FILE_BYTES = 200 * 1024 * 1024
SMALL_FILES = 1000
# The growth does not depend on the file size. It is the S3 client's service
# model (about 11 MiB of Python objects), the malloc arenas of the worker
# threads and a few multipart parts in flight. On a 2-core VM this test grew
# by about 45 MiB, and a commit of the 200 MiB file alone by 27 MiB.
MAX_GROWTH_BYTES = 64 * 1024 * 1024

# Runs the real CLI in a fresh interpreter and prints its peak memory growth.
# VmHWM is the peak resident set of this process image (ru_maxrss would carry
# over the parent's peak across fork and exec). The baseline is read after
# every import, so the growth is what the commit itself needed.
RUNNER = """
import json, sys
from custody.cli.main import app
import custody.repos, producers  # noqa: F401 - import before measuring the baseline
from typer.main import get_command

def peak_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

baseline = peak_kib()
code = 0
try:
    get_command(app).main(sys.argv[1:], prog_name="custody", standalone_mode=False)
except SystemExit as exc:
    code = exc.code or 0
print(json.dumps({"baseline_kib": baseline, "peak_kib": peak_kib(), "code": code}), file=sys.stderr)
"""


def write_big_file(path: Path) -> str:
    digest = hashlib.sha256()
    block = os.urandom(1024 * 1024)
    with open(path, "wb") as handle:
        for index in range(BIG_FILE_BYTES // len(block)):
            # Vary each block so that no two parts of the upload are identical.
            chunk = index.to_bytes(8, "big") + block[8:]
            handle.write(chunk)
            digest.update(chunk)
    return digest.hexdigest()


def test_large_commit_one_event_bounded_memory(settings: Settings, s3, bucket: str, readers, tmp_path: Path):
    register(settings, "bulk", bucket, prefix="bulk/")
    source = tmp_path / "dataset"
    expected: dict[str, str] = {}
    for index in range(SMALL_FILES):
        body = f"row,{index}\n".encode() * (index % 7 + 1)
        path = source / f"part-{index // 100:02d}" / f"file-{index:04d}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        expected[path.relative_to(source).as_posix()] = hashlib.sha256(body).hexdigest()
    expected["model.bin"] = write_big_file(source / "model.bin")
    env = {
        **os.environ,
        "CUSTODY_TOPIC_PREFIX": settings.topic_prefix,
        "CUSTODY_KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "CUSTODY_S3_ENDPOINT_URL": settings.s3.endpoint_url or "",
        "CUSTODY_LOG_LEVEL": "INFO",
    }
    reader = readers("custody.data.commits")

    run = subprocess.run(
        [sys.executable, "-c", RUNNER, "commit", "bulk", str(source), "-m", "bulk load", "--author", "person:carol"],
        env=env, capture_output=True, text=True, timeout=600,
    )
    events = commits(reader.read(until=lambda e: len(commits(e)) >= 1, settle_s=1.0))

    measured = json.loads(run.stderr.strip().splitlines()[-1])
    growth = (measured["peak_kib"] - measured["baseline_kib"]) * 1024
    print(f"commit of {SMALL_FILES} small files and {BIG_FILE_BYTES >> 20} MiB: peak RSS growth {growth / 2**20:.1f} MiB "
          f"(baseline {measured['baseline_kib'] / 1024:.1f} MiB)")
    assert measured["code"] == 0, run.stdout + run.stderr
    assert "committed" in run.stdout
    assert "progress phase=upload" in run.stderr
    assert f"files={SMALL_FILES + 1}/{SMALL_FILES + 1}" in run.stderr
    assert growth < MAX_GROWTH_BYTES
    assert len(events) == 1
    assert {f.path: f.sha256 for f in events[0].data.files} == expected
    big = next(f for f in events[0].data.files if f.path == "model.bin")
    assert big.size == BIG_FILE_BYTES
    stored = hashlib.sha256()
    for chunk in s3.get_object(Bucket=bucket, Key="bulk/model.bin", VersionId=big.version_id)["Body"].iter_chunks(1 << 20):
        stored.update(chunk)
    assert stored.hexdigest() == expected["model.bin"]
