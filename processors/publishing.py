"""Build the worker's events with deterministic ids, and publish them durably.

Ids are UUIDv5 values derived from what an event is about (a decision from its
cause and its job, a job event from the job id and the attempt). When a worker
restarts after a crash and announces the same thing again, the repeat carries
the same `id` and `source`, which CloudEvents defines as a duplicate that
consumers may drop.

Causation chain: the TriggerDecision's `causationid` is the id of the
DataCommitted (or PipelineRegistered, or re-run request) behind it. The
JobScheduled's is the decision id. JobStarted, JobSucceeded, JobFailed and the
output commit's DataCommitted carry the JobScheduled id.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Sequence

from pydantic import BaseModel

from custody.events import CloudEvent, make_event
from custody.kafka import DurableProducer
from custody.settings import Settings

log = logging.getLogger(__name__)

SOURCE = "/custody/processors"
_NAMESPACE = uuid.UUID("6f0b6a3e-4c1d-5d57-9a43-1d2f8c5b7e10")


def derived_id(*parts: str) -> str:
    """Return a UUIDv5 over the parts, the same for the same parts in every process."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


def build_event(data: BaseModel, *, event_id: str, subject: str, causationid: str | None) -> CloudEvent:
    """Wrap a payload in its event type with a given id."""
    event = make_event(data, source=SOURCE, subject=subject, causationid=causationid)
    return event.model_copy(update={"id": event_id})


class EventPublisher:
    """Send events to their registry topics and wait for Kafka's acknowledgement.

    One librdkafka producer is shared by the trigger and the executors; a lock
    keeps one flush's delivery failures from being reported to another caller.
    """

    def __init__(self, settings: Settings) -> None:
        # Every publish is flushed at once, so waiting to batch (linger) would only add latency.
        self._producer = DurableProducer(
            settings.kafka, topic_prefix=settings.topic_prefix, client_id="custody-processors", **{"linger.ms": 0}
        )
        self._lock = threading.Lock()

    def publish(self, events: Sequence[CloudEvent]) -> None:
        """Send the events in order and block until all are acknowledged; raise DeliveryError otherwise."""
        with self._lock:
            for event in events:
                self._producer.send_event(event)
            self._producer.flush()
        for event in events:
            log.debug("published type=%s id=%s subject=%s", event.type, event.id, event.subject)

    async def publish_async(self, events: Sequence[CloudEvent]) -> None:
        """Publish from the event loop without blocking it."""
        await asyncio.to_thread(self.publish, list(events))

    def close(self) -> None:
        """Flush what is queued and release the producer."""
        with self._lock:
            self._producer.close()
