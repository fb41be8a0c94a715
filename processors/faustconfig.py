"""Faust settings derived from Custody's settings."""

from __future__ import annotations

import ssl
from typing import Any

import faust

from custody.errors import ConfigurationError
from custody.settings import KafkaSettings, Settings
from processors.settings import ProcessorSettings

# Faust commits consumer offsets this often (seconds); a short interval keeps the
# records a restarted worker reads again, and must deduplicate, few.
COMMIT_INTERVAL_S = 1.0


def app_id(settings: Settings, processor_settings: ProcessorSettings) -> str:
    """Return the faust app id: the topic prefix followed by the configured id."""
    return f"{settings.topic_prefix}{processor_settings.app_id}"


def faust_settings(settings: Settings, processor_settings: ProcessorSettings) -> dict[str, Any]:
    """Return keyword arguments for `faust.App`."""
    options: dict[str, Any] = {
        "broker": [f"kafka://{server.strip()}" for server in settings.kafka.bootstrap_servers.split(",") if server.strip()],
        "store": "memory://",
        "datadir": str(processor_settings.faust_dir),
        "autodiscover": False,
        "web_enabled": processor_settings.web_enabled,
        "web_bind": "127.0.0.1",
        "web_host": "127.0.0.1",
        "web_port": processor_settings.web_port,
        "topic_partitions": 3,
        "topic_replication_factor": processor_settings.replication_factor,
        "consumer_auto_offset_reset": "earliest",
        "broker_commit_interval": COMMIT_INTERVAL_S,
        "broker_session_timeout": processor_settings.session_timeout_s,
        "broker_heartbeat_interval": max(1.0, processor_settings.session_timeout_s / 10),
        "producer_acks": -1,
    }
    credentials = broker_credentials(settings.kafka)
    if credentials is not None:
        options["broker_credentials"] = credentials
    return options


def broker_credentials(kafka: KafkaSettings) -> Any:
    """Map the librdkafka security settings onto faust credentials; None for PLAINTEXT."""
    protocol = kafka.security_protocol
    if protocol == "PLAINTEXT":
        return None

    context = _ssl_context(kafka) if protocol in ("SSL", "SASL_SSL") else None
    if protocol == "SSL":
        return faust.SSLCredentials(context)

    if not kafka.sasl_mechanism or not kafka.sasl_username or kafka.sasl_password is None:
        raise ConfigurationError(
            f"security protocol {protocol} needs CUSTODY_KAFKA_SASL_MECHANISM, CUSTODY_KAFKA_SASL_USERNAME and CUSTODY_KAFKA_SASL_PASSWORD"
        )
    return faust.SASLCredentials(
        username=kafka.sasl_username,
        password=kafka.sasl_password.get_secret_value(),
        mechanism=kafka.sasl_mechanism,
        ssl_context=context,
    )


def _ssl_context(kafka: KafkaSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=kafka.ssl_ca_location)
    if kafka.ssl_certificate_location:
        password = kafka.ssl_key_password.get_secret_value() if kafka.ssl_key_password else None
        context.load_cert_chain(kafka.ssl_certificate_location, kafka.ssl_key_location, password)
    return context
