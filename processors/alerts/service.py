"""`custody alerts run`: consume Custody's topics, raise alerts and deliver them."""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field

from confluent_kafka import Message

from custody.errors import ServiceUnavailableError
from custody.events import InvalidEvent, decode, make_event
from custody.events.models import AlertRaised, RecordDeadLettered
from custody.kafka import DeadLetterWriter, DurableProducer, ManualCommitConsumer
from custody.kafka.snapshot import read_to_end
from custody.settings import Settings
from custody.shutdown import StopSignal
from custody.topics import group_name, topic
from processors.alerts.delivery import Dispatcher
from processors.alerts.detectors import Detectors
from processors.alerts.engine import AlertEngine, PendingAlert
from processors.alerts.rules import RulesFile
from processors.alerts.sinks import build_sinks
from processors.alerts.subscribers import SubscriberRegistry, default_registry

log = logging.getLogger(__name__)

SERVICE = "alerts"
DEFAULT_GROUP = "custody-alerts"
WATCHED_TOPICS = (
    "custody.data.commits",
    "custody.pipelines.history",
    "custody.decisions",
    "custody.jobs",
    "custody.alerts",
)


@dataclass
class AlertCounters:
    """Counts kept for logs and tests."""

    events: int = 0
    alerts: int = 0
    dead_lettered: int = 0
    handler_errors: int = 0
    invalid: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)


class AlertService:
    """Evaluate rules, detectors and subscribers on every event; commit offsets after delivery."""

    def __init__(
        self,
        settings: Settings,
        rules: RulesFile,
        *,
        group_id: str | None = None,
        from_beginning: bool = False,
        subscribers: SubscriberRegistry = default_registry,
        tick_s: float = 1.0,
    ) -> None:
        self.settings = settings
        self.prefix = settings.topic_prefix
        self.producer = DurableProducer(settings.kafka, topic_prefix=self.prefix, client_id="custody-alerts")
        self.dead_letters = DeadLetterWriter(self.producer, service=SERVICE)
        self.engine = AlertEngine(rules)
        self.detectors = Detectors(rules)
        self.dispatcher = Dispatcher(build_sinks(rules.sinks, self.producer))
        self.subscribers = subscribers
        self.consumer = ManualCommitConsumer(
            settings.kafka, group_id=group_id or group_name(settings.topic_prefix, DEFAULT_GROUP), auto_offset_reset="earliest" if from_beginning else "latest"
        )
        self.tick_s = tick_s
        self.counters = AlertCounters()

    def run(self, stop: StopSignal) -> AlertCounters:
        """Consume until `stop` is set; return the counters."""
        self._load_pipelines()
        topics = [topic(name).full_name(self.prefix) for name in WATCHED_TOPICS]
        self.consumer.subscribe(topics)
        log.info("alerts service started topics=%s rules=%d", ",".join(topics), len(self.engine.rules.rules))

        try:
            while not stop.is_set():
                message = self.consumer.poll(self.tick_s)
                if message is not None:
                    self.handle(message)
                for pending in self.detectors.tick():
                    if self.engine.admit(pending, window_s=self.engine.rules.detectors.sla.seconds):
                        self._deliver(pending, source=None)
        finally:
            self.consumer.close()
            self.dispatcher.close()
            self.producer.close()
            log.info("alerts service stopped events=%d alerts=%d dead_lettered=%d", self.counters.events, self.counters.alerts, self.counters.dead_lettered)
        return self.counters

    def handle(self, message: Message) -> None:
        """Process one record and commit its offset once every alert it raised is delivered or dead-lettered."""
        try:
            event = decode(message.value() or b"")
        except InvalidEvent as exc:
            self.counters.invalid += 1
            self.dead_letters.send(message, reason=str(exc), error_type="InvalidEvent")
            self.consumer.commit(message)
            return

        self.counters.events += 1
        document = event.model_dump(mode="json")
        pending = self.engine.evaluate(document)
        for candidate in self.detectors.observe(document):
            if self.engine.admit(candidate, window_s=self._detector_window()):
                pending.append(candidate)

        self.counters.handler_errors += self.subscribers.dispatch(event)
        for candidate in pending:
            self._deliver(candidate, source=message)
        self.consumer.commit(message)

    def _deliver(self, pending: PendingAlert, *, source: Message | None) -> None:
        alert = pending.alert
        self.counters.alerts += 1
        self.counters.by_rule[alert.rule] = self.counters.by_rule.get(alert.rule, 0) + 1
        failures = self.dispatcher.deliver(alert, pending.sinks)
        for sink, reason in failures.items():
            self._dead_letter_alert(alert, sink, reason, source)

    def _dead_letter_alert(self, alert: AlertRaised, sink: str, reason: str, source: Message | None) -> None:
        data = RecordDeadLettered(
            service=SERVICE,
            source_topic=source.topic() if source is not None else topic("custody.alerts").full_name(self.prefix),
            partition=source.partition() if source is not None else 0,
            offset=source.offset() if source is not None else 0,
            key_b64=base64.b64encode(alert.dedupe_key.encode()).decode(),
            value_b64=base64.b64encode(alert.model_dump_json().encode()).decode(),
            reason=f"alert {alert.alert_id} rule={alert.rule} undeliverable to sink {sink}: {reason}"[:4000],
            error_type="SinkError",
        )
        self.producer.send_event(make_event(data, source="/custody/alerts", subject=alert.rule, causationid=alert.alert_id))
        self.producer.flush()
        self.counters.dead_lettered += 1
        log.error("alert dead-lettered alert=%s rule=%s sink=%s reason=%s", alert.alert_id, alert.rule, sink, reason)

    def _detector_window(self) -> float:
        # Detector alerts carry their own dedupe keys (one per job, commit or
        # pipeline), so a long window only suppresses true repeats.
        return 3600.0

    def _load_pipelines(self) -> None:
        """Read the compacted pipeline registry once, so the SLA detector has the repos that pipelines read."""
        registry_topic = topic("custody.pipelines").full_name(self.prefix)
        try:
            for message in read_to_end(self.settings.kafka, registry_topic, timeout_s=30.0):
                if message.value() is not None:
                    self._observe_registration(message)
        except ServiceUnavailableError as exc:
            # The service still raises every other alert; only SLA misses need the registry.
            log.warning("pipeline registry topic=%s not read: %s; SLA alerts may miss pipelines", registry_topic, exc)

    def _observe_registration(self, message: Message) -> None:
        try:
            self.detectors.observe(decode(message.value() or b"").model_dump(mode="json"))
        except InvalidEvent as exc:
            log.debug("skipped invalid registry record topic=%s offset=%d: %s", message.topic(), message.offset(), exc)
