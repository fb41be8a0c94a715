"""Settings: environment variables, env files and secret masking."""

from __future__ import annotations

import logging

import pytest

from custody.errors import ConfigurationError
from custody.settings import load_settings

SECRET = "s3cr3t-Value-42"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    import os

    for variable in list(os.environ):
        if variable.startswith("CUSTODY_"):
            monkeypatch.delenv(variable)


def test_defaults_match_local_stack():
    settings = load_settings()

    assert settings.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert settings.neo4j.uri == "bolt://127.0.0.1:7687"
    assert settings.s3.endpoint_url == "http://127.0.0.1:7070"
    assert settings.topic_prefix == ""


def test_environment_overrides_each_group(monkeypatch):
    monkeypatch.setenv("CUSTODY_KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("CUSTODY_NEO4J_DATABASE", "lineage")
    monkeypatch.setenv("CUSTODY_S3_REGION", "eu-west-1")
    monkeypatch.setenv("CUSTODY_TOPIC_PREFIX", "staging.")

    settings = load_settings()

    assert settings.kafka.bootstrap_servers == "k1:9092,k2:9092"
    assert settings.neo4j.database == "lineage"
    assert settings.s3.region == "eu-west-1"
    assert settings.topic_prefix == "staging."


def test_env_file_is_read_and_environment_wins(tmp_path, monkeypatch):
    env_file = tmp_path / "custody.env"
    env_file.write_text("CUSTODY_NEO4J_USER=auditor\nCUSTODY_S3_REGION=eu-north-1\n")
    monkeypatch.setenv("CUSTODY_S3_REGION", "us-west-2")

    settings = load_settings(env_file)

    assert settings.neo4j.user == "auditor"
    assert settings.s3.region == "us-west-2"


def test_missing_env_file_is_named(tmp_path):
    with pytest.raises(ConfigurationError, match="missing.env does not exist"):
        load_settings(tmp_path / "missing.env")


def test_settings_are_frozen():
    settings = load_settings()

    with pytest.raises(ValueError):
        settings.kafka.bootstrap_servers = "elsewhere:9092"


def test_sasl_settings_pass_through_to_librdkafka(monkeypatch):
    monkeypatch.setenv("CUSTODY_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("CUSTODY_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("CUSTODY_KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("CUSTODY_KAFKA_SASL_PASSWORD", SECRET)
    monkeypatch.setenv("CUSTODY_KAFKA_EXTRA", '{"client.rack": "zone-a"}')

    config = load_settings().kafka.client_config()

    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.mechanism"] == "SCRAM-SHA-512"
    assert config["sasl.password"] == SECRET
    assert config["client.rack"] == "zone-a"


@pytest.mark.parametrize(
    "variable",
    ["CUSTODY_NEO4J_PASSWORD", "CUSTODY_S3_SECRET_ACCESS_KEY", "CUSTODY_KAFKA_SASL_PASSWORD", "CUSTODY_KAFKA_SSL_KEY_PASSWORD"],
)
def test_secret_hidden_in_repr_str_and_logs(monkeypatch, caplog, variable):
    monkeypatch.setenv(variable, SECRET)
    settings = load_settings()

    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("settings=%s repr=%r", settings, settings)

    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)
    assert SECRET not in caplog.text
    assert SECRET not in settings.model_dump_json()
    assert "**********" in repr(settings)


def test_invalid_value_error_names_variable_and_value(monkeypatch):
    monkeypatch.setenv("CUSTODY_S3_MAX_ATTEMPTS", "zero")

    with pytest.raises(ConfigurationError) as caught:
        load_settings()

    assert "CUSTODY_S3_MAX_ATTEMPTS" in str(caught.value)
    assert "'zero'" in str(caught.value)


def test_invalid_extra_error_hides_secret(monkeypatch):
    monkeypatch.setenv("CUSTODY_KAFKA_EXTRA", '{"sasl.password": "' + SECRET + '"')

    with pytest.raises(ConfigurationError) as caught:
        load_settings()

    assert "extra" in str(caught.value)
    assert SECRET not in str(caught.value)
    assert caught.value.__cause__ is None


def test_invalid_secret_typed_value_is_not_echoed(monkeypatch):
    monkeypatch.setenv("CUSTODY_KAFKA_EXTRA", '{"ssl.key.password": 42}')
    monkeypatch.setenv("CUSTODY_KAFKA_SASL_PASSWORD", SECRET)

    with pytest.raises(ConfigurationError) as caught:
        load_settings()

    assert "CUSTODY_KAFKA_EXTRA" in str(caught.value)
    assert "42" not in str(caught.value)
    assert SECRET not in str(caught.value)
