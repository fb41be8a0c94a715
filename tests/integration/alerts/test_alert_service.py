"""The alert service against real Kafka and HTTP receivers on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from custody.events import decode, make_event
from custody.kafka import DurableProducer, ManualCommitConsumer, ensure_topics
from custody.settings import KafkaSettings, Settings
from custody.shutdown import StopSignal
from processors.alerts.rules import RulesFile
from processors.alerts.service import AlertService
from processors.alerts.subscribers import SubscriberRegistry
from tests.unit.alerts import events as sample

SECRET = "hook-secret-for-tests"


class Receiver:
    """An HTTP server on 127.0.0.1 that records POSTs and replies with a fixed status."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.calls: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append((dict(self.headers), body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    started: list[Receiver] = []
    yield started
    for receiver in started:
        receiver.close()


def run_service(kafka: KafkaSettings, prefix: str, rules: dict, unique: str) -> tuple[AlertService, StopSignal, threading.Thread]:
    settings = Settings(topic_prefix=prefix, kafka=kafka)
    service = AlertService(
        settings, RulesFile.model_validate(rules), group_id=f"alerts-{unique}", from_beginning=True,
        subscribers=SubscriberRegistry(), tick_s=0.2,
    )
    stop = StopSignal("alerts-test")
    thread = threading.Thread(target=service.run, args=(stop,), daemon=True)
    thread.start()
    return service, stop, thread


def publish(kafka: KafkaSettings, prefix: str, payloads: list) -> None:
    producer = DurableProducer(kafka, topic_prefix=prefix)
    for payload in payloads:
        producer.send_event(make_event(payload, source="/custody/tests"))
    producer.flush()


def wait_for(condition, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_failed_job_sends_one_signed_webhook(kafka_settings, unique, receivers, monkeypatch):
    prefix = f"alerts-{unique}."
    ensure_topics(kafka_settings, prefix=prefix)
    hook = Receiver()
    receivers.append(hook)
    monkeypatch.setenv("TEST_HOOK_SECRET", SECRET)
    rules = {
        "sinks": {"hook": {"type": "webhook", "url": hook.url, "secret_env": "TEST_HOOK_SECRET"}},
        "detectors": {"job_failed": {"sinks": ["hook"]}, "sla": {"enabled": False}, "lineage_gap": {"enabled": False}},
    }
    service, stop, thread = run_service(kafka_settings, prefix, rules, unique)

    scheduled = sample.models_scheduled()
    failure = sample.models_failed(final=True)
    publish(kafka_settings, prefix, [scheduled, failure, failure])
    processed = wait_for(lambda: service.counters.events >= 3)
    stop.set()
    thread.join(15)

    assert processed
    assert len(hook.calls) == 1
    headers, body = hook.calls[0]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Custody-Signature"] == expected
    alert = json.loads(body)
    assert alert["details"]["job_id"] == "job-1"
    assert alert["details"]["reason"] == "exit code 2"
    assert alert["dedupe_key"] == "job-failed:job-1"


def test_sla_fires_only_for_unprocessed_commit(kafka_settings, unique, receivers):
    prefix = f"alerts-{unique}."
    ensure_topics(kafka_settings, prefix=prefix)
    hook = Receiver()
    receivers.append(hook)
    rules = {
        "sinks": {"hook": {"type": "webhook", "url": hook.url}},
        "detectors": {"sla": {"seconds": 5, "sinks": ["hook"]}, "job_failed": {"enabled": False}},
    }
    publish(kafka_settings, prefix, [sample.models_pipeline(repos=("raw",))])
    service, stop, thread = run_service(kafka_settings, prefix, rules, unique)

    unprocessed = sample.models_commit(commit_id=sample.OTHER_COMMIT)
    processed = sample.models_commit(commit_id=sample.RAW_COMMIT)
    publish(
        kafka_settings, prefix,
        [processed, unprocessed, sample.models_scheduled(commit_id=sample.RAW_COMMIT), sample.models_started()],
    )
    fired = wait_for(lambda: len(hook.calls) >= 1)
    time.sleep(6)
    stop.set()
    thread.join(15)

    assert fired
    assert len(hook.calls) == 1
    alert = json.loads(hook.calls[0][1])
    assert alert["rule"] == "sla-miss"
    assert alert["details"]["commit_id"] == sample.OTHER_COMMIT


def test_failing_sink_dead_lettered_other_delivers(kafka_settings, unique, receivers):
    prefix = f"alerts-{unique}."
    ensure_topics(kafka_settings, prefix=prefix)
    good, bad = Receiver(200), Receiver(500)
    receivers.extend([good, bad])
    rules = {
        "sinks": {
            "good": {"type": "webhook", "url": good.url},
            "bad": {"type": "webhook", "url": bad.url, "retries": 2, "backoff_s": 0.05},
        },
        "detectors": {"job_failed": {"sinks": ["good", "bad"]}, "sla": {"enabled": False}},
    }
    service, stop, thread = run_service(kafka_settings, prefix, rules, unique)

    publish(kafka_settings, prefix, [sample.models_failed(final=True)])
    settled = wait_for(lambda: service.counters.dead_lettered >= 1)
    stop.set()
    thread.join(15)

    dlq = ManualCommitConsumer(kafka_settings, group_id=f"dlq-{unique}")
    dlq.subscribe([f"{prefix}custody.dlq"])
    letter = None
    deadline = time.monotonic() + 20
    while letter is None and time.monotonic() < deadline:
        letter = dlq.poll(0.5)
    dlq.close()

    assert settled
    assert len(good.calls) == 1
    assert len(bad.calls) == 3
    assert letter is not None
    dead = decode(letter.value())
    assert dead.data.error_type == "SinkError"
    assert "sink bad" in dead.data.reason
    assert "HTTP 500" in dead.data.reason
    assert json.loads(base64.b64decode(dead.data.value_b64))["rule"] == "job-failed"
