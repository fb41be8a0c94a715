"""The pipeline registry: specs published to `custody.pipelines` and `custody.pipelines.history`.

The compacted `custody.pipelines` topic keeps the latest event per pipeline,
which is what the worker and `custody pipeline list` read. Every event also
goes to `custody.pipelines.history`, which keeps every version, so lineage can
replay versions that compaction removed from the registry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal


from custody.errors import PermanentError
from custody.events import CONTENT_TYPE, CloudEvent, InvalidEvent, decode, encode, make_event
from custody.events.catalog import PipelineRegisteredEvent, PipelineRemovedEvent
from custody.events.models import Agent, PipelineRegistered, PipelineRemoved
from custody.kafka import DurableProducer
from custody.kafka.snapshot import read_to_end
from custody.settings import Settings
from custody.topics import topic
from processors.spec import PipelineSpec

log = logging.getLogger(__name__)

REGISTRY_SOURCE = "/custody/pipelines"


class PipelineNotFound(PermanentError):
    """No pipeline of this name is registered."""


@dataclass(frozen=True)
class ApplyOutcome:
    """Result of applying one spec, with status `created`, `updated` (a new version or new metadata) or `unchanged`."""

    name: str
    version: str
    status: Literal["created", "updated", "unchanged"]
    event_id: str | None


@dataclass(frozen=True)
class RegistryEntry:
    """The current registration of one pipeline and where it sits on the registry topic."""

    registration: PipelineRegistered
    event_id: str
    offset: int


class PipelineRegistry:
    """Publish and read pipeline specs; the constructor makes no network call."""

    def __init__(self, settings: Settings, *, timeout_s: float = 10.0) -> None:
        self.settings = settings
        self.topic = topic("custody.pipelines").full_name(settings.topic_prefix)
        self.history_topic = topic("custody.pipelines.history").full_name(settings.topic_prefix)
        self.timeout_s = timeout_s

    def apply(self, specs: list[PipelineSpec], *, registered_by: Agent) -> list[ApplyOutcome]:
        """Publish every spec whose normalized form differs from the registered one; return what happened to each."""
        current = self.snapshot()
        outcomes: list[ApplyOutcome] = []
        events: list[CloudEvent] = []

        for spec in specs:
            normalized = spec.normalized()
            existing = current.get(spec.name)
            if existing is not None and existing.registration.spec == normalized:
                outcomes.append(ApplyOutcome(spec.name, spec.version, "unchanged", None))
                continue
            event = make_event(_registration(spec, registered_by), source=REGISTRY_SOURCE, subject=spec.name)
            events.append(event)
            outcomes.append(ApplyOutcome(spec.name, spec.version, "created" if existing is None else "updated", event.id))

        self._publish(events)
        return outcomes

    def delete(self, name: str, *, removed_by: Agent) -> str:
        """Publish the removal of a pipeline; return the event id. Its past versions stay in the history topic."""
        if name not in self.snapshot():
            raise PipelineNotFound(f"pipeline {name!r} is not registered on topic {self.topic}; see `custody pipeline list`")
        event = make_event(PipelineRemoved(name=name, removed_by=removed_by), source=REGISTRY_SOURCE, subject=name)
        self._publish([event])
        return event.id

    def get(self, name: str) -> RegistryEntry:
        """Return the current registration of one pipeline; raise PipelineNotFound naming it."""
        entries = self.snapshot()
        if name not in entries:
            raise PipelineNotFound(f"pipeline {name!r} is not registered on topic {self.topic}; see `custody pipeline list`")
        return entries[name]

    def snapshot(self) -> dict[str, RegistryEntry]:
        """Read the registry topic from the start to its current end; removed pipelines are left out."""
        entries: dict[str, RegistryEntry] = {}
        for message in read_to_end(self.settings.kafka, self.topic, timeout_s=self.timeout_s):
            self._apply_record(message, entries)
        return entries

    def _publish(self, events: list[CloudEvent]) -> None:
        if not events:
            return
        producer = DurableProducer(self.settings.kafka, topic_prefix=self.settings.topic_prefix, client_id="custody-pipelines")
        for event in events:
            key = event.data.name.encode()
            headers = [("content-type", CONTENT_TYPE.encode()), ("ce_type", event.type.encode()), ("ce_id", event.id.encode())]
            value = encode(event)
            producer.produce(self.topic, value, key=key, headers=headers)
            producer.produce(self.history_topic, value, key=key, headers=headers)
        producer.close(self.timeout_s)
        for event in events:
            log.info("pipeline=%s type=%s id=%s published to topic=%s and topic=%s", event.data.name, event.type, event.id, self.topic, self.history_topic)

    def _apply_record(self, message, entries: dict[str, RegistryEntry]) -> None:
        key = (message.key() or b"").decode("utf-8", "replace")
        if message.value() is None:
            entries.pop(key, None)
            return
        try:
            event = decode(message.value())
        except InvalidEvent as exc:
            # A bad record must not hide the rest of the registry; the worker dead-letters it.
            log.warning("topic=%s partition=%d offset=%d skipped an invalid pipeline record: %s", self.topic, message.partition(), message.offset(), exc)
            return
        if isinstance(event, PipelineRegisteredEvent):
            entries[event.data.name] = RegistryEntry(event.data, event.id, message.offset())
        elif isinstance(event, PipelineRemovedEvent):
            entries.pop(event.data.name, None)


def _registration(spec: PipelineSpec, registered_by: Agent) -> PipelineRegistered:
    return PipelineRegistered(
        name=spec.name,
        version=spec.version,
        owner=spec.owner,
        description=spec.description,
        input_repos=spec.input.repos,
        output_repo=spec.output,
        clearances=list(spec.clearances),
        executor=spec.executor,
        spec=spec.normalized(),
        registered_by=registered_by,
    )
