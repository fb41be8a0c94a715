"""Start the processors worker: create missing topics, build the faust app and run it until a signal."""

from __future__ import annotations

import logging

import faust

from custody.kafka import ensure_topics
from custody.settings import Settings
from processors.alerts.subscribers import SubscriberRegistry
from processors.app import build_app
from processors.faustconfig import app_id
from processors.settings import ProcessorSettings

log = logging.getLogger(__name__)

# Faust, mode and aiokafka log every start step at INFO; below DEBUG only their warnings are kept.
LIBRARY_LOGGERS = ("faust", "mode", "aiokafka")


def run_worker(
    settings: Settings, processor_settings: ProcessorSettings, *, log_level: str = "INFO", subscribers: SubscriberRegistry | None = None
) -> None:
    """Run the worker in the foreground; SIGTERM or SIGINT stops it after the current record.

    Raises ServiceUnavailableError when Kafka cannot be reached to create topics.
    """
    if log_level.upper() != "DEBUG":
        for name in LIBRARY_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
    ensure_topics(settings.kafka, prefix=settings.topic_prefix)
    processor_settings.state_dir.mkdir(parents=True, exist_ok=True)
    processors = build_app(settings, processor_settings, subscribers=subscribers)
    log.info(
        "processors worker starting app=%s kafka=%s state_dir=%s",
        app_id(settings, processor_settings), settings.kafka.bootstrap_servers, processor_settings.state_dir,
    )

    # Logging stays as the `custody` entry point configured it; faust would replace the handlers.
    worker = faust.Worker(processors.app, loglevel=log_level, override_logging=False, redirect_stdouts=False, quiet=True)
    try:
        worker.execute_from_commandline()
    finally:
        processors.publisher.close()
        log.info("processors worker stopped app=%s", app_id(settings, processor_settings))
