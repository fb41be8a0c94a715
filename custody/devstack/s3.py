"""The Versity S3 Gateway (versitygw) with its posix backend, versioning and Kafka events.

`go install` builds the gateway from the Go module proxy into the cache. It
serves buckets as directories under the data directory, keeps old object
versions in a separate directory, and sends every bucket notification to one
Kafka topic. Flags, environment variables and behaviour described here were read
from the versitygw v1.8.0 source (`cmd/versitygw/main.go`,
`cmd/internal/gwcli/posix.go`, `s3event/kafka.go`).
"""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from custody.devstack.config import StackSettings
from custody.devstack.service import Service
from custody.devstack.tools import client_host, exclusive_lock, join_host_port, run_logged
from custody.errors import StackError

log = logging.getLogger(__name__)

MODULE = "github.com/versity/versitygw"
PACKAGE = f"{MODULE}/cmd/versitygw"

# The S3 client settings (custody.settings.S3Settings) default to this region,
# and the stack settings have no region of their own.
REGION = "us-east-1"

# A cold build (module download and compile) took about 100 s on a 2-core
# VM, and the limit leaves room for slower machines and networks.
GO_INSTALL_TIMEOUT_S = 1800.0
HEALTH_CONNECT_TIMEOUT_S = 1.0
HEALTH_READ_TIMEOUT_S = 2.0
KAFKA_CONNECT_TIMEOUT_S = 1.0
KAFKA_METADATA_TIMEOUT_S = 5.0

# The cache directory is keyed by version, so a moving name such as `latest`
# would keep serving whatever it resolved to on the first install.
VERSION_PATTERN = re.compile(r"^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")


XATTR_CHECK_NAME = "user.custody.xattr-check"
XATTR_UNSUPPORTED_ERRNOS = {errno.ENOTSUP, errno.EOPNOTSUPP}


class S3Service(Service):
    """versitygw on `settings.s3_port`, with object versioning and bucket notifications sent to Kafka."""

    name = "s3"

    def __init__(self, settings: StackSettings) -> None:
        self.version = settings.s3_version
        super().__init__(settings)
        self.binary = self.install_dir / "bin" / "versitygw"
        # versitygw rejects a versioning directory inside the posix root, so
        # old versions live next to the data directory instead of below it.
        self.versions_dir = self.home / "versions"
        self._client: BaseClient | None = None
        self._last_health_error: str | None = None

    # Installation

    @property
    def installed_marker(self) -> Path:
        """File written last by `install`, so a half-finished build is never used."""
        return self.install_dir / ".installed"

    def install(self) -> None:
        """Build versitygw with `go install` into `install_dir/bin` unless it is cached."""
        if self.installed_marker.exists() and self.binary.exists():
            return

        if not VERSION_PATTERN.match(self.version):
            raise StackError(
                f"invalid S3 gateway version {self.version!r}. Set CUSTODY_STACK_S3_VERSION to a release tag "
                f"of {MODULE}, for example v1.8.0."
            )

        self.install_dir.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(self.install_dir / ".install.lock"):
            # Another process may have finished the build while this one waited.
            if self.installed_marker.exists() and self.binary.exists():
                return
            self._build()

    def _build(self) -> None:
        go = shutil.which("go")
        if go is None:
            raise StackError(
                "go not found on PATH. Install Go to build the S3 gateway (versitygw v1.8.0 requires Go 1.25 or newer)."
            )

        build_log = self.install_dir / "go-install.log"
        # Setting main.Version makes `versitygw --version` and the start-up
        # banner report the release instead of "git".
        command = [go, "install", f"-ldflags=-X main.Version={self.version}", f"{PACKAGE}@{self.version}"]
        env = {**os.environ, "GOBIN": str(self.binary.parent)}

        log.info(
            "service=s3 version=%s building with go install into %s (log %s)",
            self.version,
            self.binary.parent,
            build_log,
        )
        started = time.monotonic()
        run_logged(command, build_log, env=env, cwd=self.install_dir, timeout_s=GO_INSTALL_TIMEOUT_S)

        if not self.binary.exists():
            raise StackError(
                f"go install finished but {self.binary} is missing. Read {build_log} for the build output."
            )

        go_version = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=False).stdout.strip()
        self.installed_marker.write_text(f"{PACKAGE}@{self.version}\n{go_version}\n")
        log.info("service=s3 version=%s installed in %.1fs", self.version, time.monotonic() - started)

    # Storage

    def prepare(self) -> None:
        """Create the data and versioning directories, check user xattrs, and check the Kafka topic."""
        super().prepare()
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        # The posix backend stores object metadata (ETag, content type, version
        # id) in user.* extended attributes. versitygw only checks for ENOTSUP
        # with a read, so a filesystem that rejects writes would fail on the first PUT.
        for directory in (self.data_dir, self.versions_dir):
            _check_user_xattrs(directory)
        self._check_events_topic()

    def _check_events_topic(self) -> None:
        # versitygw v1.8.0 sends a test message at start and exits when the
        # broker is unreachable or the topic is missing. Its Kafka client does
        # not ask the broker to create topics, so the topic must exist first.
        # Checking here turns that exit into an error that names the fix.
        bootstrap = self.kafka_bootstrap()
        topic = self.settings.s3_events_topic_name
        start_kafka = "Start Kafka first with `custody dev up kafka`, which also creates the registry topics."
        try:
            with socket.create_connection(
                (client_host(self.settings.host), self.settings.kafka_port), timeout=KAFKA_CONNECT_TIMEOUT_S
            ):
                pass
        except OSError as error:
            raise StackError(
                f"Kafka is not reachable at {bootstrap} ({error}), and the S3 gateway exits at start without it "
                f"because it sends bucket notifications there. {start_kafka}"
            ) from error

        try:
            # Listing all topics, not just this one, so that the metadata
            # request can never make the broker auto-create it.
            metadata = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0}).list_topics(
                timeout=KAFKA_METADATA_TIMEOUT_S
            )
        except KafkaException as error:
            raise StackError(f"Listing Kafka topics at {bootstrap} failed ({error}). {start_kafka}") from error

        if topic not in metadata.topics:
            raise StackError(
                f"Kafka topic {topic} is missing at {bootstrap}, and the S3 gateway exits at start without it. "
                "Create the registry topics with `custody topics create`. If CUSTODY_TOPIC_PREFIX is set, also set "
                "CUSTODY_STACK_S3_EVENTS_TOPIC to the prefixed topic name."
            )
        log.debug("service=s3 events topic=%s exists at %s", topic, bootstrap)

    # Process

    def command(self) -> list[str]:
        """Return the gateway command line. Its data directory path carries the process marker.

        The root credentials are passed through `env`, never as arguments.
        """
        # NOTE: versitygw v1.8.0 sends each notification from its own goroutine
        # with an empty message key, spread over the partitions, so consumers
        # get no ordering, even per object. A notification that fails after
        # the Kafka client's retries is dropped with one line in the service
        # log, and the S3 request still succeeds.
        return [
            str(self.binary),
            "--port",
            join_host_port(self.settings.host, self.settings.s3_port),
            "--region",
            REGION,
            "--event-kafka-url",
            self.kafka_bootstrap(),
            "--event-kafka-topic",
            self.settings.s3_events_topic_name,
            "posix",
            "--versioning-dir",
            str(self.versions_dir),
            str(self.data_dir),
        ]

    def env(self) -> dict[str, str]:
        """Return the root credentials in the variables versitygw reads first."""
        # versitygw v1.8.0 reads ROOT_ACCESS_KEY_ID before ROOT_ACCESS_KEY and
        # ROOT_SECRET_ACCESS_KEY before ROOT_SECRET_KEY. Setting the first names
        # keeps a value inherited from the caller's shell from winning.
        return {
            "ROOT_ACCESS_KEY_ID": self.settings.s3_access_key,
            "ROOT_SECRET_ACCESS_KEY": self.settings.s3_secret_key.get_secret_value(),
        }

    def kafka_bootstrap(self) -> str:
        """Return the Kafka broker address that bucket notifications go to."""
        return join_host_port(client_host(self.settings.host), self.settings.kafka_port)

    def is_healthy(self) -> bool:
        """Return True when ListBuckets succeeds with the root credentials. Never raises."""
        try:
            self._health_client().list_buckets()
        except (BotoCoreError, ClientError) as error:
            self._log_health_error(error)
            return False
        except Exception as error:  # noqa: BLE001 - the contract of is_healthy is to never raise.
            log.warning("service=s3 health check at %s failed unexpectedly: %r", self.endpoint(), error)
            return False

        self._last_health_error = None
        return True

    def endpoint(self) -> str:
        """Return the S3 endpoint URL, for example `http://127.0.0.1:7070`."""
        return f"http://{join_host_port(client_host(self.settings.host), self.settings.s3_port)}"

    def ports(self) -> dict[int, str]:
        """Return the listening ports, each with the setting that changes it."""
        return {self.settings.s3_port: "CUSTODY_STACK_S3_PORT"}

    def _health_client(self) -> BaseClient:
        """Return a boto3 client for health checks: short timeouts and no retries."""
        if self._client is None:
            config = Config(
                region_name=REGION,
                connect_timeout=HEALTH_CONNECT_TIMEOUT_S,
                read_timeout=HEALTH_READ_TIMEOUT_S,
                retries={"total_max_attempts": 1, "mode": "standard"},
                s3={"addressing_style": "path"},
            )
            self._client = boto3.session.Session().client(
                "s3",
                endpoint_url=self.endpoint(),
                aws_access_key_id=self.settings.s3_access_key,
                aws_secret_access_key=self.settings.s3_secret_key.get_secret_value(),
                config=config,
            )
        return self._client

    def _log_health_error(self, error: BotoCoreError | ClientError) -> None:
        # Refused connections are expected while the gateway starts, so they
        # stay at debug level. An HTTP error means a server answered but
        # rejected the request, for example a different server on the port or
        # other credentials. It is logged once until the error changes.
        if isinstance(error, ClientError):
            code = error.response.get("Error", {}).get("Code", "unknown")
            message = f"ListBuckets returned {code}"
            if message != self._last_health_error:
                log.warning(
                    "service=s3 health check at %s failed: %s. Check that no other server uses port %d "
                    "and that CUSTODY_STACK_S3_ACCESS_KEY and CUSTODY_STACK_S3_SECRET_KEY match the running gateway",
                    self.endpoint(),
                    message,
                    self.settings.s3_port,
                )
            self._last_health_error = message
            return

        self._last_health_error = str(error)
        log.debug("service=s3 health check at %s failed: %s", self.endpoint(), error)






def _check_user_xattrs(directory: Path) -> None:
    """Set, read and remove a user xattr on `directory`. Raise StackError if the filesystem rejects it."""
    try:
        os.setxattr(directory, XATTR_CHECK_NAME, b"1")
        value = os.getxattr(directory, XATTR_CHECK_NAME)
        os.removexattr(directory, XATTR_CHECK_NAME)
    except OSError as error:
        if error.errno in XATTR_UNSUPPORTED_ERRNOS:
            reason = "the filesystem does not support user extended attributes"
        else:
            reason = f"setting a user extended attribute failed ({error})"
        raise StackError(
            f"{directory}: {reason}, and the S3 gateway's posix backend stores object metadata in them. "
            "Set CUSTODY_STACK_STATE_DIR to a directory on a filesystem with user xattrs, such as ext4, XFS or Btrfs."
        ) from error

    if value != b"1":
        raise StackError(f"{directory}: a user extended attribute read back as {value!r} instead of b'1'.")
    log.debug("service=s3 user xattrs work in %s", directory)
