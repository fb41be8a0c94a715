"""Alert sinks: log, signed webhook, Slack-compatible webhook and the Kafka alerts topic.

Delivery is at least once: a sink retries with exponential backoff, and an alert
that still fails is returned to the caller for the dead-letter topic. Receivers
use the `dedupe_key` (also sent as the `X-Custody-Dedupe-Key` header) to drop
repeats.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import time
from typing import Protocol

import httpx

from custody.events import make_event
from custody.events.models import AlertRaised
from custody.kafka.producer import DurableProducer
from processors.alerts.rules import KafkaSinkSpec, LogSinkSpec, SinkSpec, SlackSinkSpec, WebhookSinkSpec

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Custody-Signature"
DEDUPE_HEADER = "X-Custody-Dedupe-Key"


class SinkError(Exception):
    """A sink gave up on an alert after its retries."""


class Sink(Protocol):
    """Deliver one alert or raise SinkError."""

    name: str

    def send(self, alert: AlertRaised) -> None: ...


def alert_body(alert: AlertRaised) -> bytes:
    """Return the JSON body sent to webhooks: the alert's fields, keys sorted."""
    return json.dumps(alert.model_dump(mode="json"), sort_keys=True).encode()


def sign(body: bytes, secret: str) -> str:
    """Return the signature header value `sha256=<hex HMAC-SHA256 of the body>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class LogSink:
    """Write the alert to the log at a level matching its severity."""

    def __init__(self, name: str) -> None:
        self.name = name

    def send(self, alert: AlertRaised) -> None:
        level = {"info": logging.INFO, "warning": logging.WARNING}.get(alert.severity, logging.ERROR)
        log.log(level, "alert rule=%s severity=%s dedupe_key=%s: %s", alert.rule, alert.severity, alert.dedupe_key, alert.summary)


class _HttpSink:
    """POST with a timeout and retries; subclasses choose the body and headers."""

    def __init__(self, name: str, url: str, *, timeout_s: float, retries: int, backoff_s: float) -> None:
        self.name = name
        self.url = url
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s

    def request(self, alert: AlertRaised) -> tuple[bytes, dict[str, str]]:
        raise NotImplementedError

    def send(self, alert: AlertRaised) -> None:
        body, headers = self.request(alert)
        last_error = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                response = httpx.post(self.url, content=body, headers=headers, timeout=self.timeout_s)
            except httpx.HTTPError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 300:
                    return
                last_error = f"HTTP {response.status_code}"
                # A 4xx other than 408/429 will not change on retry.
                if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
                    break
            log.warning(
                "sink=%s alert=%s attempt=%d failed: %s; %s",
                self.name, alert.alert_id, attempt + 1, last_error,
                "retrying" if attempt < self.retries else "giving up",
            )
        raise SinkError(f"sink {self.name} failed to deliver alert {alert.alert_id} to {self.url}: {last_error}")


class WebhookSink(_HttpSink):
    """Generic JSON webhook, signed with HMAC-SHA256 when a secret is configured."""

    def __init__(self, name: str, spec: WebhookSinkSpec) -> None:
        super().__init__(name, str(spec.url), timeout_s=spec.timeout_s, retries=spec.retries, backoff_s=spec.backoff_s)
        self.secret = os.environ.get(spec.secret_env) if spec.secret_env else None
        if spec.secret_env and not self.secret:
            raise SinkError(f"sink {name}: environment variable {spec.secret_env} holding the HMAC secret is not set")

    def request(self, alert: AlertRaised) -> tuple[bytes, dict[str, str]]:
        body = alert_body(alert)
        headers = {"Content-Type": "application/json", DEDUPE_HEADER: alert.dedupe_key}
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(body, self.secret)
        return body, headers


class SlackSink(_HttpSink):
    """Slack-compatible incoming webhook: a `text` message."""

    def __init__(self, name: str, spec: SlackSinkSpec) -> None:
        super().__init__(name, str(spec.url), timeout_s=spec.timeout_s, retries=spec.retries, backoff_s=spec.backoff_s)

    def request(self, alert: AlertRaised) -> tuple[bytes, dict[str, str]]:
        text = f"[{alert.severity.upper()}] {alert.rule}: {alert.summary}"
        return json.dumps({"text": text}).encode(), {"Content-Type": "application/json", DEDUPE_HEADER: alert.dedupe_key}


class KafkaSink:
    """Publish the alert on `custody.alerts`, keyed by its dedupe key."""

    def __init__(self, name: str, producer: DurableProducer) -> None:
        self.name = name
        self.producer = producer

    def send(self, alert: AlertRaised) -> None:
        self.producer.send_event(make_event(alert, source="/custody/alerts", subject=alert.subject))
        try:
            self.producer.flush()
        except Exception as exc:  # DeliveryError and librdkafka errors alike end in the dead-letter path
            raise SinkError(f"sink {self.name} failed to publish alert {alert.alert_id}: {exc}") from exc


def build_sinks(specs: dict[str, SinkSpec], producer: DurableProducer | None) -> dict[str, Sink]:
    """Create a sink object for each entry of the rules file."""
    sinks: dict[str, Sink] = {}
    for name, spec in specs.items():
        if isinstance(spec, LogSinkSpec):
            sinks[name] = LogSink(name)
        elif isinstance(spec, WebhookSinkSpec):
            sinks[name] = WebhookSink(name, spec)
        elif isinstance(spec, SlackSinkSpec):
            sinks[name] = SlackSink(name, spec)
        elif isinstance(spec, KafkaSinkSpec):
            if producer is None:
                raise SinkError(f"sink {name} publishes to Kafka but no producer was given")
            sinks[name] = KafkaSink(name, producer)
    return sinks


def preview(spec: SinkSpec, alert: AlertRaised) -> dict[str, object]:
    """Return what a sink would receive, for `custody alerts test`; no request is sent."""
    if isinstance(spec, WebhookSinkSpec):
        headers = {DEDUPE_HEADER: alert.dedupe_key}
        if spec.secret_env:
            headers[SIGNATURE_HEADER] = f"sha256=<HMAC-SHA256 with ${spec.secret_env}>"
        return {"POST": str(spec.url), "headers": headers, "body": json.loads(alert_body(alert))}
    if isinstance(spec, SlackSinkSpec):
        return {"POST": str(spec.url), "body": {"text": f"[{alert.severity.upper()}] {alert.rule}: {alert.summary}"}}
    if isinstance(spec, KafkaSinkSpec):
        return {"topic": "custody.alerts", "key": alert.dedupe_key, "type": "io.custody.alert.raised.v1"}
    return {"log": f"alert rule={alert.rule} severity={alert.severity}: {alert.summary}"}
