"""Track which consumed records are finished, so offsets only move past finished work.

Records of one partition may finish out of order: a record waiting in a quiet
window stays open while later ones finish. The committable offset of a
partition is therefore the end of its leading run of finished records.
"""

from __future__ import annotations

from collections import OrderedDict

Partition = tuple[str, int]


class OffsetTracker:
    """Open and finished offsets per (topic, partition), in consumption order."""

    def __init__(self) -> None:
        self._records: dict[Partition, OrderedDict[int, bool]] = {}

    def add(self, topic: str, partition: int, offset: int) -> None:
        """Record a consumed, not yet finished record."""
        self._records.setdefault((topic, partition), OrderedDict())[offset] = False

    def finish(self, topic: str, partition: int, offset: int) -> None:
        """Mark a record finished; unknown records (from a revoked partition) are ignored."""
        records = self._records.get((topic, partition))
        if records is not None and offset in records:
            records[offset] = True

    def committable(self) -> dict[Partition, int]:
        """Return, and forget, the next offset to commit for each partition whose leading records are finished."""
        result = {}
        for partition, records in self._records.items():
            last = None
            while records and next(iter(records.values())):
                last, _finished = records.popitem(last=False)
            if last is not None:
                result[partition] = last + 1
        return result

    def forget(self, partitions: list[Partition]) -> None:
        """Drop the records of partitions this consumer no longer owns."""
        for partition in partitions:
            self._records.pop(partition, None)

    def open_count(self) -> int:
        """Return the number of records not yet finished."""
        return sum(1 for records in self._records.values() for finished in records.values() if not finished)
