"""Run one transform command as a child process with a timeout, in its own process group."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# Seconds between SIGTERM and SIGKILL when a transform is stopped.
TERMINATE_GRACE_S = 5.0


@dataclass(frozen=True)
class ProcessResult:
    """End state of a transform process; `exit_code` is None when it was killed for its timeout."""

    exit_code: int | None
    timed_out: bool


async def run_process(
    argv: list[str], *, cwd: Path, env: dict[str, str], log_path: Path, pid_path: Path, timeout_s: float
) -> ProcessResult:
    """Run argv, appending stdout and stderr to log_path; kill its process group after timeout_s.

    The child gets its own session, so a worker that dies does not take it
    along by accident, and a restarted worker can kill what is left through
    the process group id written to pid_path. Raises OSError when the command
    cannot be started, for example when it does not exist.
    """
    with open(log_path, "ab") as output:
        process = await asyncio.create_subprocess_exec(
            *argv, cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=output, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    pid_path.write_text(f"{process.pid} {_start_time(process.pid)}", encoding="ascii")

    try:
        exit_code = await asyncio.wait_for(process.wait(), timeout=timeout_s)
    except TimeoutError:
        await _terminate(process)
        return ProcessResult(None, True)
    except asyncio.CancelledError:
        # The worker is stopping; the attempt is resumed (run again) by its next start.
        await _terminate(process)
        raise
    return ProcessResult(exit_code, False)


def kill_leftover(pid_path: Path) -> None:
    """Kill the process group of an attempt a previous worker left behind, if it still runs."""
    if not pid_path.exists():
        return
    try:
        pid_text, start_text = pid_path.read_text(encoding="ascii").split()
        pgid = int(pid_text)
    except ValueError:
        return

    # A pid can be reused after a reboot or a long pause; the recorded start time identifies ours.
    # NOTE: when the group leader exited but its children still run, they are not found this way.
    if _start_time(pgid) != start_text:
        return
    try:
        os.killpg(pgid, signal.SIGKILL)
        log.warning("killed leftover process group pgid=%d of an interrupted attempt", pgid)
    except (ProcessLookupError, PermissionError):
        return


def _start_time(pid: int) -> str:
    # Field 22 of /proc/<pid>/stat is the start time in clock ticks since boot;
    # the command name (field 2) may contain spaces, so split after its `)`.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return "gone"
    return stat.rsplit(")", 1)[1].split()[19]


async def _terminate(process: asyncio.subprocess.Process) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        await asyncio.wait_for(process.wait(), timeout=TERMINATE_GRACE_S)
    except TimeoutError:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        await process.wait()
