"""Quiet windows: notifications of a repo collect until no new one arrives for `quiet_window_s`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from custody.events.models import Agent, FileVersion, RepoRegistered


@dataclass(frozen=True)
class WindowEntry:
    """One object version waiting in a window, and the callback that finishes its notification."""

    file: FileVersion
    last_modified: datetime
    notification_id: str
    author: Agent
    release: Callable[[str | None], None]


@dataclass
class Window:
    """The open window of one repo."""

    repo: RepoRegistered
    last_arrival: float
    entries: list[WindowEntry] = field(default_factory=list)

    def files(self) -> tuple[list[FileVersion], list[FileVersion]]:
        """Return the newest version of each path, and the older versions they supersede."""
        newest: dict[str, WindowEntry] = {}
        superseded = []
        for entry in sorted(self.entries, key=lambda e: e.last_modified):
            if entry.file.path in newest:
                superseded.append(newest[entry.file.path].file)
            newest[entry.file.path] = entry
        return [entry.file for entry in newest.values()], superseded


class QuietWindows:
    """Open windows by repo name."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[str, Window] = {}

    def add(self, repo: RepoRegistered, entry: WindowEntry) -> None:
        """Put an entry into the repo's window and restart its quiet period."""
        now = self._clock()
        window = self._windows.setdefault(repo.name, Window(repo, now))
        window.repo = repo
        window.last_arrival = now
        window.entries.append(entry)

    def due(self) -> list[Window]:
        """Remove and return the windows whose quiet period has passed."""
        now = self._clock()
        ready = [w for w in self._windows.values() if now - w.last_arrival >= w.repo.grouping.quiet_window_s]
        for window in ready:
            del self._windows[window.repo.name]
        return ready

    def restore(self, window: Window) -> None:
        """Put back a window whose commit failed, so it is tried again."""
        existing = self._windows.get(window.repo.name)
        if existing is None:
            self._windows[window.repo.name] = window
        else:
            existing.entries[:0] = window.entries

    def pending(self) -> int:
        """Return the number of entries waiting in all windows."""
        return sum(len(w.entries) for w in self._windows.values())
