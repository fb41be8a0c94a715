"""Apache Kafka in KRaft mode: one node that is both broker and controller.

The broker jars come from Maven Central (`org.apache.kafka:kafka_2.13` and its
runtime dependencies, plus reload4j as the logging backend), so the only
download tool is `mvn`. The JVM runs `kafka.Kafka` directly, without the shell
scripts of the Kafka binary distribution.
"""

from __future__ import annotations

import base64
import logging
import socket
import time
import uuid
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from custody.devstack.config import StackSettings
from custody.devstack.service import Service
from custody.devstack.tools import client_host, exclusive_lock, fetch_maven_jars, java_tool, join_host_port, run_logged

log = logging.getLogger(__name__)

NODE_ID = 1

# The kafka_2.13 3.9.2 POM declares slf4j-api 1.7.36 and no binding, so without
# these the broker logs nothing. slf4j-reload4j binds SLF4J 1.7 to reload4j, a
# maintained drop-in for log4j 1.2 that reads the log4j.properties below.
SLF4J_VERSION = "1.7.36"
RELOAD4J_VERSION = "1.2.25"
# Pinned, because without it Maven 3.8.7 runs the plugin version its own release
# binds (2.8), so the result would depend on the Maven installed.
DEPENDENCY_PLUGIN_VERSION = "3.8.1"

# The G1 flags that Kafka's kafka-run-class.sh sets, with a heap below the 1 GB
# of kafka-server-start.sh, because the dev machine also runs Neo4j and an S3 server.
BROKER_JVM_OPTIONS = [
    "-Xms256m",
    "-Xmx768m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
]
STORAGE_TOOL_JVM_OPTIONS = ["-Xmx256m", "-Djava.awt.headless=true"]

MVN_TIMEOUT_S = 900.0
STORAGE_FORMAT_TIMEOUT_S = 120.0
HEALTH_CONNECT_TIMEOUT_S = 0.5
HEALTH_METADATA_TIMEOUT_S = 2.0

POM_TEMPLATE = """\
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by custody.devstack.kafka: lists the jars of the Kafka broker. -->
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 https://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>custody.devstack</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>{kafka_version}</version>
  <packaging>pom</packaging>

  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>{kafka_version}</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-reload4j</artifactId>
      <version>{slf4j_version}</version>
    </dependency>
    <dependency>
      <groupId>ch.qos.reload4j</groupId>
      <artifactId>reload4j</artifactId>
      <version>{reload4j_version}</version>
    </dependency>
  </dependencies>

  <build>
    <pluginManagement>
      <plugins>
        <plugin>
          <groupId>org.apache.maven.plugins</groupId>
          <artifactId>maven-dependency-plugin</artifactId>
          <version>{plugin_version}</version>
        </plugin>
      </plugins>
    </pluginManagement>
  </build>
</project>
"""

# Everything goes to stdout, which ManagedProcess appends to service.log. At INFO
# the loggers set to WARN write a full config dump on every start, or a line per
# partition or per log-cleaner run, which would bury the start-up and error lines.
LOG4J_PROPERTIES = """\
# Written by custody.devstack.kafka on every start.
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n

log4j.logger.kafka.server.KafkaConfig=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.kafka.log.UnifiedLog$=WARN
log4j.logger.kafka.log.LogManager=WARN
log4j.logger.org.apache.kafka.storage.internals.log=WARN
log4j.logger.kafka.cluster.Partition=WARN
log4j.logger.kafka.server.ReplicaFetcherManager=WARN
log4j.logger.kafka.server.ReplicaAlterLogDirsManager=WARN
"""



class KafkaService(Service):
    """A single-node Kafka broker and KRaft controller on `settings.kafka_port`."""

    name = "kafka"

    def __init__(self, settings: StackSettings) -> None:
        self.version = settings.kafka_version
        super().__init__(settings)
        self.lib_dir = self.install_dir / "lib"
        self.properties_file = self.home / "server.properties"
        self.log4j_file = self.home / "log4j.properties"
        self._reported_foreign_cluster_id: str | None = None

    # Installation

    @property
    def installed_marker(self) -> Path:
        """File written last by `install`, so a half-finished download is never used."""
        return self.install_dir / ".installed"

    def install(self) -> None:
        """Copy the broker jars from Maven Central into `install_dir/lib` unless they are cached."""
        if self.installed_marker.exists():
            return

        self.install_dir.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(self.install_dir / ".install.lock"):
            # Another process may have finished the install while this one waited.
            if self.installed_marker.exists():
                return
            self._download_jars()

    def _download_jars(self) -> None:
        pom_text = POM_TEMPLATE.format(
            kafka_version=self.version,
            slf4j_version=SLF4J_VERSION,
            reload4j_version=RELOAD4J_VERSION,
            plugin_version=DEPENDENCY_PLUGIN_VERSION,
        )
        log.info("service=kafka version=%s downloading jars with mvn into %s", self.version, self.lib_dir)
        started = time.monotonic()
        jar_count = fetch_maven_jars(
            self.install_dir,
            self.lib_dir,
            pom_text,
            expected_jar=f"kafka_2.13-{self.version}.jar",
            product=f"Kafka {self.version} (CUSTODY_STACK_KAFKA_VERSION)",
            timeout_s=MVN_TIMEOUT_S,
        )
        self.installed_marker.write_text(f"kafka_2.13 {self.version}\njars {jar_count}\n")
        log.info("service=kafka version=%s installed jars=%d in %.1fs", self.version, jar_count, time.monotonic() - started)

    # Configuration and storage

    def prepare(self) -> None:
        """Write the broker and log4j configs, then format the data directory on the first start."""
        super().prepare()
        self.properties_file.write_text(_properties_text(self.server_properties()))
        self.log4j_file.write_text(LOG4J_PROPERTIES)

        # StorageTool writes meta.properties into every formatted log directory.
        if (self.data_dir / "meta.properties").exists():
            return
        self._format_storage()

    def server_properties(self) -> dict[str, str]:
        """Return the broker settings written to server.properties."""
        settings = self.settings
        controller_address = join_host_port("127.0.0.1", settings.kafka_controller_port)
        return {
            "process.roles": "broker,controller",
            "node.id": str(NODE_ID),
            "controller.quorum.voters": f"{NODE_ID}@{controller_address}",
            "listeners": f"PLAINTEXT://{join_host_port(settings.host, settings.kafka_port)},CONTROLLER://{controller_address}",
            "advertised.listeners": f"PLAINTEXT://{self.endpoint()}",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            # Fewer threads than the broker defaults (3 network, 8 I/O), because a
            # dev broker serves a handful of clients.
            "num.network.threads": "2",
            "num.io.threads": "4",
            "num.partitions": "1",
            # The S3 server sends bucket notifications to a topic that it does not create.
            "auto.create.topics.enable": "true",
            # One broker, so every internal topic has one replica. One partition
            # each (default 50) keeps the first consumer-group join and every
            # start from creating and loading 50 partition directories.
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.num.partitions": "1",
            "transaction.state.log.min.isr": "1",
            "min.insync.replicas": "1",
            "group.initial.rebalance.delay.ms": "0",
        }

    def formatted_cluster_id(self) -> str | None:
        """Return the cluster id stored in the data directory, or None when it is unformatted or unreadable."""
        try:
            text = (self.data_dir / "meta.properties").read_text()
        except OSError:
            return None
        for line in text.splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "cluster.id":
                return value.strip()
        return None

    def _format_storage(self) -> None:
        # A new random id per data directory lets the health check tell this
        # broker apart from another Kafka that listens on the same port.
        cluster_id = _new_cluster_id()
        command = [
            java_tool("java", purpose="Kafka"),
            *STORAGE_TOOL_JVM_OPTIONS,
            f"-Dlog4j.configuration=file:{self.log4j_file}",
            "-cp",
            f"{self.lib_dir}/*",
            "kafka.tools.StorageTool",
            "format",
            "--cluster-id",
            cluster_id,
            "--config",
            str(self.properties_file),
        ]
        log.info("service=kafka formatting storage cluster_id=%s data_dir=%s", cluster_id, self.data_dir)
        run_logged(command, self.process.log_file, timeout_s=STORAGE_FORMAT_TIMEOUT_S, cwd=self.home, append=True)

    # Process

    def command(self) -> list[str]:
        """Return the JVM command line of the broker; the properties path carries the process marker."""
        return [
            java_tool("java", purpose="Kafka"),
            *BROKER_JVM_OPTIONS,
            f"-Dlog4j.configuration=file:{self.log4j_file}",
            "-cp",
            f"{self.lib_dir}/*",
            "kafka.Kafka",
            str(self.properties_file),
        ]

    def is_healthy(self) -> bool:
        """Return True when the broker of this data directory returns metadata at `endpoint()`."""
        expected_cluster_id = self.formatted_cluster_id()
        if expected_cluster_id is None:
            return False

        host = client_host(self.settings.host)
        port = self.settings.kafka_port

        # A plain TCP connect first, so that polling a broker that is still
        # starting costs no Kafka client and prints no connection errors.
        try:
            with socket.create_connection((host, port), timeout=HEALTH_CONNECT_TIMEOUT_S):
                pass
        except OSError:
            return False

        try:
            admin = AdminClient({"bootstrap.servers": self.endpoint(), "log_level": 0})
            metadata = admin.list_topics(timeout=HEALTH_METADATA_TIMEOUT_S)
        except KafkaException as error:
            log.debug("service=kafka health check at %s failed: %s", self.endpoint(), error)
            return False

        if metadata.cluster_id != expected_cluster_id:
            # Logged once per foreign id, because start-up polls this every 0.5 s.
            if metadata.cluster_id != self._reported_foreign_cluster_id:
                log.warning(
                    "service=kafka port %d is in use by another Kafka with cluster_id=%s, expected cluster_id=%s "
                    "of %s; stop that broker or set another CUSTODY_STACK_KAFKA_PORT",
                    port,
                    metadata.cluster_id,
                    expected_cluster_id,
                    self.data_dir,
                )
                self._reported_foreign_cluster_id = metadata.cluster_id
            return False
        return NODE_ID in metadata.brokers

    def endpoint(self) -> str:
        """Return the bootstrap address clients use, for example `127.0.0.1:9092`."""
        return join_host_port(client_host(self.settings.host), self.settings.kafka_port)

    def ports(self) -> dict[int, str]:
        """Return the listening ports, each with the setting that changes it."""
        return {self.settings.kafka_port: "CUSTODY_STACK_KAFKA_PORT", self.settings.kafka_controller_port: "CUSTODY_STACK_KAFKA_CONTROLLER_PORT"}

    # Helpers

def _new_cluster_id() -> str:
    # Kafka's Uuid.toString is the URL-safe base64 of 16 bytes without padding.
    # Uuid.randomUuid (Kafka 3.x) skips ids that start with "-", which command-line
    # parsers take for options.
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id




def _properties_text(properties: dict[str, str]) -> str:
    lines = ["# Written by custody.devstack.kafka on every start; edits are overwritten."]
    for key, value in properties.items():
        # Java properties files treat a backslash as an escape character.
        escaped = value.replace("\\", "\\\\")
        lines.append(f"{key}={escaped}")
    return "\n".join(lines) + "\n"
