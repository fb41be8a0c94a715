"""Start and stop the Custody services the demo needs, each as a child process with its own log."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

CUSTODY = [sys.executable, "-m", "custody.cli.main"]


@dataclass
class ServiceSet:
    """Long-running Custody services started for one demo run; stopped with SIGTERM, then SIGKILL."""

    env: dict[str, str]
    log_dir: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str, *args: str) -> None:
        """Start `custody ARGS...` in the background, its output in `<log_dir>/<name>.log`."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_file = (self.log_dir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            [*CUSTODY, *args], env=self.env, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        log.info("started demo service=%s pid=%d log=%s", name, self.processes[name].pid, self.log_dir / f"{name}.log")

    def check_running(self) -> None:
        """Raise RuntimeError naming a service that exited, with the end of its log."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                tail = "\n".join((self.log_dir / f"{name}.log").read_text(errors="replace").splitlines()[-15:])
                raise RuntimeError(f"demo service {name} exited with code {process.returncode}; last log lines:\n{tail}")

    def stop(self) -> None:
        """Stop every service: SIGTERM, then SIGKILL after 20 seconds."""
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for name, process in self.processes.items():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                log.warning("demo service=%s ignored SIGTERM; killing it", name)
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
