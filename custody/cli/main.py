"""Entry point of the `custody` command."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from custody.cli import alerts, check, dev, schema, topics
from custody.cli import pipeline, processors
from custody.cli import commit, producers, repo
from custody.cli import audit, lineage
from custody.cli.common import configure_logging

app = typer.Typer(
    help="Custody: data provenance for regulated data and ML teams.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(alerts.app, name="alerts")
app.add_typer(dev.app, name="dev")
app.add_typer(schema.app, name="schema")
app.add_typer(topics.app, name="topics")
app.add_typer(pipeline.app, name="pipeline")
app.add_typer(processors.app, name="processors")
app.add_typer(repo.app, name="repo")
app.add_typer(producers.app, name="producers")
app.add_typer(lineage.app, name="lineage")
app.add_typer(audit.app, name="audit")
app.command("commit")(commit.commit)
app.command("check")(check.check)


@app.callback()
def main(
    log_level: Annotated[
        str, typer.Option("--log-level", help="DEBUG, INFO, WARNING or ERROR (default: CUSTODY_LOG_LEVEL or INFO).")
    ] = "",
) -> None:
    """Custody: data provenance for regulated data and ML teams."""
    configure_logging(log_level or os.environ.get("CUSTODY_LOG_LEVEL", "INFO"))


if __name__ == "__main__":
    app()
