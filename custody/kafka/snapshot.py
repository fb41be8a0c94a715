"""Read a topic whole, from its first record to its end at the time of the call.

Registries on compacted topics (repos, pipelines) are read this way by every
command that needs the current state, with a throwaway consumer group that
never commits.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition

from custody.errors import ServiceUnavailableError
from custody.kafka.admin import unreachable_message
from custody.kafka.logs import librdkafka_logger
from custody.settings import KafkaSettings


def read_to_end(settings: KafkaSettings, topic: str, *, timeout_s: float) -> Iterator[Message]:
    """Yield every record of `topic` up to the end offsets read at the start; raise ServiceUnavailableError on failure."""
    consumer = Consumer(
        {
            **settings.client_config(),
            "group.id": f"custody-snapshot-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "logger": librdkafka_logger(),
        }
    )
    try:
        yield from _records(consumer, topic, timeout_s)
    except KafkaException as exc:
        raise ServiceUnavailableError(unreachable_message(settings, str(exc.args[0]))) from exc
    finally:
        consumer.close()


def _records(consumer: Consumer, topic: str, timeout_s: float) -> Iterator[Message]:
    metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
    if metadata is None or metadata.error is not None:
        raise ServiceUnavailableError(f"topic {topic} is missing; create the registry topics with `custody topics create`")

    partitions = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in metadata.partitions]
    ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=timeout_s)[1] for tp in partitions}
    remaining = {p for p, end in ends.items() if end > 0}
    consumer.assign(partitions)

    deadline = time.monotonic() + timeout_s
    while remaining:
        # poll returns each record as soon as it arrives; consume() would wait for a full batch.
        message = consumer.poll(0.5)
        if message is None:
            if time.monotonic() > deadline:
                raise ServiceUnavailableError(f"reading topic {topic} timed out after {timeout_s:.0f}s")
            continue

        error = message.error()
        if error is not None:
            # Compacted topics have offset gaps, so the end of a partition is also read from EOF events.
            if error.code() == KafkaError._PARTITION_EOF:
                remaining.discard(message.partition())
                continue
            raise ServiceUnavailableError(f"reading topic {topic} failed: {error.str()}")

        yield message
        if message.offset() + 1 >= ends[message.partition()]:
            remaining.discard(message.partition())
