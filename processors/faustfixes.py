"""A faust app whose consumer does not skip records of partitions that never had an offset committed.

With faust-streaming 0.15.3 and aiokafka 0.14, records fetched while table
recovery pauses the streams are dropped, and the seek to committed offsets
that follows moves only partitions whose committed offset is above 0
(`AIOKafkaConsumer.seek_to_committed`). A partition with no committed offset
therefore resumes after the records fetched during recovery, and those are
never processed. That loses the first commits after a worker restart. The
consumer below seeks such partitions of the app's own source topics back to
offset 0 after faust's seek, so they are read again and deduplicated by the
claims table.
"""

from __future__ import annotations

import logging
from typing import Any

import faust
from faust.transport.drivers import aiokafka as aiokafka_driver

log = logging.getLogger(__name__)


class _RereadingConsumer(aiokafka_driver.Consumer):
    """Seek never-committed partitions of `stream_topics` to their start after faust's own seek."""

    stream_topics: frozenset[str] = frozenset()

    async def perform_seek(self) -> None:
        await super().perform_seek()
        for tp in self.assignment():
            if tp.topic in self.stream_topics and not self._committed_offset.get(tp):
                log.debug("topic=%s partition=%d has no committed offset; reading it from the start", tp.topic, tp.partition)
                await self.seek(tp, 0)


def app_class(stream_topics: set[str]) -> type[faust.App]:
    """Return a faust.App subclass whose consumer re-reads never-committed partitions of these topics."""
    consumer = type("CustodyConsumer", (_RereadingConsumer,), {"stream_topics": frozenset(stream_topics)})
    transport = type("CustodyTransport", (aiokafka_driver.Transport,), {"Consumer": consumer})

    class CustodyApp(faust.App):
        def _new_transport(self) -> Any:
            return transport(self.conf.broker_consumer, self)

    return CustodyApp
