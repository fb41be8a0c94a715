"""Start, stop and report the local stack: Kafka, then Neo4j, then the S3 server.

Kafka starts first because the S3 server publishes bucket notifications to it,
and the registry's topics are created as soon as Kafka is healthy.

The Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, kwok) is the optional group `kube`: it starts when named
(`custody dev up kube`) or when CUSTODY_STACK_KUBE=1, and only then appears in
the status, so the default stack stays fast for work without Kubernetes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from custody.devstack.config import StackSettings
from custody.devstack.service import Service
from custody.errors import StackError

log = logging.getLogger(__name__)

SERVICE_NAMES = ("kafka", "neo4j", "s3")
KUBE_SERVICE_NAMES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
# A group name on the command line stands for all of its services.
GROUPS = {"kube": KUBE_SERVICE_NAMES}


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
    from custody.devstack.kube import build_kube_services
    from custody.devstack.neo4j import Neo4jService
    from custody.devstack.s3 import S3Service

    services: dict[str, Service] = {"kafka": KafkaService(settings), "neo4j": Neo4jService(settings), "s3": S3Service(settings)}
    services.update(build_kube_services(settings))
    return services


def default_names(settings: StackSettings) -> tuple[str, ...]:
    """Return the services a command without names acts on: the Kubernetes group only when enabled."""
    return SERVICE_NAMES + (KUBE_SERVICE_NAMES if settings.kube else ())


def select(
    services: dict[str, Service], names: list[str] | None, *, default: tuple[str, ...] = SERVICE_NAMES
) -> list[Service]:
    """Return the named services (or the `default` ones) in start order; raise StackError for an unknown name."""
    if not names:
        return [service for name, service in services.items() if name in default]
    expanded = [member for name in names for member in GROUPS.get(name, (name,))]
    unknown = [name for name in expanded if name not in services]
    if unknown:
        choices = ", ".join([*services, *GROUPS])
        raise StackError(f"unknown service {', '.join(unknown)}; choose from {choices}")
    return [service for name, service in services.items() if name in expanded]


def up(settings: StackSettings, names: list[str] | None = None) -> dict[str, float]:
    """Start the selected services (all by default); return seconds each took to become healthy."""
    timings: dict[str, float] = {}
    for service in select(build_services(settings), names, default=default_names(settings)):
        log.info("starting service=%s version=%s", service.name, service.version)
        timings[service.name] = service.start()
        if service.name == "kafka":
            _create_topics(settings)
    return timings


def down(settings: StackSettings, names: list[str] | None = None) -> list[str]:
    """Stop the selected services (all by default) in reverse start order; return the names that were running."""
    stopped = []
    services = build_services(settings)
    for service in reversed(select(services, names, default=tuple(services))):
        if service.stop():
            stopped.append(service.name)
    return stopped


def status(settings: StackSettings) -> list[ServiceStatus]:
    """Return the state of the default services and of any other service that runs."""
    rows = []
    default = default_names(settings)
    for service in build_services(settings).values():
        pid = service.process.pid()
        if service.name not in default and pid is None:
            continue
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
