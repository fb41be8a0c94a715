"""Neo4j Community as an embedded DBMS with a Bolt connector.

The jars come from Maven Central (`org.neo4j:neo4j`, the Community embedded
DBMS, and its runtime dependencies), so the only download tool is `mvn`. A small
launcher of our own (`java/Neo4jLauncher.java`, compiled with `javac` into the
cache) starts the DBMS, enables authentication, sets the account from the
settings and shuts the DBMS down cleanly on SIGTERM.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from pathlib import Path

from neo4j import GraphDatabase

from custody.devstack.config import StackSettings
from custody.devstack.service import Service
from custody.devstack.tools import client_host, exclusive_lock, fetch_maven_jars, java_tool, run_logged
from custody.errors import StackError

log = logging.getLogger(__name__)

LAUNCHER_SOURCE = Path(__file__).parent / "java" / "Neo4jLauncher.java"
LAUNCHER_CLASS = "Neo4jLauncher"
DEPENDENCY_PLUGIN_VERSION = "3.8.1"

# A 1 GiB heap and a 256 MiB page cache, because the dev machine also runs
# Kafka and an S3 server. Without the setting, Neo4j gives the page cache 50%
# of the available memory (Neo4j knowledge base, "How to estimate initial
# memory configuration").
JVM_OPTIONS = [
    "-Xms256m",
    "-Xmx1g",
    "-XX:+UseG1GC",
    # An OutOfMemoryError can leave the DBMS half-working. Exiting lets
    # `custody dev status` report the service as stopped.
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
    # Neo4j reads file descriptors by reflection for its native file access
    # (fallocate, fadvise). Without these flags, those calls fail with
    # "Incorrect file descriptor" warnings in debug.log (Neo4j 5.26.30, OpenJDK 17.0.15).
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
]
PAGE_CACHE_SIZE = "256m"

MVN_TIMEOUT_S = 900.0
JAVAC_TIMEOUT_S = 120.0
HEALTH_CONNECT_TIMEOUT_S = 2.0
HEALTH_ACQUIRE_TIMEOUT_S = 3.0

POM_TEMPLATE = """\
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by custody.devstack.neo4j: lists the jars of the embedded Neo4j Community DBMS. -->
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 https://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>custody.devstack</groupId>
  <artifactId>neo4j-embedded</artifactId>
  <version>{neo4j_version}</version>
  <packaging>pom</packaging>

  <dependencies>
    <dependency>
      <groupId>org.neo4j</groupId>
      <artifactId>neo4j</artifactId>
      <version>{neo4j_version}</version>
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



class Neo4jService(Service):
    """A Neo4j Community DBMS with Bolt on `settings.neo4j_bolt_port` and authentication enabled."""

    name = "neo4j"

    def __init__(self, settings: StackSettings) -> None:
        self.version = settings.neo4j_version
        super().__init__(settings)
        self.lib_dir = self.install_dir / "lib"
        self.config_file = self.home / "neo4j.conf"
        # The DBMS writes debug.log and security.log here. Its user log goes to service.log.
        self.logs_dir = self.home / "logs"

    # Installation

    @property
    def installed_marker(self) -> Path:
        """File written after the jars are complete, so a half-finished download is never used."""
        return self.install_dir / ".installed"

    @property
    def launcher_dir(self) -> Path:
        """Directory of the compiled launcher, keyed by a hash of its source so an edit recompiles it."""
        try:
            source = LAUNCHER_SOURCE.read_bytes()
        except FileNotFoundError as error:
            raise StackError(
                f"The Neo4j launcher source {LAUNCHER_SOURCE} is missing. Reinstall custody with its package data."
            ) from error
        digest = hashlib.sha256(source).hexdigest()[:16]
        return self.install_dir / "launcher" / digest

    def install(self) -> None:
        """Copy the Neo4j jars from Maven Central and compile the launcher unless both are cached."""
        launcher_class = self.launcher_dir / f"{LAUNCHER_CLASS}.class"
        if self.installed_marker.exists() and launcher_class.exists():
            return

        self.install_dir.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(self.install_dir / ".install.lock"):
            # Another process may have finished the install while this one waited.
            if not self.installed_marker.exists():
                self._download_jars()
            if not launcher_class.exists():
                self._compile_launcher()

    def _download_jars(self) -> None:
        pom_text = POM_TEMPLATE.format(neo4j_version=self.version, plugin_version=DEPENDENCY_PLUGIN_VERSION)
        log.info("service=neo4j version=%s downloading jars with mvn into %s", self.version, self.lib_dir)
        started = time.monotonic()
        jar_count = fetch_maven_jars(
            self.install_dir,
            self.lib_dir,
            pom_text,
            expected_jar=f"neo4j-{self.version}.jar",
            product=f"Neo4j {self.version} (CUSTODY_STACK_NEO4J_VERSION) as org.neo4j:neo4j",
            timeout_s=MVN_TIMEOUT_S,
        )
        self.installed_marker.write_text(f"org.neo4j:neo4j {self.version}\njars {jar_count}\n")
        log.info("service=neo4j version=%s installed jars=%d in %.1fs", self.version, jar_count, time.monotonic() - started)

    def _compile_launcher(self) -> None:
        javac = java_tool("javac", purpose="Neo4j")
        target_dir = self.launcher_dir
        staging_dir = target_dir.with_name(target_dir.name + ".partial")
        shutil.rmtree(staging_dir, ignore_errors=True)
        staging_dir.mkdir(parents=True)

        javac_log = self.install_dir / "javac.log"
        command = [
            javac,
            "--release",
            "17",
            "-d",
            str(staging_dir),
            "-cp",
            f"{self.lib_dir}/*",
            str(LAUNCHER_SOURCE),
        ]
        log.info("service=neo4j compiling %s into %s (log %s)", LAUNCHER_SOURCE.name, target_dir, javac_log)
        run_logged(command, javac_log, timeout_s=JAVAC_TIMEOUT_S, cwd=self.install_dir)

        shutil.rmtree(target_dir, ignore_errors=True)
        staging_dir.rename(target_dir)

    # Configuration

    def prepare(self) -> None:
        """Create the data and log directories and write neo4j.conf for this start."""
        super().prepare()
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(_config_text(self.neo4j_config()))

    def neo4j_config(self) -> dict[str, str]:
        """Return the Neo4j 5.26 settings written to neo4j.conf, to which the launcher adds authentication and Bolt."""
        bolt_address = f"{self.settings.host}:{self.settings.neo4j_bolt_port}"
        return {
            "server.directories.data": str(self.data_dir),
            "server.directories.logs": str(self.logs_dir),
            "server.bolt.listen_address": bolt_address,
            "server.bolt.advertised_address": f"{client_host(self.settings.host)}:{self.settings.neo4j_bolt_port}",
            "server.memory.pagecache.size": PAGE_CACHE_SIZE,
            # Enabled by default (5.26.30), it sends usage statistics to Neo4j's servers.
            "dbms.usage_report.enabled": "false",
            # Each database would otherwise preallocate a 256 MiB transaction log
            # file (db.tx_log.rotation.size), 512 MiB of disk for an empty DBMS.
            "db.tx_log.preallocate": "false",
            # Bolt waits for this quiet period (5 s by default) twice during shutdown,
            # after the databases have stopped. 0 makes SIGTERM take about a second.
            "internal.dbms.bolt.netty_server_shutdown_quiet_period": "0",
        }

    # Process

    def command(self) -> list[str]:
        """Return the JVM command line of the launcher, whose home directory argument is the process marker."""
        classpath = os.pathsep.join([str(self.launcher_dir), f"{self.lib_dir}/*"])
        return [
            java_tool("java", purpose="Neo4j"),
            *JVM_OPTIONS,
            "-cp",
            classpath,
            LAUNCHER_CLASS,
            str(self.home),
            str(self.config_file),
        ]

    def env(self) -> dict[str, str]:
        """Return the account for the launcher, so the password is passed in the environment, never as an argument."""
        return {
            "CUSTODY_STACK_NEO4J_USER": self.settings.neo4j_user,
            "CUSTODY_STACK_NEO4J_PASSWORD": self.settings.neo4j_password.get_secret_value(),
        }

    def is_healthy(self) -> bool:
        """Return True when a Bolt session with the configured account runs `RETURN 1`."""
        auth = (self.settings.neo4j_user, self.settings.neo4j_password.get_secret_value())
        try:
            with GraphDatabase.driver(
                self.endpoint(),
                auth=auth,
                connection_timeout=HEALTH_CONNECT_TIMEOUT_S,
                connection_acquisition_timeout=HEALTH_ACQUIRE_TIMEOUT_S,
            ) as driver:
                # An auto-commit query in a session is not retried, unlike `execute_query`.
                with driver.session() as session:
                    record = session.run("RETURN 1 AS ok").single(strict=True)
                    return record["ok"] == 1
        except Exception as error:  # noqa: BLE001 - the contract is to never raise
            # Start-up polls this every 0.5 s, so failures are logged at DEBUG only.
            log.debug("service=neo4j health check at %s failed: %s: %s", self.endpoint(), type(error).__name__, error)
            return False

    def endpoint(self) -> str:
        """Return the Bolt URI clients use, for example `bolt://127.0.0.1:7687`."""
        return f"bolt://{client_host(self.settings.host)}:{self.settings.neo4j_bolt_port}"

    def ports(self) -> dict[int, str]:
        """Return the listening ports, each with the setting that changes it."""
        return {self.settings.neo4j_bolt_port: "CUSTODY_STACK_NEO4J_BOLT_PORT"}

    # Helpers

def _config_text(config: dict[str, str]) -> str:
    # Neo4j 5.26 reads neo4j.conf with java.util.Properties, where a backslash is an escape character.
    lines = ["# Written by custody.devstack.neo4j on every start; edits are overwritten."]
    lines += [f"{key}={value.replace(chr(92), chr(92) * 2)}" for key, value in config.items()]
    return "\n".join(lines) + "\n"
