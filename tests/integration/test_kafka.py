"""Kafka helpers against the real broker."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from confluent_kafka.admin import ConfigResource

from custody.events import decode, make_event
from custody.events import models
from custody.kafka import DeadLetterWriter, DurableProducer, ManualCommitConsumer, ensure_topics
from custody.kafka.admin import admin_client
from custody.settings import KafkaSettings
from custody.topics import TOPICS, topic


def consume(consumer: ManualCommitConsumer, count: int, timeout_s: float = 30.0) -> list:
    messages = []
    deadline = time.monotonic() + timeout_s
    while len(messages) < count and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None:
            messages.append(message)
    return messages


def job_started(job_id: str) -> models.JobStarted:
    return models.JobStarted(job_id=job_id, attempt=1, started_at=datetime.now(timezone.utc), runner="pid:1")


def test_ensure_topics_creates_registry_with_settings(kafka_settings: KafkaSettings, unique: str):
    prefix = f"test-{unique}."

    created = ensure_topics(kafka_settings, prefix=prefix)
    again = ensure_topics(kafka_settings, prefix=prefix)

    assert sorted(created) == sorted(spec.full_name(prefix) for spec in TOPICS)
    assert again == []
    admin = admin_client(kafka_settings)
    metadata = admin.list_topics(timeout=10)
    assert len(metadata.topics[f"{prefix}custody.jobs"].partitions) == topic("custody.jobs").partitions
    resource = ConfigResource(ConfigResource.Type.TOPIC, f"{prefix}custody.pipelines")
    configs = admin.describe_configs([resource])[resource].result()
    assert configs["cleanup.policy"].value == "compact"


def test_event_round_trip_with_manual_commit(kafka_settings: KafkaSettings, unique: str):
    prefix = f"test-{unique}."
    ensure_topics(kafka_settings, prefix=prefix)
    producer = DurableProducer(kafka_settings, topic_prefix=prefix)
    sent = [make_event(job_started(f"job-{i}"), source="/custody/tests", subject=f"job-{i}") for i in range(3)]

    for event in sent:
        producer.send_event(event)
    producer.flush()

    consumer = ManualCommitConsumer(kafka_settings, group_id=f"g-{unique}")
    consumer.subscribe([f"{prefix}custody.jobs"])
    received = consume(consumer, 3)
    for message in received[:2]:
        consumer.commit(message)
    consumer.close()

    assert sorted(decode(m.value()).id for m in received) == sorted(e.id for e in sent)
    assert {m.key() for m in received} == {b"job-0", b"job-1", b"job-2"}
    assert dict(received[0].headers())["ce_type"] == b"io.custody.job.started.v1"


def test_uncommitted_record_is_delivered_again(kafka_settings: KafkaSettings, unique: str):
    prefix = f"test-{unique}."
    ensure_topics(kafka_settings, prefix=prefix)
    producer = DurableProducer(kafka_settings, topic_prefix=prefix)
    producer.send_event(make_event(job_started("job-a"), source="/custody/tests"))
    producer.send_event(make_event(job_started("job-a"), source="/custody/tests"))
    producer.flush()
    jobs_topic = f"{prefix}custody.jobs"

    first = ManualCommitConsumer(kafka_settings, group_id=f"g-{unique}")
    first.subscribe([jobs_topic])
    first_batch = consume(first, 2)
    first.commit(first_batch[0])
    first.close()

    second = ManualCommitConsumer(kafka_settings, group_id=f"g-{unique}")
    second.subscribe([jobs_topic])
    second_batch = consume(second, 1)
    second.close()

    assert len(first_batch) == 2
    assert [m.offset() for m in second_batch] == [first_batch[1].offset()]


def test_dead_letter_keeps_original_bytes(kafka_settings: KafkaSettings, unique: str):
    prefix = f"test-{unique}."
    ensure_topics(kafka_settings, prefix=prefix)
    producer = DurableProducer(kafka_settings, topic_prefix=prefix)
    source_topic = f"{prefix}custody.jobs"
    producer.produce(source_topic, b"hello", key=b"k")
    producer.flush()

    reader = ManualCommitConsumer(kafka_settings, group_id=f"g-{unique}")
    reader.subscribe([source_topic])
    [bad] = consume(reader, 1)
    DeadLetterWriter(producer, service="tests").send(bad, reason="record is not JSON", error_type="InvalidEvent")
    reader.commit(bad)
    reader.close()

    dlq = ManualCommitConsumer(kafka_settings, group_id=f"dlq-{unique}")
    dlq.subscribe([f"{prefix}custody.dlq"])
    [letter] = consume(dlq, 1)
    dlq.close()
    event = decode(letter.value())

    import base64

    assert event.type == "io.custody.record.deadlettered.v1"
    assert base64.b64decode(event.data.value_b64) == b"hello"
    assert event.data.source_topic == source_topic
    assert event.data.offset == bad.offset()
    assert event.data.reason == "record is not JSON"
    assert letter.key() == source_topic.encode()
