"""`custody processors`: the worker that starts pipelines when data is committed."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from custody.cli.common import reported_errors
from custody.settings import load_settings

app = typer.Typer(help="Run the processors worker: trigger pipelines on commits and run their jobs.", no_args_is_help=True)


@app.command("run")
def run(
    handlers: Annotated[
        list[str] | None,
        typer.Option("--handlers", help="Python module whose @subscriber handlers run inside the worker on every event; repeatable."),
    ] = None,
) -> None:
    """Run the worker in the foreground until SIGTERM or Ctrl-C.

    It reads commits and pipeline specs from Kafka, decides which jobs start,
    runs local jobs in CUSTODY_PROCESSORS_STATE_DIR and commits their outputs.
    Settings: CUSTODY_KAFKA_*, CUSTODY_S3_*, CUSTODY_TOPIC_PREFIX and
    CUSTODY_PROCESSORS_* (see docs/processors.md).
    """
    from processors.alerts.subscribers import default_registry, load_handler_modules
    from processors.settings import load_processor_settings
    from processors.worker import run_worker

    with reported_errors():
        settings = load_settings()
        processor_settings = load_processor_settings()
        level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
        load_handler_modules(handlers or [])
        run_worker(settings, processor_settings, log_level=level, subscribers=default_registry if handlers else None)
