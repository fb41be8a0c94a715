"""`custody check`: probe Kafka, Neo4j and S3 with the current settings."""

from __future__ import annotations

import typer

from custody.cli.common import console
from custody.errors import CustodyError
from custody.graphdb import Neo4jConnector
from custody.kafka.admin import probe_kafka
from custody.s3 import make_s3_client, probe_s3
from custody.settings import load_settings


def check() -> None:
    """Check that Kafka, Neo4j and S3 respond with the configured endpoints and credentials."""
    settings = load_settings()
    probes = {
        "kafka": lambda: f"{probe_kafka(settings.kafka)} broker(s) at {settings.kafka.bootstrap_servers}",
        "neo4j": lambda: _probe_neo4j(settings),
        "s3": lambda: f"{probe_s3(make_s3_client(settings.s3), settings.s3)} bucket(s) at {settings.s3.endpoint_url}",
    }

    failed = False
    for name, probe in probes.items():
        try:
            console.print(f"[green]ok[/]     {name}: {probe()}")
        except CustodyError as exc:
            failed = True
            console.print(f"[red]failed[/] {name}: {exc}", highlight=False)
    if failed:
        raise typer.Exit(code=1)


def _probe_neo4j(settings) -> str:
    connector = Neo4jConnector(settings.neo4j)
    try:
        connector.connect()
    finally:
        connector.close()
    return f"{settings.neo4j.uri} database {settings.neo4j.database}"
