"""Follow the demo's topics in a background thread, so the demo can wait for events and show progress."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from custody.events import CloudEvent, InvalidEvent, decode
from custody.kafka import ManualCommitConsumer
from custody.settings import Settings
from custody.topics import topic

log = logging.getLogger(__name__)

FOLLOWED = ("custody.data.commits", "custody.pipelines.history", "custody.decisions", "custody.jobs", "custody.alerts", "custody.dlq")


class EventWatcher:
    """Collect every event of the run's topics and print one progress line per job step."""

    def __init__(self, settings: Settings, run_id: str) -> None:
        self.events: list[CloudEvent] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._consumer = ManualCommitConsumer(settings.kafka, group_id=f"demo-{run_id}-watcher")
        self._consumer.subscribe([topic(name).full_name(settings.topic_prefix) for name in FOLLOWED])
        self._thread = threading.Thread(target=self._follow, name="demo-events", daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        while not self._stop.is_set():
            message = self._consumer.poll(0.5)
            if message is None:
                continue
            try:
                event = decode(message.value() or b"")
            except InvalidEvent as exc:
                log.warning("demo watcher skipped invalid record topic=%s offset=%d: %s", message.topic(), message.offset(), exc)
                continue
            with self._lock:
                self.events.append(event)
            progress(event)
        self._consumer.close()

    def of_type(self, suffix: str) -> list[CloudEvent]:
        """Return the events whose type ends with `suffix`, e.g. `job.succeeded.v1`."""
        with self._lock:
            return [event for event in self.events if event.type.endswith(suffix)]

    def wait_for(self, description: str, condition: Callable[[], object], timeout_s: float, alive: Callable[[], None]) -> object:
        """Poll `condition` until it returns a true value; raise TimeoutError naming `description`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            alive()
            time.sleep(0.5)
        raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {description}")

    def close(self) -> None:
        """Stop following and leave the consumer group."""
        self._stop.set()
        self._thread.join(10)


def progress(event: CloudEvent) -> None:
    """Print one line for each step of the chain as it happens."""
    data = event.data
    kind = event.type.removeprefix("io.custody.").removesuffix(".v1")
    if kind == "data.committed":
        print(f"  [event] commit {data.commit_id[:12]} in {data.repo} by {data.author.agent_id} ({len(data.files)} file(s))", flush=True)
    elif kind == "trigger.decided":
        print(f"  [event] decision {data.pipeline}: {data.outcome} ({data.reason[:220]})", flush=True)
    elif kind.startswith("job."):
        print(f"  [event] {kind} {data.job_id[:16]}", flush=True)
    elif kind == "alert.raised":
        print(f"  [event] alert {data.rule}: {data.summary[:100]}", flush=True)
    elif kind == "record.deadlettered":
        print(f"  [event] dead letter from {data.service}: {data.reason[:100]}", flush=True)
