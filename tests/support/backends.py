"""Where integration tests find Kafka, Neo4j and S3.

1. `external`: every `CUSTODY_*` endpoint below is set, so a running stack is used.
2. `docker`: a Docker engine responds, so testcontainers starts the servers.
3. `local`: otherwise the project's own local stack is started (`custody dev up`).

`CUSTODY_TEST_BACKEND=external|docker|local` forces one of them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import SecretStr

from custody.settings import KafkaSettings, Neo4jSettings, S3Settings

log = logging.getLogger(__name__)

ENDPOINT_VARIABLES = ("CUSTODY_KAFKA_BOOTSTRAP_SERVERS", "CUSTODY_NEO4J_URI", "CUSTODY_S3_ENDPOINT_URL")

KAFKA_IMAGE = "confluentinc/cp-kafka:7.9.0"
NEO4J_IMAGE = "neo4j:5.26-community"
S3_IMAGE = "versity/versitygw:v1.8.0"


@dataclass
class Backend:
    """The endpoints integration tests use, and how to release them at the end of the session."""

    name: str
    kafka: KafkaSettings
    neo4j: Neo4jSettings
    s3: S3Settings
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        """Release what this backend started, in reverse order."""
        for cleanup in reversed(self.cleanups):
            cleanup()


def choose_backend() -> str:
    """Return `external`, `docker` or `local` (see the module docstring)."""
    forced = os.environ.get("CUSTODY_TEST_BACKEND")
    if forced:
        if forced not in ("external", "docker", "local"):
            raise ValueError(f"CUSTODY_TEST_BACKEND={forced!r} is invalid; use external, docker or local")
        return forced
    if all(os.environ.get(variable) for variable in ENDPOINT_VARIABLES):
        return "external"
    if docker_engine_reachable():
        return "docker"
    return "local"


def docker_engine_reachable() -> bool:
    """Return True when a Docker engine responds to a ping within two seconds."""
    try:
        import docker

        client = docker.from_env(timeout=2)
        return bool(client.ping())
    except Exception:  # noqa: BLE001 - any failure means "no engine", which selects another backend
        return False


def start_backend() -> Backend:
    """Start or attach to the services for this test session."""
    name = choose_backend()
    log.info("integration backend=%s", name)
    if name == "external":
        return Backend("external", KafkaSettings(), Neo4jSettings(), S3Settings())
    if name == "docker":
        return _start_containers()
    return _start_local_stack()


def _start_local_stack() -> Backend:
    from custody.devstack import stack
    from custody.devstack.config import StackSettings

    settings = StackSettings()
    running_before = {row.name for row in stack.status(settings) if row.healthy}
    stack.up(settings)

    backend = Backend(
        "local",
        KafkaSettings(bootstrap_servers=f"{settings.host}:{settings.kafka_port}"),
        Neo4jSettings(uri=f"bolt://{settings.host}:{settings.neo4j_bolt_port}", user=settings.neo4j_user, password=settings.neo4j_password),
        S3Settings(
            endpoint_url=f"http://{settings.host}:{settings.s3_port}",
            access_key_id=settings.s3_access_key,
            secret_access_key=settings.s3_secret_key,
        ),
    )
    # Services the session started are stopped at its end, unless CUSTODY_KEEP_STACK=1;
    # services that were already running belong to the developer and stay up.
    started = [name for name in ("kafka", "neo4j", "s3") if name not in running_before]
    if started and os.environ.get("CUSTODY_KEEP_STACK") != "1":
        backend.cleanups.append(lambda: stack.down(settings, started))
    return backend


def _start_containers() -> Backend:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy
    from testcontainers.kafka import KafkaContainer
    from testcontainers.neo4j import Neo4jContainer

    password = "custody-test-password"
    kafka = KafkaContainer(KAFKA_IMAGE).with_kraft()
    neo4j = Neo4jContainer(NEO4J_IMAGE, password=password)
    s3 = (
        DockerContainer(S3_IMAGE)
        .with_env("ROOT_ACCESS_KEY", "custody")
        .with_env("ROOT_SECRET_KEY", "custody-test-secret")
        .with_command("--port :7070 posix /tmp/s3")
        .with_exposed_ports(7070)
        .waiting_for(LogMessageWaitStrategy("7070"))
    )
    backend = Backend("docker", KafkaSettings(), Neo4jSettings(), S3Settings())
    for container in (kafka, neo4j, s3):
        container.start()
        backend.cleanups.append(container.stop)

    backend.kafka = KafkaSettings(bootstrap_servers=kafka.get_bootstrap_server())
    backend.neo4j = Neo4jSettings(uri=neo4j.get_connection_url(), user="neo4j", password=SecretStr(password))
    backend.s3 = S3Settings(
        endpoint_url=f"http://{s3.get_container_host_ip()}:{s3.get_exposed_port(7070)}",
        access_key_id="custody",
        secret_access_key=SecretStr("custody-test-secret"),
    )
    return backend
