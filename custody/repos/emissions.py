"""Tell whether an event reached a topic, by reading the records written since a time.

The commit protocol writes the repo head before it sends the commit event. A
writer that dies in between leaves a `pending` head. The process that finishes
the commit must know whether the event was already acknowledged, because
sending it again would duplicate it and not sending it would lose it.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timedelta

from confluent_kafka import OFFSET_END, Consumer, KafkaError, KafkaException, TopicPartition

from custody.errors import ServiceUnavailableError
from custody.kafka.admin import unreachable_message
from custody.kafka.logs import librdkafka_logger
from custody.settings import KafkaSettings

log = logging.getLogger(__name__)

# Producer and broker clocks may differ a little; records are looked for from
# this much earlier than the claim time.
CLOCK_SKEW = timedelta(seconds=30)
READ_BATCH = 500
POLL_S = 0.1


def event_was_sent(settings: KafkaSettings, topic: str, event_id: str, *, since: datetime, timeout_s: float = 10.0) -> bool:
    """Return True if a record whose `ce_id` header is `event_id` was written to `topic` after `since`."""
    consumer = Consumer(
        {
            **settings.client_config(),
            # A throwaway group that never commits: this is a read, not a subscription.
            "group.id": f"custody-emission-check-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
            "logger": librdkafka_logger(),
        }
    )
    try:
        return _scan(consumer, topic, event_id.encode(), since, timeout_s)
    except KafkaException as exc:
        raise ServiceUnavailableError(unreachable_message(settings, str(exc.args[0]))) from exc
    finally:
        consumer.close()


def _scan(consumer: Consumer, topic: str, event_id: bytes, since: datetime, timeout_s: float) -> bool:
    metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
    if metadata is None or metadata.error is not None:
        raise ServiceUnavailableError(f"topic {topic} is missing; create it with `custody topics create`")

    since_ms = int((since - CLOCK_SKEW).timestamp() * 1000)
    wanted = [TopicPartition(topic, partition, since_ms) for partition in metadata.partitions]
    starts = [tp for tp in consumer.offsets_for_times(wanted, timeout=timeout_s) if tp.offset not in (OFFSET_END, -1)]
    if not starts:
        return False

    ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=timeout_s)[1] for tp in starts}
    open_partitions = {tp.partition for tp in starts if tp.offset < ends[tp.partition]}
    consumer.assign(starts)
    deadline = time.monotonic() + timeout_s
    while open_partitions:
        if time.monotonic() > deadline:
            raise ServiceUnavailableError(f"reading topic {topic} timed out after {timeout_s:.0f}s while looking for event {event_id.decode()}")
        # consume() waits until the batch is full or the timeout passes, so the timeout is short.
        for message in consumer.consume(READ_BATCH, timeout=POLL_S):
            error = message.error()
            if error is not None and error.code() == KafkaError._PARTITION_EOF:
                open_partitions.discard(message.partition())
                continue
            if error is not None:
                raise ServiceUnavailableError(f"reading topic {topic} failed: {error.str()}")
            if dict(message.headers() or []).get("ce_id") == event_id:
                return True
            if message.offset() + 1 >= ends[message.partition()]:
                open_partitions.discard(message.partition())
    return False
