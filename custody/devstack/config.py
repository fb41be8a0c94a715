"""Settings of the local stack: ports, versions, credentials and directories."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "custody"


def _default_state_dir() -> Path:
    return Path.home() / ".local" / "state" / "custody" / "stack"


class StackSettings(BaseSettings):
    """Ports, versions and directories of the local stack (`CUSTODY_STACK_*`)."""

    model_config = SettingsConfigDict(env_prefix="CUSTODY_STACK_", frozen=True, extra="ignore", populate_by_name=True)

    host: str = Field("127.0.0.1", description="Address every service binds to (CUSTODY_STACK_HOST).")
    cache_dir: Path = Field(default_factory=_default_cache_dir, description="Downloads and builds, keyed by version (CUSTODY_STACK_CACHE_DIR).")
    state_dir: Path = Field(default_factory=_default_state_dir, description="Data, logs and pid files (CUSTODY_STACK_STATE_DIR).")

    kafka_version: str = Field("3.9.2", description="Apache Kafka release from Maven Central (CUSTODY_STACK_KAFKA_VERSION).")
    kafka_port: int = Field(9092, description="Kafka client listener port (CUSTODY_STACK_KAFKA_PORT).")
    kafka_controller_port: int = Field(9093, description="KRaft controller listener port (CUSTODY_STACK_KAFKA_CONTROLLER_PORT).")

    neo4j_version: str = Field("5.26.30", description="Neo4j Community release from Maven Central (CUSTODY_STACK_NEO4J_VERSION).")
    neo4j_bolt_port: int = Field(7687, description="Neo4j Bolt port (CUSTODY_STACK_NEO4J_BOLT_PORT).")
    neo4j_user: str = Field("neo4j", description="Neo4j user (CUSTODY_STACK_NEO4J_USER).")
    neo4j_password: SecretStr = Field(SecretStr("custody-dev-password"), description="Neo4j password (CUSTODY_STACK_NEO4J_PASSWORD).")

    s3_version: str = Field("v1.8.0", description="Versity S3 Gateway module version (CUSTODY_STACK_S3_VERSION).")
    s3_port: int = Field(7070, description="S3 API port (CUSTODY_STACK_S3_PORT).")
    s3_access_key: str = Field("custody", description="S3 root access key (CUSTODY_STACK_S3_ACCESS_KEY).")
    s3_secret_key: SecretStr = Field(SecretStr("custody-dev-secret"), description="S3 root secret key (CUSTODY_STACK_S3_SECRET_KEY).")
    s3_events_topic: str = Field("custody.storage.s3-events", description="Kafka topic the S3 server sends bucket notifications to (CUSTODY_STACK_S3_EVENTS_TOPIC).")

    # The Kubernetes control plane (custody.devstack.kube). Its versions are
    # pinned in custody/devstack/go/kube/go.mod, not here.
    kube: bool = Field(False, description="Start the Kubernetes control plane with a plain `custody dev up` (CUSTODY_STACK_KUBE).")
    kube_etcd_port: int = Field(2379, description="etcd client port (CUSTODY_STACK_KUBE_ETCD_PORT).")
    kube_etcd_peer_port: int = Field(2380, description="etcd peer port (CUSTODY_STACK_KUBE_ETCD_PEER_PORT).")
    kube_apiserver_port: int = Field(6443, description="kube-apiserver port (CUSTODY_STACK_KUBE_APISERVER_PORT).")
    kube_controller_manager_port: int = Field(10257, description="kube-controller-manager health port (CUSTODY_STACK_KUBE_CONTROLLER_MANAGER_PORT).")
    kube_scheduler_port: int = Field(10259, description="kube-scheduler health port (CUSTODY_STACK_KUBE_SCHEDULER_PORT).")
    kwok_port: int = Field(10247, description="kwok health port (CUSTODY_STACK_KWOK_PORT).")

    topic_prefix: str = Field(
        "",
        validation_alias="CUSTODY_TOPIC_PREFIX",
        description="Prefix of every topic, shared with the services (CUSTODY_TOPIC_PREFIX).",
    )

    start_timeout_s: float = Field(180.0, description="Seconds to wait for a service to become healthy (CUSTODY_STACK_START_TIMEOUT_S).")

    @property
    def s3_events_topic_name(self) -> str:
        """Return the full name of the bucket-notification topic, prefix included."""
        return f"{self.topic_prefix}{self.s3_events_topic}"

    def service_dir(self, name: str) -> Path:
        """Return the state directory of one service (data, log and pid file)."""
        return self.state_dir / name
