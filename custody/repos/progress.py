"""Progress of a commit's hashing and upload phases: a rich bar on a terminal, log lines elsewhere."""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TimeRemainingColumn, TransferSpeedColumn

log = logging.getLogger(__name__)

LOG_INTERVAL_S = 2.0


class ProgressReporter(Protocol):
    """Receives byte and file counts from worker threads; implementations must be thread-safe."""

    def start(self, phase: str, *, total_bytes: int, total_files: int) -> None: ...

    def advance(self, nbytes: int) -> None: ...

    def file_done(self) -> None: ...

    def finish(self) -> None: ...


class NullProgress:
    """Reports nothing."""

    def start(self, phase: str, *, total_bytes: int, total_files: int) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        pass

    def file_done(self) -> None:
        pass

    def finish(self) -> None:
        pass


class BarProgress:
    """A rich progress bar on stderr, one bar per phase, with the file count in its label."""

    def __init__(self) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self._task: TaskID | None = None
        self._phase = ""
        self._files = self._total_files = 0
        self._lock = threading.Lock()

    def start(self, phase: str, *, total_bytes: int, total_files: int) -> None:
        with self._lock:
            if self._task is None:
                self._progress.start()
            self._phase, self._files, self._total_files = phase, 0, total_files
            self._task = self._progress.add_task(self._label(), total=total_bytes)

    def advance(self, nbytes: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, nbytes)

    def file_done(self) -> None:
        with self._lock:
            self._files += 1
            if self._task is not None:
                self._progress.update(self._task, description=self._label())

    def finish(self) -> None:
        self._progress.stop()

    def _label(self) -> str:
        return f"{self._phase} {self._files}/{self._total_files} files"


class LogProgress:
    """One INFO line per phase every few seconds, for output that is not a terminal."""

    def __init__(self, interval_s: float = LOG_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._phase = ""
        self._bytes = self._files = self._total_bytes = self._total_files = 0
        self._last_report = 0.0

    def start(self, phase: str, *, total_bytes: int, total_files: int) -> None:
        with self._lock:
            self._phase, self._total_bytes, self._total_files = phase, total_bytes, total_files
            self._bytes = self._files = 0
            self._report_locked()

    def advance(self, nbytes: int) -> None:
        with self._lock:
            self._bytes += nbytes
            self._report_if_due_locked()

    def file_done(self) -> None:
        with self._lock:
            self._files += 1
            if self._files == self._total_files:
                self._report_locked()
            else:
                self._report_if_due_locked()

    def finish(self) -> None:
        pass

    def _report_if_due_locked(self) -> None:
        if time.monotonic() - self._last_report >= self.interval_s:
            self._report_locked()

    def _report_locked(self) -> None:
        self._last_report = time.monotonic()
        log.info(
            "progress phase=%s files=%d/%d bytes=%.1f/%.1f MB",
            self._phase, self._files, self._total_files, self._bytes / 1e6, self._total_bytes / 1e6,
        )


def make_progress(enabled: bool) -> ProgressReporter:
    """Return a bar when stderr is a terminal, log lines when it is not, nothing when disabled."""
    if not enabled:
        return NullProgress()
    if sys.stderr.isatty():
        return BarProgress()
    return LogProgress()
