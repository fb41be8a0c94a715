"""Pid-file handling of local-stack processes."""

from __future__ import annotations

import sys

from custody.devstack.process import ManagedProcess


def test_missing_pid_file_means_stopped(tmp_path):
    assert ManagedProcess("svc", tmp_path, marker="x").pid() is None


def test_dead_pid_means_stopped(tmp_path):
    process = ManagedProcess("svc", tmp_path, marker="x")
    process.pid_file.write_text("999999999")

    assert process.pid() is None


def test_reused_pid_of_other_program_means_stopped(tmp_path):
    process = ManagedProcess("svc", tmp_path, marker="marker-that-no-process-has")
    process.pid_file.write_text("1")

    assert process.pid() is None


def test_start_and_stop_real_process(tmp_path):
    process = ManagedProcess("sleeper", tmp_path, marker=str(tmp_path))
    process.start([sys.executable, "-c", "import time, sys; print('up', flush=True); time.sleep(60)", str(tmp_path)])

    assert process.pid() is not None
    assert process.stop(timeout_s=5) is True
    assert process.pid() is None
    assert not process.pid_file.exists()
    assert "starting sleeper" in process.log_tail()


def test_stop_escalates_to_sigkill(tmp_path):
    process = ManagedProcess("stubborn", tmp_path, marker=str(tmp_path))
    script = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
    process.start([sys.executable, "-c", script, str(tmp_path)])
    _wait_for_line(process, "ready")

    assert process.stop(timeout_s=1) is True
    assert process.pid() is None


def _wait_for_line(process: ManagedProcess, text: str) -> None:
    import time

    deadline = time.monotonic() + 10
    while text not in process.log_tail() and time.monotonic() < deadline:
        time.sleep(0.05)
