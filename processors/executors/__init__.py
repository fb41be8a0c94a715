"""Executors behind one interface (`processors.executors.base.Executor`).

`local` is built in. Another executor plugs in by providing a module
`processors.executors.<kind>` with a class named in `EXTENSION_CLASSES` whose
constructor takes the same arguments as `LocalExecutor`. A pipeline whose
executor is not available in a worker gets a final `JobFailed` naming it,
never a silent skip.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable

from custody.settings import Settings
from processors.executors.base import Executor, ExecutorKind, JobRequest, SubmitResult
from processors.executors.local import LocalExecutor
from processors.publishing import EventPublisher
from processors.settings import ProcessorSettings

log = logging.getLogger(__name__)

ExecutorFactory = Callable[[Settings, ProcessorSettings, EventPublisher], Executor]
EXTENSION_CLASSES: dict[str, str] = {"kubernetes": "KubernetesExecutor"}


def available_factories() -> dict[str, ExecutorFactory]:
    """Return the executor kinds this installation can run, with their factories."""
    factories: dict[str, ExecutorFactory] = {"local": LocalExecutor}
    for kind, class_name in EXTENSION_CLASSES.items():
        try:
            module = importlib.import_module(f"processors.executors.{kind}")
        except ModuleNotFoundError as exc:
            if exc.name != f"processors.executors.{kind}":
                raise
            continue
        factories[kind] = getattr(module, class_name)
    return factories


def make_executors(settings: Settings, processor_settings: ProcessorSettings, publisher: EventPublisher) -> dict[str, Executor]:
    """Build one executor of every available kind."""
    executors = {kind: factory(settings, processor_settings, publisher) for kind, factory in available_factories().items()}
    log.info("executors available: %s", ", ".join(sorted(executors)))
    return executors


__all__ = ["Executor", "ExecutorKind", "JobRequest", "LocalExecutor", "SubmitResult", "available_factories", "make_executors"]
