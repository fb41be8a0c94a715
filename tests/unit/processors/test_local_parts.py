"""Parts of the local executor that need no server: outbox state, code identity, environment, processes."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from pathlib import Path

import pytest

from custody.errors import PermanentError
from custody.events.models import FileVersion
from processors import jobevents
from processors.executors.base import JobRequest
from processors.executors.outbox import Outbox
from processors.executors.process import run_process
from processors.requests import CommitSummary
from processors.runner import code_identity, job_environment, staged_path
from processors.spec import RetryPolicy, Transform


def request(tmp_path: Path, **transform) -> JobRequest:
    files = [FileVersion(path="a.csv", size=1, sha256=hashlib.sha256(b"a").hexdigest())]
    commit = CommitSummary(repo="raw", bucket="b", commit_id="c" * 64, files=files, event_id="e1")
    return JobRequest(
        job_id="j" * 64, pipeline="clean", pipeline_version="v" * 64, executor="local",
        transform=Transform(**({"command": ["python3"]} | transform)), inputs=[commit], output_repo="clean",
        retries=RetryPolicy(count=2), timeout_s=5, service_account="custody-runner", scheduled_event_id="s1",
    )


def test_outbox_state_follows_attempts(tmp_path: Path):
    job = request(tmp_path)
    outbox = Outbox(tmp_path)

    outbox.add("started", jobevents.started(job, attempt=1, runner="r"), attempt=1)
    assert outbox.state().interrupted

    failed = outbox.add("failed", jobevents.failed(job, attempt=1, reason="exit 3", final=False), attempt=1)
    outbox.mark_sent(failed)
    outbox.add("started", jobevents.started(job, attempt=2, runner="r"), attempt=2)
    outbox.add("failed", jobevents.failed(job, attempt=2, reason="interrupted", final=False), attempt=2, counts=False)
    state = outbox.state()

    assert state.last_attempt == 2
    assert not state.interrupted
    assert not state.done
    assert state.counted_failures == 1
    assert [(r.name, r.attempt) for r in state.unsent] == [("started", 1), ("started", 2), ("failed", 2)]


def test_outbox_done_after_final_failure(tmp_path: Path):
    job = request(tmp_path)
    outbox = Outbox(tmp_path)

    outbox.add("failed", jobevents.failed(job, attempt=1, reason="x", final=True), attempt=1, final=True)

    assert outbox.state().done
    assert outbox.state().records[0].event.data.final is True


def test_job_event_ids_are_stable():
    first = jobevents.started(request(Path("/")), attempt=1, runner="a")
    again = jobevents.started(request(Path("/")), attempt=1, runner="b")
    second = jobevents.started(request(Path("/")), attempt=2, runner="a")

    assert first.id == again.id
    assert first.id != second.id
    assert first.causationid == "s1"


def test_code_identity_covers_script_bytes(tmp_path: Path):
    script = tmp_path / "clean.py"
    script.write_text("print(1)\n")
    transform = Transform(command=["python3", str(script)], env={"MODE": "fast"})

    before = code_identity(transform)
    script.write_text("print(2)\n")
    after = code_identity(transform)

    assert before.code_hash != after.code_hash
    assert before.command == ["python3", str(script)]
    assert before.parameters == {"MODE": "fast"}
    assert code_identity(Transform(command=["python3", "-c", "1"])).code_hash != code_identity(Transform(command=["python3", "-c", "2"])).code_hash


def test_environment_has_job_metadata_and_no_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CUSTODY_S3_SECRET_ACCESS_KEY", "do-not-leak")
    job = request(tmp_path, env={"MODE": "fast"})

    env = job_environment(job, attempt=2, inputs_dir=tmp_path / "in", outputs_dir=tmp_path / "out", scratch_dir=tmp_path / "w")

    assert env["CUSTODY_INPUTS"] == str(tmp_path / "in")
    assert env["CUSTODY_OUTPUTS"] == str(tmp_path / "out")
    assert env["CUSTODY_JOB_ID"] == job.job_id
    assert env["CUSTODY_ATTEMPT"] == "2"
    assert env["CUSTODY_INPUT_COMMITS"] == '{"raw": "' + "c" * 64 + '"}'
    assert env["MODE"] == "fast"
    assert "do-not-leak" not in env.values()


@pytest.mark.parametrize("path", ["../escape.csv", "a/../../b", "/abs.csv", "./a.csv"])
def test_staged_path_rejects_escapes(tmp_path: Path, path: str):
    with pytest.raises(PermanentError):
        staged_path(tmp_path, "raw", path)


def test_staged_path_keeps_decoded_names(tmp_path: Path):
    assert staged_path(tmp_path, "raw", "2024 Q1/a+b.csv") == tmp_path / "raw" / "2024 Q1" / "a+b.csv"


def test_retry_delays_grow_to_the_maximum():
    policy = RetryPolicy(count=5, backoff_s=2, backoff_factor=3, max_backoff_s=10)

    assert [policy.delay_before(attempt) for attempt in range(1, 6)] == [0.0, 2.0, 6.0, 10.0, 10.0]


def test_process_killed_at_timeout(tmp_path: Path):
    argv = [sys.executable, "-c", "import time; print('begin', flush=True); time.sleep(60)"]

    result = asyncio.run(
        run_process(argv, cwd=tmp_path, env=dict(os.environ), log_path=tmp_path / "log", pid_path=tmp_path / "pid", timeout_s=1.0)
    )

    assert result.timed_out
    assert result.exit_code is None
    assert "begin" in (tmp_path / "log").read_text()


def test_process_exit_code_reported(tmp_path: Path):
    argv = [sys.executable, "-c", "import sys; sys.exit(3)"]

    result = asyncio.run(
        run_process(argv, cwd=tmp_path, env=dict(os.environ), log_path=tmp_path / "log", pid_path=tmp_path / "pid", timeout_s=10)
    )

    assert result.exit_code == 3
    assert not result.timed_out
