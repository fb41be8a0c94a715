"""The interface each local-stack service implements."""

from __future__ import annotations

import abc
import logging
import socket
import time
from pathlib import Path

from custody.devstack.config import StackSettings
from custody.devstack.process import ManagedProcess
from custody.devstack.tools import client_host
from custody.errors import StackError

log = logging.getLogger(__name__)


class Service(abc.ABC):
    """One server of the local stack: install into the cache, start, check, stop.

    Subclasses implement `install`, `command`, `is_healthy` and `endpoint`, and may
    override `prepare` (first-run initialisation of the data directory) and `env`.
    """

    name: str
    version: str

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.home: Path = settings.service_dir(self.name)
        self.data_dir: Path = self.home / "data"
        self.process = ManagedProcess(self.name, self.home, marker=self.process_marker())

    @property
    def install_dir(self) -> Path:
        """Directory in the shared cache for this service's version."""
        return self.settings.cache_dir / self.name / self.version

    @abc.abstractmethod
    def install(self) -> None:
        """Fetch and build the service into `install_dir`; do nothing when it is cached."""

    @abc.abstractmethod
    def command(self) -> list[str]:
        """Return the command line that runs the service in the foreground."""

    @abc.abstractmethod
    def is_healthy(self) -> bool:
        """Return True when the service accepts requests; implementations catch their own errors and return False."""

    @abc.abstractmethod
    def endpoint(self) -> str:
        """Return the address clients use, for example `127.0.0.1:9092`."""

    def process_marker(self) -> str:
        """Return a string unique to this service's command line."""
        return str(self.settings.service_dir(self.name))

    def prepare(self) -> None:
        """Initialise the data directory before the first start."""
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def env(self) -> dict[str, str]:
        """Return extra environment variables for the service process."""
        return {}

    def ports(self) -> dict[int, str]:
        """Return the ports the service listens on, each with the setting that changes it."""
        return {}

    def check_ports_free(self) -> None:
        """Raise StackError when another process already listens on one of the service's ports."""
        for port, variable in self.ports().items():
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.settimeout(0.5)
                in_use = probe.connect_ex((client_host(self.settings.host), port)) == 0
            if in_use:
                raise StackError(
                    f"cannot start {self.name}: port {port} is already in use by another process. "
                    f"Stop that process, or set {variable} to a free port."
                )

    def start(self) -> float:
        """Start the service unless it runs already, wait until healthy, return seconds taken."""
        started = time.monotonic()
        if self.process.pid() is not None and self.is_healthy():
            log.info("service=%s already running at %s", self.name, self.endpoint())
            return 0.0

        self.install()
        if self.process.pid() is None:
            self.check_ports_free()
            self.prepare()
            self.process.start(self.command(), env=self.env(), cwd=self.home)
        self.wait_healthy()
        return time.monotonic() - started

    def wait_healthy(self) -> None:
        """Poll the health check until it passes; raise StackError with the log tail otherwise."""
        deadline = time.monotonic() + self.settings.start_timeout_s
        while time.monotonic() < deadline:
            # Liveness first, because after our process died another server on
            # the same port could pass the health check.
            if self.process.pid() is None:
                raise StackError(
                    f"{self.name} exited during start-up. Last lines of {self.process.log_file}:\n"
                    f"{self.process.log_tail()}"
                )
            if self.is_healthy():
                log.info("service=%s healthy at %s", self.name, self.endpoint())
                return
            time.sleep(0.5)

        raise StackError(
            f"{self.name} did not become healthy at {self.endpoint()} within "
            f"{self.settings.start_timeout_s:.0f}s (raise CUSTODY_STACK_START_TIMEOUT_S if the machine is slow). "
            f"Last lines of {self.process.log_file}:\n{self.process.log_tail()}"
        )

    def stop(self) -> bool:
        """Stop the service; return True if it was running."""
        return self.process.stop()
