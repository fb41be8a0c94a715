"""Custody settings, read once from `CUSTODY_*` environment variables and an optional env file.

Every group is a frozen pydantic-settings model. Secrets are `SecretStr`, so they
show as `**********` in reprs, logs and validation errors. Precedence, highest
first: environment variables, the env file (`CUSTODY_ENV_FILE` or the `env_file`
argument), then the defaults, which match the local stack (`custody dev up`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from custody.errors import ConfigurationError


def _config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, frozen=True, extra="ignore", hide_input_in_errors=True)


class KafkaSettings(BaseSettings):
    """Kafka connection (`CUSTODY_KAFKA_*`); security settings pass through to librdkafka."""

    model_config = _config("CUSTODY_KAFKA_")

    bootstrap_servers: str = Field("127.0.0.1:9092", description="Comma-separated host:port list (CUSTODY_KAFKA_BOOTSTRAP_SERVERS).")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="librdkafka security.protocol (CUSTODY_KAFKA_SECURITY_PROTOCOL)."
    )
    sasl_mechanism: str | None = Field(None, description="librdkafka sasl.mechanism, e.g. SCRAM-SHA-512 (CUSTODY_KAFKA_SASL_MECHANISM).")
    sasl_username: str | None = Field(None, description="SASL user (CUSTODY_KAFKA_SASL_USERNAME).")
    sasl_password: SecretStr | None = Field(None, description="SASL password (CUSTODY_KAFKA_SASL_PASSWORD).")
    ssl_ca_location: str | None = Field(None, description="CA bundle path (CUSTODY_KAFKA_SSL_CA_LOCATION).")
    ssl_certificate_location: str | None = Field(None, description="Client certificate path (CUSTODY_KAFKA_SSL_CERTIFICATE_LOCATION).")
    ssl_key_location: str | None = Field(None, description="Client key path (CUSTODY_KAFKA_SSL_KEY_LOCATION).")
    ssl_key_password: SecretStr | None = Field(None, description="Client key password (CUSTODY_KAFKA_SSL_KEY_PASSWORD).")
    extra: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Other librdkafka properties as a JSON object, all treated as secret (CUSTODY_KAFKA_EXTRA).",
    )

    def client_config(self) -> dict[str, Any]:
        """Return the librdkafka properties shared by producers, consumers and admin clients."""
        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
        }
        optional = {
            "sasl.mechanism": self.sasl_mechanism,
            "sasl.username": self.sasl_username,
            "sasl.password": _reveal(self.sasl_password),
            "ssl.ca.location": self.ssl_ca_location,
            "ssl.certificate.location": self.ssl_certificate_location,
            "ssl.key.location": self.ssl_key_location,
            "ssl.key.password": _reveal(self.ssl_key_password),
        }
        config.update({key: value for key, value in optional.items() if value is not None})
        config.update({key: value.get_secret_value() for key, value in self.extra.items()})
        return config


class Neo4jSettings(BaseSettings):
    """Neo4j connection (`CUSTODY_NEO4J_*`)."""

    model_config = _config("CUSTODY_NEO4J_")

    uri: str = Field("bolt://127.0.0.1:7687", description="Bolt or neo4j URI (CUSTODY_NEO4J_URI).")
    user: str = Field("neo4j", description="User name (CUSTODY_NEO4J_USER).")
    password: SecretStr = Field(SecretStr("custody-dev-password"), description="Password (CUSTODY_NEO4J_PASSWORD).")
    database: str = Field("neo4j", description="Database name (CUSTODY_NEO4J_DATABASE).")
    connection_timeout_s: float = Field(5.0, description="Seconds to wait for a connection (CUSTODY_NEO4J_CONNECTION_TIMEOUT_S).")
    max_transaction_retry_time_s: float = Field(
        30.0, gt=0, description="Seconds the driver keeps retrying a failed managed transaction (CUSTODY_NEO4J_MAX_TRANSACTION_RETRY_TIME_S)."
    )


class S3Settings(BaseSettings):
    """S3 connection (`CUSTODY_S3_*`)."""

    model_config = _config("CUSTODY_S3_")

    endpoint_url: str | None = Field(
        "http://127.0.0.1:7070", description="S3 endpoint; empty for the AWS default (CUSTODY_S3_ENDPOINT_URL)."
    )
    region: str = Field("us-east-1", description="Region name (CUSTODY_S3_REGION).")
    access_key_id: str | None = Field("custody", description="Access key id (CUSTODY_S3_ACCESS_KEY_ID).")
    secret_access_key: SecretStr | None = Field(
        SecretStr("custody-dev-secret"), description="Secret access key (CUSTODY_S3_SECRET_ACCESS_KEY)."
    )
    connect_timeout_s: float = Field(5.0, description="Seconds to wait for a connection (CUSTODY_S3_CONNECT_TIMEOUT_S).")
    max_attempts: int = Field(5, ge=1, description="Attempts per request, retries included (CUSTODY_S3_MAX_ATTEMPTS).")


class Settings(BaseSettings):
    """All Custody settings; the groups are read with their own prefixes."""

    model_config = _config("CUSTODY_")

    topic_prefix: str = Field("", description="Prepended to every topic name, e.g. `staging.` (CUSTODY_TOPIC_PREFIX).")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level (CUSTODY_LOG_LEVEL).")
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    neo4j: Neo4jSettings = Field(default_factory=Neo4jSettings)
    s3: S3Settings = Field(default_factory=S3Settings)


def load_settings(env_file: str | Path | None = None) -> Settings:
    """Read settings from the environment and an optional env file.

    Raises ConfigurationError naming each invalid variable; secret values never
    appear in the message, because every group hides inputs in its errors.
    """
    env_file = env_file or os.environ.get("CUSTODY_ENV_FILE") or None
    if env_file is not None and not Path(env_file).is_file():
        raise ConfigurationError(f"env file {env_file} does not exist; fix CUSTODY_ENV_FILE or the --env-file option")

    try:
        groups = {
            "kafka": KafkaSettings(_env_file=env_file),
            "neo4j": Neo4jSettings(_env_file=env_file),
            "s3": S3Settings(_env_file=env_file),
        }
        return Settings(_env_file=env_file, **groups)
    except ValidationError as exc:
        raise ConfigurationError(_describe(exc)) from None
    except SettingsError as exc:
        # Raised for a value that is not valid JSON where JSON is expected; its
        # message names the field and the source, never the value.
        raise ConfigurationError(f"invalid settings: {exc}. Fix the environment variable or the env file.") from None


def _reveal(secret: SecretStr | None) -> str | None:
    return None if secret is None else secret.get_secret_value()


def _is_secret(variable: str) -> bool:
    return any(word in variable for word in ("PASSWORD", "SECRET", "EXTRA"))


def _describe(exc: ValidationError) -> str:
    prefix = {"KafkaSettings": "CUSTODY_KAFKA_", "Neo4jSettings": "CUSTODY_NEO4J_", "S3Settings": "CUSTODY_S3_"}.get(
        exc.title, "CUSTODY_"
    )
    problems = []
    for error in exc.errors(include_url=False):
        variable = prefix + "_".join(str(part) for part in error["loc"]).upper()
        value_text = "" if _is_secret(variable) else f" (value {str(error.get('input'))[:80]!r})"
        problems.append(f"{variable}: {error['msg']}{value_text}")
    return "invalid settings: " + "; ".join(problems) + ". Fix the environment variable or the env file."
