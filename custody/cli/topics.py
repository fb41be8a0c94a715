"""`custody topics`: the topic registry."""

from __future__ import annotations

import typer
from rich.table import Table

from custody.cli.common import console, reported_errors
from custody.kafka.admin import ensure_topics
from custody.settings import load_settings
from custody.topics import TOPICS
from custody.topics import topic as topic_spec

app = typer.Typer(help="Show and create Custody's Kafka topics.", no_args_is_help=True)


def topic_name(name: str, prefix: str) -> str:
    """Return a registered topic's full name with the prefix."""
    return topic_spec(name).full_name(prefix)


@app.command("list")
def list_topics() -> None:
    """Show every registered topic with its key rule, partitions, retention and dead-letter topic."""
    with reported_errors():
        prefix = load_settings().topic_prefix

    table = Table(title="Custody topics")
    for column in ("topic", "key", "partitions", "cleanup", "retention ms", "dead letters", "events"):
        table.add_column(column)
    for spec in TOPICS:
        table.add_row(
            spec.full_name(prefix),
            spec.key_rule,
            str(spec.partitions),
            spec.cleanup_policy,
            "forever" if spec.retention_ms == -1 else str(spec.retention_ms or "-"),
            topic_name(spec.dead_letter, prefix) if spec.dead_letter else "-",
            "\n".join(spec.event_types) or "-",
        )
    console.print(table)


@app.command()
def create() -> None:
    """Create missing topics with the registry's settings; existing topics are left as they are."""
    with reported_errors():
        settings = load_settings()
        created = ensure_topics(settings.kafka, prefix=settings.topic_prefix)
    console.print(f"created {len(created)} topic(s){': ' + ', '.join(created) if created else ''}")
