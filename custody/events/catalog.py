"""The event types: one CloudEvent subclass per `io.custody.<noun>.<verb>.v1` type."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from custody.events import models
from custody.events.envelope import CloudEvent


class RepoRegisteredEvent(CloudEvent[models.RepoRegistered]):
    type: Literal["io.custody.repo.registered.v1"] = "io.custody.repo.registered.v1"


class DataCommittedEvent(CloudEvent[models.DataCommitted]):
    type: Literal["io.custody.data.committed.v1"] = "io.custody.data.committed.v1"


class DataRemovedEvent(CloudEvent[models.DataRemoved]):
    type: Literal["io.custody.data.removed.v1"] = "io.custody.data.removed.v1"


class PipelineRegisteredEvent(CloudEvent[models.PipelineRegistered]):
    type: Literal["io.custody.pipeline.registered.v1"] = "io.custody.pipeline.registered.v1"


class PipelineRemovedEvent(CloudEvent[models.PipelineRemoved]):
    type: Literal["io.custody.pipeline.removed.v1"] = "io.custody.pipeline.removed.v1"


class TriggerDecidedEvent(CloudEvent[models.TriggerDecision]):
    type: Literal["io.custody.trigger.decided.v1"] = "io.custody.trigger.decided.v1"


class JobScheduledEvent(CloudEvent[models.JobScheduled]):
    type: Literal["io.custody.job.scheduled.v1"] = "io.custody.job.scheduled.v1"


class JobStartedEvent(CloudEvent[models.JobStarted]):
    type: Literal["io.custody.job.started.v1"] = "io.custody.job.started.v1"


class JobSucceededEvent(CloudEvent[models.JobSucceeded]):
    type: Literal["io.custody.job.succeeded.v1"] = "io.custody.job.succeeded.v1"


class JobFailedEvent(CloudEvent[models.JobFailed]):
    type: Literal["io.custody.job.failed.v1"] = "io.custody.job.failed.v1"


class AlertRaisedEvent(CloudEvent[models.AlertRaised]):
    type: Literal["io.custody.alert.raised.v1"] = "io.custody.alert.raised.v1"


class RecordDeadLetteredEvent(CloudEvent[models.RecordDeadLettered]):
    type: Literal["io.custody.record.deadlettered.v1"] = "io.custody.record.deadlettered.v1"


EVENT_CLASSES: tuple[type[CloudEvent], ...] = (
    RepoRegisteredEvent,
    DataCommittedEvent,
    DataRemovedEvent,
    PipelineRegisteredEvent,
    PipelineRemovedEvent,
    TriggerDecidedEvent,
    JobScheduledEvent,
    JobStartedEvent,
    JobSucceededEvent,
    JobFailedEvent,
    AlertRaisedEvent,
    RecordDeadLetteredEvent,
)


def _type_of(event_class: type[CloudEvent]) -> str:
    return event_class.model_fields["type"].default


BY_TYPE: dict[str, type[CloudEvent]] = {_type_of(cls): cls for cls in EVENT_CLASSES}
BY_DATA: dict[type[BaseModel], type[CloudEvent]] = {
    cls.model_fields["data"].annotation: cls for cls in EVENT_CLASSES  # type: ignore[misc]
}


def event_type_names() -> list[str]:
    """Return every event type name, sorted."""
    return sorted(BY_TYPE)


def make_event(
    data: BaseModel,
    *,
    source: str,
    subject: str | None = None,
    causationid: str | None = None,
) -> CloudEvent:
    """Wrap a payload in the envelope of its event type."""
    try:
        event_class = BY_DATA[type(data)]
    except KeyError:
        raise TypeError(f"{type(data).__name__} is not an event payload; use one of the models in custody.events.models") from None
    return event_class(source=source, subject=subject, causationid=causationid, data=data)
