"""A job's events on local disk before they go to Kafka (a transactional outbox).

Each job event is written to `<job dir>/events/<seq>-<name>.json` before it is
published, and a `.sent` marker is added once Kafka acknowledged it. The files
are also the job's state: which attempt ran last, whether it finished, and how
many failures count against the retry budget. A worker that restarts resends
what was not acknowledged, with the same event ids, and resumes from there.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from custody.events import CloudEvent, decode

RecordName = Literal["started", "failed", "succeeded"]


@dataclass(frozen=True)
class OutboxRecord:
    """One job event with the bookkeeping the executor needs."""

    seq: int
    name: RecordName
    attempt: int
    final: bool
    counts: bool
    event_json: str
    sent: bool

    @property
    def event(self) -> CloudEvent:
        """The stored event."""
        return decode(self.event_json)


@dataclass(frozen=True)
class JobState:
    """State of a job, read from its outbox."""

    records: tuple[OutboxRecord, ...]

    @property
    def done(self) -> bool:
        """True once the job succeeded or failed for good."""
        return any(r.name == "succeeded" or (r.name == "failed" and r.final) for r in self.records)

    @property
    def last_attempt(self) -> int:
        """The highest attempt number recorded, 0 before the first."""
        return max((r.attempt for r in self.records), default=0)

    @property
    def interrupted(self) -> bool:
        """True when the last attempt started and never reported an end."""
        attempt = self.last_attempt
        ends = [r for r in self.records if r.attempt == attempt and r.name != "started"]
        return attempt > 0 and not ends

    @property
    def counted_failures(self) -> int:
        """Failures that count against the retry budget; interruptions by a worker restart do not."""
        return sum(1 for r in self.records if r.name == "failed" and r.counts)

    @property
    def unsent(self) -> list[OutboxRecord]:
        """Records whose event Kafka has not acknowledged yet, in order."""
        return [r for r in self.records if not r.sent]


class Outbox:
    """The outbox directory of one job."""

    def __init__(self, job_dir: Path) -> None:
        self.directory = job_dir / "events"

    def add(self, name: RecordName, event: CloudEvent, *, attempt: int, final: bool = False, counts: bool = True) -> OutboxRecord:
        """Write a record durably and return it; the caller publishes it next."""
        self.directory.mkdir(parents=True, exist_ok=True)
        seq = len(list(self.directory.glob("*.json"))) + 1
        record = OutboxRecord(seq, name, attempt, final, counts, event.model_dump_json(), False)
        document = {"name": name, "attempt": attempt, "final": final, "counts": counts, "event": json.loads(record.event_json)}
        _write_durably(self._path(record), json.dumps(document).encode("utf-8"))
        return record

    def mark_sent(self, record: OutboxRecord) -> None:
        """Note that Kafka acknowledged the record's event."""
        _write_durably(self._path(record).with_suffix(".sent"), b"")

    def state(self) -> JobState:
        """Read every record, in order."""
        if not self.directory.is_dir():
            return JobState(())
        records = []
        for path in sorted(self.directory.glob("*.json")):
            document = json.loads(path.read_text(encoding="utf-8"))
            records.append(
                OutboxRecord(
                    seq=int(path.name.split("-", 1)[0]),
                    name=document["name"],
                    attempt=document["attempt"],
                    final=document["final"],
                    counts=document["counts"],
                    event_json=json.dumps(document["event"]),
                    sent=path.with_suffix(".sent").exists(),
                )
            )
        return JobState(tuple(records))

    def _path(self, record: OutboxRecord) -> Path:
        return self.directory / f"{record.seq:05d}-{record.name}.json"


def _write_durably(path: Path, content: bytes) -> None:
    # Write, fsync and rename, so a crash leaves either the whole file or none of it.
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
