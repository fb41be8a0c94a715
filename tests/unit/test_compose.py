"""docker-compose.yml matches the local stack: images, ports, credentials and topic."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from custody.devstack.config import StackSettings
from custody.settings import KafkaSettings, Neo4jSettings, S3Settings

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def stack() -> StackSettings:
    return StackSettings(_env_file=None)


def test_services_present(compose):
    assert {"kafka", "neo4j", "s3"} <= set(compose["services"])


def test_images_pinned_to_stack_versions(compose, stack):
    services = compose["services"]

    assert services["kafka"]["image"] == f"apache/kafka:{stack.kafka_version}"
    assert services["neo4j"]["image"] == f"neo4j:{stack.neo4j_version}-community"
    assert services["s3"]["image"] == f"versity/versitygw:{stack.s3_version}"


def test_ports_match_and_bind_loopback(compose, stack):
    expected = {"kafka": stack.kafka_port, "neo4j": stack.neo4j_bolt_port, "s3": stack.s3_port}

    for name, port in expected.items():
        assert f"127.0.0.1:{port}:{port}" in compose["services"][name]["ports"], name
    for name, service in compose["services"].items():
        for mapping in service.get("ports", []):
            assert mapping.startswith("127.0.0.1:"), (name, mapping)


def test_credentials_match_client_defaults(compose, stack):
    neo4j_env = compose["services"]["neo4j"]["environment"]
    s3_env = compose["services"]["s3"]["environment"]

    assert neo4j_env["NEO4J_AUTH"] == f"{Neo4jSettings().user}/{Neo4jSettings().password.get_secret_value()}"
    assert s3_env["ROOT_ACCESS_KEY_ID"] == S3Settings().access_key_id == stack.s3_access_key
    assert s3_env["ROOT_SECRET_ACCESS_KEY"] == S3Settings().secret_access_key.get_secret_value()


def test_client_defaults_reach_compose_ports(compose):
    assert KafkaSettings().bootstrap_servers == "127.0.0.1:9092"
    assert Neo4jSettings().uri.endswith(":7687")
    assert S3Settings().endpoint_url.endswith(":7070")


def test_s3_notifications_go_to_the_registry_topic(compose, stack):
    command = compose["services"]["s3"]["command"]
    topic_command = compose["services"]["kafka-topics"]["command"]

    assert command[command.index("--event-kafka-topic") + 1] == stack.s3_events_topic
    assert topic_command[topic_command.index("--topic") + 1] == stack.s3_events_topic
    assert "--versioning-dir" in command
