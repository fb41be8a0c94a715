"""The webhook service: AWS notification JSON posted over HTTP on 127.0.0.1."""

from __future__ import annotations

import hashlib
import time

import httpx

from custody.settings import Settings
from producers.settings import ProducerSettings
from producers.webhook import WebhookService
from tests.integration.producers.conftest import aws_record, commits, notification_bytes, register, running, stop_signal

FAST = ProducerSettings(retry_delay_s=0.2, registry_refresh_s=1.0)


def wait_until_listening(url: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"webhook at {url} did not answer within 10 s")


def test_webhook_commits_dedupes_and_dead_letters(settings: Settings, s3, bucket: str, readers):
    register(settings, "hooked", bucket)
    put = s3.put_object(Bucket=bucket, Key="in/a b+c.csv", Body=b"webhook bytes")
    record = notification_bytes(aws_record(bucket, "in/a+b%2Bc.csv", version_id=put["VersionId"], etag=put["ETag"], size=13))
    commit_reader = readers("custody.data.commits")
    dlq_reader = readers("custody.dlq")
    service = WebhookService(settings, FAST, stop=stop_signal(), port=0, key_encoding="url")
    host, port = service.address
    url = f"http://{host}:{port}"

    with running(service):
        wait_until_listening(url)
        first = httpx.post(f"{url}/s3-events", content=record, timeout=30)
        again = httpx.post(f"{url}/s3-events", content=record, timeout=30)
        garbage = httpx.post(f"{url}/s3-events", content=b"hello", timeout=30)
        test_event = httpx.post(f"{url}/s3-events", content=b'{"Event":"s3:TestEvent","Bucket":"b"}', timeout=30)
        events = commits(commit_reader.read(until=lambda e: len(commits(e)) >= 1, settle_s=1.0))
        letters = dlq_reader.read(until=lambda e: len(e) >= 1)

    assert host == "127.0.0.1"
    assert first.status_code == 200, first.text
    assert again.status_code == 200
    assert garbage.status_code == 400
    assert "not JSON" in garbage.json()["error"]
    assert test_event.status_code == 200
    assert len(events) == 1
    [file] = events[0].data.files
    assert (file.path, file.sha256) == ("in/a b+c.csv", hashlib.sha256(b"webhook bytes").hexdigest())
    assert events[0].data.origin.via == "webhook"
    assert len(letters) == 1
    assert letters[0].data.source_topic == f"webhook:{url}/s3-events"
    assert letters[0].data.service == "producers-webhook"
