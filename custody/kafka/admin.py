"""Probe Kafka and create the registry's topics idempotently."""

from __future__ import annotations

import logging
import time

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from custody.errors import ServiceUnavailableError
from custody.kafka.logs import librdkafka_logger
from custody.settings import KafkaSettings
from custody.topics import TOPICS, TopicSpec

log = logging.getLogger(__name__)


def unreachable_message(settings: KafkaSettings, detail: str) -> str:
    """Return the error text for an unreachable Kafka cluster."""
    return (
        f"Kafka is not reachable at {settings.bootstrap_servers} ({detail}). "
        "Start the local stack with `custody dev up`, or set CUSTODY_KAFKA_BOOTSTRAP_SERVERS "
        "(and the CUSTODY_KAFKA_SASL_*/SSL_* settings) to a running cluster."
    )


def admin_client(settings: KafkaSettings) -> AdminClient:
    """Return an admin client; librdkafka connects lazily, on the first request."""
    return AdminClient({**settings.client_config(), "logger": librdkafka_logger()})


def probe_kafka(settings: KafkaSettings, *, timeout_s: float = 5.0) -> int:
    """Fetch cluster metadata once; return the broker count or raise ServiceUnavailableError."""
    try:
        metadata = admin_client(settings).list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise ServiceUnavailableError(unreachable_message(settings, str(exc.args[0]))) from exc
    return len(metadata.brokers)


def ensure_topics(
    settings: KafkaSettings,
    *,
    prefix: str = "",
    topics: tuple[TopicSpec, ...] = TOPICS,
    timeout_s: float = 30.0,
    replication_factor: int = 1,
) -> list[str]:
    """Create every missing topic with its registry settings; return the names created.

    A topic that exists already is left as it is, and a difference in partition
    count is logged, because partitions cannot shrink and growing them would
    move keys to other partitions.
    """
    admin = admin_client(settings)
    try:
        existing = admin.list_topics(timeout=timeout_s).topics
    except KafkaException as exc:
        raise ServiceUnavailableError(unreachable_message(settings, str(exc.args[0]))) from exc

    wanted = {spec.full_name(prefix): spec for spec in topics}
    for name, spec in wanted.items():
        if name in existing and len(existing[name].partitions) != spec.partitions:
            log.warning(
                "topic=%s has %d partitions but the registry sets %d; leaving it unchanged",
                name, len(existing[name].partitions), spec.partitions,
            )

    missing = [
        NewTopic(name, num_partitions=spec.partitions, replication_factor=replication_factor, config=spec.config())
        for name, spec in wanted.items()
        if name not in existing
    ]
    if not missing:
        return []

    created = []
    for name, future in admin.create_topics(missing, request_timeout=timeout_s).items():
        try:
            future.result()
            created.append(name)
            log.info("created topic=%s", name)
        except KafkaException as exc:
            # Another process may create the same topic between our listing and our request.
            if exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise ServiceUnavailableError(f"could not create topic {name}: {exc.args[0]}") from exc

    _wait_for_leaders(admin, created, timeout_s)
    return created


def _wait_for_leaders(admin: AdminClient, names: list[str], timeout_s: float) -> None:
    # CreateTopics returns before partition leaders are elected; a client that
    # reads watermarks or produces in that gap gets NOT_LEADER_FOR_PARTITION.
    deadline = time.monotonic() + timeout_s
    pending = set(names)
    while pending and time.monotonic() < deadline:
        metadata = admin.list_topics(timeout=timeout_s)
        for name in list(pending):
            partitions = metadata.topics.get(name)
            if partitions and partitions.error is None and all(p.leader >= 0 for p in partitions.partitions.values()):
                pending.discard(name)
        if pending:
            time.sleep(0.1)
    if pending:
        log.warning("topics=%s have no partition leader after %.0fs; clients may retry", ",".join(sorted(pending)), timeout_s)
