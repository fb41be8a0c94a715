"""The faust app of the processors worker: topics, tables and agents.

    custody.data.commits ──> route_commits ──┐        (stage one, keyed by repo)
    custody.pipelines ─────> route_pipelines ┴──> <app id>-triggers ──> decide   (stage two, keyed by pipeline)

Tables (memory stores rebuilt from their changelog topics at start-up):

- `pipelines` (global): the latest registration of every pipeline, fed by the registry topic;
- `heads` (global): the latest commit of every repo;
- `claims`: job id -> claim, co-partitioned with the trigger topic;
- `seen`: per pipeline and repo, the latest commit forwarded to that pipeline.

Global tables use one partition and a recovery buffer of one record, which
faust's documentation gives as the way to run them with several workers.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import faust

from custody.errors import TransientError
from custody.events import InvalidEvent, decode
from custody.kafka import DeadLetterWriter, DurableProducer
from custody.settings import Settings
from custody.topics import topic
from processors.deadletters import dead_letter
from processors.executors import Executor, make_executors
from processors.faustconfig import app_id, faust_settings
from processors.faustfixes import app_class
from processors.publishing import EventPublisher
from processors.recovery import stale_claims
from processors.requests import TRIGGER_PARTITIONS, TriggerRequest
from processors.routing import Unusable, route_commit, route_registration
from processors.settings import ProcessorSettings
from processors.alerts.subscribers import SubscriberRegistry
from processors.triggering import Decider

log = logging.getLogger(__name__)

SERVICE = "processors"
# Topics whose events reach `@subscriber` handlers when the worker runs with --handlers.
SUBSCRIBED_TOPICS = ("custody.data.commits", "custody.decisions", "custody.jobs", "custody.alerts")
# Seconds to wait before handling a request again after a transient error, doubling up to the maximum.
RETRY_FIRST_S = 1.0
RETRY_MAX_S = 30.0


def triggers_topic_name(settings: Settings, processor_settings: ProcessorSettings) -> str:
    """Return the name of the internal trigger topic (also used by `custody pipeline rerun`)."""
    return f"{app_id(settings, processor_settings)}-triggers"


@dataclass
class Processors:
    """The app and the services its agents share."""

    app: faust.App
    settings: Settings
    processor_settings: ProcessorSettings
    publisher: EventPublisher
    executors: dict[str, Executor]
    dead_letters: DeadLetterWriter
    tables: dict[str, Any] = field(default_factory=dict)


def build_app(
    settings: Settings, processor_settings: ProcessorSettings, *, subscribers: SubscriberRegistry | None = None
) -> Processors:
    """Create the faust app with its topics, tables, agents and timers; nothing connects yet.

    With `subscribers` that hold subscriptions, an extra agent hands every event
    of the subscribed topics to the user handlers.
    """
    prefix = settings.topic_prefix
    source_topics = {
        topic("custody.data.commits").full_name(prefix),
        topic("custody.pipelines").full_name(prefix),
        triggers_topic_name(settings, processor_settings),
    }
    subscribed = SUBSCRIBED_TOPICS if subscribers is not None and subscribers.subscriptions else ()
    source_topics |= {topic(name).full_name(prefix) for name in subscribed}
    app = app_class(source_topics)(app_id(settings, processor_settings), **faust_settings(settings, processor_settings))
    publisher = EventPublisher(settings)
    dead_letters = DeadLetterWriter(DurableProducer(settings.kafka, topic_prefix=settings.topic_prefix, client_id="custody-processors-dlq"), service=SERVICE)
    processors = Processors(app, settings, processor_settings, publisher, make_executors(settings, processor_settings, publisher), dead_letters)

    commits = app.topic(topic("custody.data.commits").full_name(prefix), key_serializer="raw", value_serializer="raw")
    registry = app.topic(topic("custody.pipelines").full_name(prefix), key_serializer="raw", value_serializer="raw")
    triggers = app.topic(
        triggers_topic_name(settings, processor_settings),
        partitions=TRIGGER_PARTITIONS,
        internal=True,
        key_serializer="raw",
        value_serializer="raw",
    )

    pipelines = app.GlobalTable("pipelines", partitions=1, use_partitioner=True, recovery_buffer_size=1)
    heads = app.GlobalTable("heads", partitions=1, use_partitioner=True, recovery_buffer_size=1)
    claims = app.Table("claims", partitions=TRIGGER_PARTITIONS)
    seen = app.Table("seen", partitions=TRIGGER_PARTITIONS)
    processors.tables = {"pipelines": pipelines, "heads": heads, "claims": claims, "seen": seen}

    decider = Decider(
        claims=claims, seen=seen, heads=heads, pipelines=pipelines, executors=processors.executors,
        publisher=publisher, processor_settings=processor_settings,
    )

    async def forward(requests: list[TriggerRequest]) -> None:
        # Wait for every acknowledgement, so the source record is committed only after its requests are safe.
        pending = [await triggers.send(key=r.pipeline.encode(), value=r.model_dump_json().encode()) for r in requests]
        for future in pending:
            await future

    @app.agent(commits, name="route-commits")
    async def route_commits(stream: faust.StreamT) -> None:
        async for event in stream.events():
            try:
                requests = route_commit(event.value, pipelines=pipelines, heads=heads)
            except Unusable as exc:
                await dead_letter(dead_letters, event.message, reason=exc.reason, error_type=exc.error_type)
                continue
            await forward(requests)

    @app.agent(registry, name="route-pipelines")
    async def route_pipelines(stream: faust.StreamT) -> None:
        async for event in stream.events():
            try:
                requests = route_registration(event.value, event.key, offset=event.message.offset, pipelines=pipelines)
            except Unusable as exc:
                await dead_letter(dead_letters, event.message, reason=exc.reason, error_type=exc.error_type)
                continue
            await forward(requests)

    @app.agent(triggers, name="decide")
    async def decide(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await _decide_one(decider, dead_letters, event)

    if subscribed:
        _add_subscriber_agent(app, [topic(name).full_name(prefix) for name in subscribed], subscribers)

    @app.timer(processor_settings.resume_interval_s, name="resume-stale-claims")
    async def resume_stale_claims() -> None:
        await forward(stale_claims(claims, older_than_s=processor_settings.resume_interval_s))

    @app.task
    async def start_executors() -> None:
        for kind, executor in list(processors.executors.items()):
            try:
                await executor.start()
            except Exception:  # noqa: BLE001
                # One broken executor must not stop the others; its jobs get a final JobFailed naming it.
                log.exception("executor=%s failed to start; jobs for it fail until the worker restarts", kind)
                del processors.executors[kind]

    @app.on_before_shutdown.connect
    async def stop_executors(_app: faust.App, **_kwargs: Any) -> None:
        for executor in processors.executors.values():
            await executor.stop()

    return processors


def _add_subscriber_agent(app: faust.App, topic_names: list[str], subscribers: SubscriberRegistry) -> None:
    """Add the agent that runs user handlers on every valid event of `topic_names`."""
    channel = app.topic(*topic_names, key_serializer="raw", value_serializer="raw")

    @app.agent(channel, name="subscribers")
    async def run_subscribers(stream: faust.StreamT) -> None:
        loop = asyncio.get_running_loop()
        async for event in stream.events():
            try:
                decoded = decode(event.value or b"")
            except InvalidEvent as exc:
                # The topic's own consumer dead-letters it; handlers only see valid events.
                log.debug("subscribers skip invalid record topic=%s offset=%d: %s", event.message.topic, event.message.offset, exc)
                continue
            # Handlers are plain blocking functions, so they run in a thread and never stall the event loop.
            await loop.run_in_executor(None, subscribers.dispatch, decoded)


async def _decide_one(decider: Decider, dead_letters: DeadLetterWriter, event: Any) -> None:
    """Handle one trigger request, retrying it while Kafka or S3 is unreachable; dead-letter it when it is unusable."""
    try:
        request = TriggerRequest.model_validate_json(event.value)
    except ValueError as exc:
        await dead_letter(dead_letters, event.message, reason=f"invalid trigger request: {exc}", error_type="InvalidTriggerRequest")
        return

    delay = RETRY_FIRST_S
    while True:
        try:
            await decider.handle(request)
            return
        except TransientError as exc:
            # The partition waits, so the pipeline's requests keep their order.
            log.warning("pipeline=%s request=%s failed: %s; retrying in %.0fs", request.pipeline, request.request_id, exc, delay)
            await asyncio.sleep(delay)
            delay = min(RETRY_MAX_S, delay * 2)
        except Exception as exc:  # noqa: BLE001
            # Anything else would fail again the same way; keep the request and move on.
            log.exception("pipeline=%s request=%s cannot be handled; dead-lettering it", request.pipeline, request.request_id)
            await dead_letter(dead_letters, event.message, reason=f"{type(exc).__name__}: {exc}", error_type=type(exc).__name__)
            return
