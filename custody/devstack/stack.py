"""Start, stop and report the local stack: Kafka, then Neo4j, then the S3 server.

Kafka starts first because the S3 server publishes bucket notifications to it,
and the registry's topics are created as soon as Kafka is healthy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from custody.devstack.config import StackSettings
from custody.devstack.service import Service
from custody.errors import StackError

log = logging.getLogger(__name__)

SERVICE_NAMES = ("kafka", "neo4j", "s3")


@dataclass(frozen=True)
class ServiceStatus:
    """One row of `custody dev status`."""

    name: str
    version: str
    endpoint: str
    pid: int | None
    healthy: bool
    log_file: str


def build_services(settings: StackSettings) -> dict[str, Service]:
    """Return the stack's services in start order."""
    # Imported here so that `custody --help` does not load every service module.
    from custody.devstack.kafka import KafkaService
    from custody.devstack.neo4j import Neo4jService
    from custody.devstack.s3 import S3Service

    return {"kafka": KafkaService(settings), "neo4j": Neo4jService(settings), "s3": S3Service(settings)}


def select(services: dict[str, Service], names: list[str] | None) -> list[Service]:
    """Return the named services in start order; raise StackError for an unknown name."""
    if not names:
        return list(services.values())
    unknown = [name for name in names if name not in services]
    if unknown:
        raise StackError(f"unknown service {', '.join(unknown)}; choose from {', '.join(services)}")
    return [service for name, service in services.items() if name in names]


def up(settings: StackSettings, names: list[str] | None = None) -> dict[str, float]:
    """Start the selected services (all by default); return seconds each took to become healthy."""
    timings: dict[str, float] = {}
    for service in select(build_services(settings), names):
        log.info("starting service=%s version=%s", service.name, service.version)
        timings[service.name] = service.start()
        if service.name == "kafka":
            _create_topics(settings)
    return timings


def down(settings: StackSettings, names: list[str] | None = None) -> list[str]:
    """Stop the selected services in reverse start order; return the names that were running."""
    stopped = []
    for service in reversed(select(build_services(settings), names)):
        if service.stop():
            stopped.append(service.name)
    return stopped


def status(settings: StackSettings) -> list[ServiceStatus]:
    """Return the state of every service."""
    rows = []
    for service in build_services(settings).values():
        pid = service.process.pid()
        rows.append(
            ServiceStatus(
                name=service.name,
                version=service.version,
                endpoint=service.endpoint(),
                pid=pid,
                healthy=pid is not None and service.is_healthy(),
                log_file=str(service.process.log_file),
            )
        )
    return rows


def _create_topics(settings: StackSettings) -> None:
    from custody.devstack.tools import client_host, join_host_port
    from custody.kafka.admin import ensure_topics
    from custody.settings import KafkaSettings

    kafka = KafkaSettings(bootstrap_servers=join_host_port(client_host(settings.host), settings.kafka_port))
    created = ensure_topics(kafka, prefix=settings.topic_prefix)
    log.info("topics ready created=%d prefix=%r", len(created), settings.topic_prefix)
