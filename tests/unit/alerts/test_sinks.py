"""Sink signing, previews and the subscriber API."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

from custody.events import decode, encode, make_event
from custody.events.models import AlertRaised
from processors.alerts.rules import WebhookSinkSpec
from processors.alerts.sinks import alert_body, preview, sign
from processors.alerts.subscribers import SubscriberRegistry
from tests.unit.alerts import events

ALERT = AlertRaised(alert_id="a1", rule="job-failed", severity="error", summary="job j failed", dedupe_key="job-failed:j")


def test_signature_is_hmac_sha256_of_body():
    body = alert_body(ALERT)

    expected = hmac.new(b"topsecret", body, hashlib.sha256).hexdigest()
    assert sign(body, "topsecret") == f"sha256={expected}"
    assert json.loads(body)["dedupe_key"] == "job-failed:j"


def test_webhook_preview_hides_secret():
    spec = WebhookSinkSpec(type="webhook", url="http://127.0.0.1:9/hook", secret_env="HOOK_SECRET")

    sink_request = preview(spec, ALERT)

    assert sink_request["headers"]["X-Custody-Signature"] == "sha256=<HMAC-SHA256 with $HOOK_SECRET>"
    assert sink_request["body"]["rule"] == "job-failed"


def test_failing_handler_does_not_stop_others(caplog):
    registry = SubscriberRegistry()
    seen = []

    @registry.subscribe("io.custody.job.failed.v1")
    def broken(event):
        raise RuntimeError("handler bug")

    @registry.subscribe("io.custody.job.failed.v1", where={"data.final": True})
    def record(event):
        seen.append(event.data.job_id)

    event = decode(encode(make_event(events.models_failed(), source="/custody/tests")))
    with caplog.at_level(logging.ERROR):
        failures = registry.dispatch(event)

    assert failures == 1
    assert seen == ["job-1"]
    assert event.id in caplog.text


def test_predicate_filter_applies():
    registry = SubscriberRegistry()
    seen = []
    registry.subscribe("*", predicate=lambda event: event.type.endswith("started.v1"))(lambda event: seen.append(event.type))

    registry.dispatch(decode(encode(make_event(events.models_failed(), source="/custody/tests"))))

    assert seen == []
