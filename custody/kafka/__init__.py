"""Kafka helpers: a durable producer, a manual-commit consumer, topic creation and dead letters."""

from custody.kafka.admin import ensure_topics, probe_kafka
from custody.kafka.consumer import ManualCommitConsumer
from custody.kafka.deadletter import DeadLetterWriter
from custody.kafka.producer import DurableProducer

__all__ = ["DeadLetterWriter", "DurableProducer", "ManualCommitConsumer", "ensure_topics", "probe_kafka"]
