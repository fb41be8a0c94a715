"""The bucket watcher (backfill, removals, unversioned buckets) and the reconciler (notification gaps)."""

from __future__ import annotations

import hashlib
import time

from confluent_kafka import Producer

from custody.events.models import Agent, RepoRegistered
from custody.repos import RepoRegistry
from custody.settings import Settings
from producers.s3_events import S3EventsService
from producers.settings import ProducerSettings
from producers.watching import BucketWatcher
from tests.integration.producers.conftest import aws_record, commits, notification_bytes, register, removals, running, stop_signal

FAST = ProducerSettings(retry_delay_s=0.2, registry_refresh_s=1.0)


def poll(settings: Settings, *, reconcile: bool, grace_s: float = 0.0) -> BucketWatcher:
    watcher = BucketWatcher(settings, FAST, stop=stop_signal(), reconcile=reconcile, grace_s=grace_s)
    watcher.poll_once()
    watcher.context.close()
    return watcher


def test_first_poll_backfills_then_nothing(settings: Settings, s3, bucket: str, readers):
    bodies = {f"old/{i}.csv": f"{i}".encode() for i in range(3)}
    for key, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    s3.put_object(Bucket=bucket, Key="other/ignored.csv", Body=b"x")
    register(settings, "old", bucket, prefix="old/")
    reader = readers("custody.data.commits")

    first = poll(settings, reconcile=False)
    second = poll(settings, reconcile=False)
    events = commits(reader.read(until=lambda e: len(commits(e)) >= 3, settle_s=1.0))

    assert first.counters["commits"] == 3
    assert second.counters["commits"] == 0
    assert {f.path: f.sha256 for e in events for f in e.data.files} == {
        key.removeprefix("old/"): hashlib.sha256(body).hexdigest() for key, body in bodies.items()
    }
    assert all(e.data.origin.via == "watcher" for e in events)
    assert s3.head_object(Bucket=bucket, Key="old/.custody/watcher.json")["ContentLength"] > 0


def test_watcher_records_removal_once(settings: Settings, s3, bucket: str, readers):
    register(settings, "gone", bucket)
    s3.put_object(Bucket=bucket, Key="doomed.csv", Body=b"soon deleted")
    poll(settings, reconcile=False)
    marker = s3.delete_object(Bucket=bucket, Key="doomed.csv")
    reader = readers("custody.data.commits")

    poll(settings, reconcile=False)
    poll(settings, reconcile=False)
    events = reader.read(until=lambda e: len(removals(e)) >= 1, settle_s=1.0)

    [removed] = removals(events)
    assert (removed.data.path, removed.data.version_id, removed.data.delete_marker) == ("doomed.csv", marker["VersionId"], True)
    assert removed.data.via == "watcher"
    assert len(commits(events)) == 1


def test_unversioned_bucket_listed_with_list_objects(settings: Settings, s3, unique: str, readers):
    plain = f"plain-{unique}"
    s3.create_bucket(Bucket=plain)
    s3.put_object(Bucket=plain, Key="a.csv", Body=b"unversioned")
    RepoRegistry(settings).create(RepoRegistered(name="plain", bucket=plain, registered_by=Agent(kind="person", name="alice")))
    reader = readers("custody.data.commits")

    poll(settings, reconcile=False)
    again = poll(settings, reconcile=False)
    events = commits(reader.read(until=lambda e: len(commits(e)) >= 1, settle_s=1.0))

    assert len(events) == 1
    [file] = events[0].data.files
    assert file.version_id is None
    assert file.etag
    assert again.counters["commits"] == 0


def test_dropped_notification_reported_as_gap(settings: Settings, s3, bucket: str, readers, unique: str):
    register(settings, "raw", bucket)
    grace_s = 1.0
    poll(settings, reconcile=True, grace_s=grace_s)
    puts = {key: s3.put_object(Bucket=bucket, Key=key, Body=key.encode()) for key in ("a.csv", "b.csv", "dropped.csv")}
    source_topic = settings.topic_prefix + "custody.storage.s3-events"
    producer = Producer(settings.kafka.client_config())
    for key in ("a.csv", "b.csv"):
        producer.produce(source_topic, notification_bytes(aws_record(bucket, key, version_id=puts[key]["VersionId"], etag=puts[key]["ETag"])))
    producer.flush(10)
    commit_reader = readers("custody.data.commits")
    alert_reader = readers("custody.alerts")
    service = S3EventsService(settings, FAST, stop=stop_signal(), source_topic=source_topic, group_id=f"gap-{unique}", key_encoding="url")

    with running(service):
        commit_reader.read(until=lambda e: len(commits(e)) >= 2)
        time.sleep(grace_s)
        reconciler = poll(settings, reconcile=True, grace_s=grace_s)
        events = commits(commit_reader.read(until=lambda e: len(commits(e)) >= 3, settle_s=1.0))
        alerts = alert_reader.read(until=lambda e: len(e) >= 1, settle_s=1.0)

    by_path = {e.data.files[0].path: e for e in events}
    assert sorted(by_path) == ["a.csv", "b.csv", "dropped.csv"]
    assert by_path["a.csv"].data.origin.via == "s3-notification"
    assert by_path["dropped.csv"].data.origin.via == "reconciler"
    assert reconciler.counters["gaps"] == 1
    [alert] = alerts
    assert alert.data.rule == "notification-gap"
    assert alert.data.details["path"] == "dropped.csv"
    assert alert.data.details["version_id"] == puts["dropped.csv"]["VersionId"]
    assert alert.data.event_ids == [by_path["dropped.csv"].id]
    assert alert.causationid == by_path["dropped.csv"].id
