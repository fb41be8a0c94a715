"""Start, find and stop one detached service process through its pid file."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from pathlib import Path

log = logging.getLogger(__name__)


class ManagedProcess:
    """A service process that outlives the command that started it.

    The pid file, the log file and the data directory live under `home`. A pid
    file whose process is gone, or belongs to another program, counts as stopped.
    """

    def __init__(self, name: str, home: Path, *, marker: str) -> None:
        self.name = name
        self.home = home
        self.pid_file = home / "service.pid"
        self.log_file = home / "service.log"
        # A string that must appear in the process command line, so that a pid
        # reused by an unrelated program is never taken for this service.
        self.marker = marker
        # Set when this object started the process. Between fork and exec the
        # child's command line is still ours, so the marker check alone would
        # call a healthy new child "stopped".
        self._child: subprocess.Popen[bytes] | None = None

    def pid(self) -> int | None:
        """Return the pid of the running service, or None when it is not running."""
        if self._child is not None:
            return self._child.pid if self._child.poll() is None else None

        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except FileNotFoundError:
            return None
        if self.marker not in cmdline:
            return None

        if _is_zombie(pid):
            return None
        return pid

    def start(self, command: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> int:
        """Start the command in its own session, appending its output to the log file."""
        self.home.mkdir(parents=True, exist_ok=True)
        full_env = {**os.environ, **(env or {})}

        with self.log_file.open("ab") as log_stream:
            log_stream.write(f"\n--- starting {self.name} at {time.strftime('%Y-%m-%dT%H:%M:%S')}\n".encode())
            log_stream.flush()
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_stream,
                stderr=subprocess.STDOUT,
                cwd=cwd or self.home,
                env=full_env,
                start_new_session=True,
            )

        self._child = process
        self.pid_file.write_text(str(process.pid))
        log.info("started service=%s pid=%d log=%s", self.name, process.pid, self.log_file)
        return process.pid

    def stop(self, *, timeout_s: float = 30.0) -> bool:
        """Stop the service with SIGTERM, then SIGKILL after `timeout_s`; return True if it was running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False

        _signal_group(pid, signal.SIGTERM)
        if not self._wait_exit(timeout_s):
            log.warning("service=%s pid=%d ignored SIGTERM for %.0fs; sending SIGKILL", self.name, pid, timeout_s)
            _signal_group(pid, signal.SIGKILL)
            self._wait_exit(10.0)

        self.pid_file.unlink(missing_ok=True)
        log.info("stopped service=%s pid=%d", self.name, pid)
        return True

    def _wait_exit(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.pid() is None:
                return True
            time.sleep(0.1)
        return self.pid() is None

    def log_tail(self, lines: int = 20) -> str:
        """Return the last lines of the log file, for error messages."""
        try:
            text = self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log file yet)"
        return "\n".join(text.splitlines()[-lines:])


def _signal_group(pid: int, sig: signal.Signals) -> None:
    # The service runs in its own session, so its process group id is its pid.
    # Signalling the group also reaches its children, such as shells and JVM helpers.
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    # The state letter follows the command name, which is wrapped in parentheses.
    return stat.rsplit(")", 1)[1].split()[0] == "Z"
