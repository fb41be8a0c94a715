"""The notification service against the real Kafka and S3 server, with the gateway's and hand-made notifications."""

from __future__ import annotations

import hashlib
import io
import time

from boto3.s3.transfer import TransferConfig
from confluent_kafka import Producer

from custody.events import decode
from custody.kafka import ensure_topics
from custody.settings import Settings
from producers.s3_events import S3EventsService
from producers.settings import ProducerSettings
from producers.watching import BucketWatcher
from tests.integration.producers.conftest import (
    GATEWAY_TOPIC,
    EventReader,
    aws_record,
    commits,
    committed_offsets,
    end_offsets,
    notification_bytes,
    register,
    removals,
    running,
    start_group_at_end,
    stop_signal,
)

FAST = ProducerSettings(retry_delay_s=0.2, registry_refresh_s=1.0)


def gateway_service(settings: Settings, unique: str, **overrides) -> S3EventsService:
    """A service reading the gateway's own topic from its current end, with raw keys as the gateway sends them."""
    group = f"test-{unique}"
    start_group_at_end(settings.kafka, GATEWAY_TOPIC, group)
    return S3EventsService(settings, FAST, stop=stop_signal(), source_topic=GATEWAY_TOPIC, group_id=group, key_encoding="raw", **overrides)


def wait_for(condition, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.2)


def test_gateway_put_gives_one_commit_and_watcher_agrees(settings: Settings, s3, bucket: str, readers, unique: str, kafka_settings, s3_settings):
    register(settings, "raw", bucket)
    key = "raw/2024 Q1/a+b é.csv"
    body = b"id,value\n1,2\n"
    reader = readers("custody.data.commits")
    service = gateway_service(settings, unique)

    with running(service):
        service.assigned.wait(30)
        put = s3.put_object(Bucket=bucket, Key=key, Body=body)
        events = commits(reader.read(until=lambda e: len(commits(e)) >= 1, settle_s=2.0))
        reconciler = BucketWatcher(settings, FAST, stop=stop_signal(), reconcile=True, grace_s=0)
        reconciler.poll_once()
        reconciler.context.close()
    events = commits(reader.read(settle_s=1.0))

    assert len(events) == 1
    [file] = events[0].data.files
    assert (file.path, file.sha256, file.version_id) == (key, hashlib.sha256(body).hexdigest(), put["VersionId"])
    assert events[0].data.origin.via == "s3-notification"
    assert events[0].data.origin.notification_ids[0].startswith(f"kafka:{GATEWAY_TOPIC}/")
    assert reconciler.counters["commits"] == 0
    assert reconciler.counters["gaps"] == 0

    # The same upload seen only by a watcher, in a separate deployment, gives the same commit.
    other = Settings(topic_prefix=f"{settings.topic_prefix}watch.", kafka=kafka_settings, s3=s3_settings)
    ensure_topics(other.kafka, prefix=other.topic_prefix)
    other_bucket = f"{bucket}-w"
    s3.create_bucket(Bucket=other_bucket)
    s3.put_bucket_versioning(Bucket=other_bucket, VersioningConfiguration={"Status": "Enabled"})
    register(other, "raw", other_bucket)
    s3.put_object(Bucket=other_bucket, Key=key, Body=body)
    watcher = BucketWatcher(other, FAST, stop=stop_signal(), reconcile=False)
    watcher.poll_once()
    watcher.context.close()
    watched_reader = EventReader(other.kafka, other.topic_prefix + "custody.data.commits")
    watched = commits(watched_reader.read(until=lambda e: len(commits(e)) >= 1, settle_s=1.0))
    watched_reader.close()

    assert len(watched) == 1
    assert watched[0].data.origin.via == "watcher"
    assert watched[0].data.commit_id == events[0].data.commit_id
    assert [(f.path, f.size, f.sha256) for f in watched[0].data.files] == [(file.path, file.size, file.sha256)]


def test_notification_table(settings: Settings, s3, bucket: str, readers, unique: str):
    """Hand-made AWS records (form-encoded keys) for real objects, sent in one burst to one partition."""
    register(settings, "raw", bucket)
    source_topic = settings.topic_prefix + "custody.storage.s3-events"
    group = f"table-{unique}"

    # Keys as stored, and as AWS or MinIO would encode them in a notification.
    keyed_objects = {
        "raw/2024 Q1/résumé+final.csv": "raw/2024+Q1/r%C3%A9sum%C3%A9%2Bfinal.csv",
        "deep/a/b/c/d/e/f/g/h.csv": "deep%2Fa%2Fb%2Fc%2Fd%2Fe%2Ff%2Fg%2Fh.csv",
        "data/a+b.csv": "data/a%2Bb.csv",
        "data/a b.csv": "data/a+b.csv",
        "data/x%41.csv": "data/x%2541.csv",
        "logs/10:47:07.log": "logs/10%3A47%3A07.log",
        "empty.bin": "empty.bin",
    }
    bodies = {key: (b"" if key == "empty.bin" else f"bytes of {key}".encode()) for key in keyed_objects}
    puts = {key: s3.put_object(Bucket=bucket, Key=key, Body=body) for key, body in bodies.items()}

    multipart_body = b"m" * (5 * 1024 * 1024) + b"tail"
    s3.upload_fileobj(io.BytesIO(multipart_body), bucket, "big/multi.bin", Config=TransferConfig(multipart_threshold=5 * 1024 * 1024))
    multipart_version = s3.head_object(Bucket=bucket, Key="big/multi.bin")["VersionId"]

    ordered_put = s3.put_object(Bucket=bucket, Key="order.csv", Body=b"before delete")
    marker = s3.delete_object(Bucket=bucket, Key="order.csv")

    records = [
        notification_bytes(aws_record(bucket, encoded, version_id=puts[key]["VersionId"], etag=puts[key]["ETag"], size=len(bodies[key]), sequencer=f"{i + 1:02X}"))
        for i, (key, encoded) in enumerate(keyed_objects.items())
    ]
    duplicate = records[0]
    multipart = notification_bytes(aws_record(bucket, "big/multi.bin", event="ObjectCreated:CompleteMultipartUpload", version_id=multipart_version, sequencer="20"))
    delete_first = notification_bytes(aws_record(bucket, "order.csv", event="ObjectRemoved:DeleteMarkerCreated", version_id=marker["VersionId"], sequencer="31"))
    put_second = notification_bytes(aws_record(bucket, "order.csv", version_id=ordered_put["VersionId"], etag=ordered_put["ETag"], size=13, sequencer="30"))
    garbage = b"hello"
    no_key = notification_bytes({"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": bucket}, "object": {}}})
    test_event = b'{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"x","RequestId":"R","HostId":"H"}'
    stream = [test_event, *records, duplicate, multipart, delete_first, garbage, put_second, no_key]

    producer = Producer({**settings.kafka.client_config()})
    for value in stream:
        producer.produce(source_topic, value=value, partition=0)
    producer.flush(10)
    ends = end_offsets(settings.kafka, source_topic)
    commit_reader = readers("custody.data.commits")
    dlq_reader = readers("custody.dlq")
    service = S3EventsService(settings, FAST, stop=stop_signal(), source_topic=source_topic, group_id=group, key_encoding="url")

    with running(service):
        expected_commits = len(keyed_objects) + 2
        events = commit_reader.read(until=lambda e: len(commits(e)) >= expected_commits and len(removals(e)) >= 1, settle_s=2.0)
        dlq_reader.read(until=lambda e: len(e) >= 2)
        wait_for(lambda: committed_offsets(settings.kafka, source_topic, group).get(0) == ends[0])
    offsets = committed_offsets(settings.kafka, source_topic, group)

    by_path = {}
    for event in commits(events):
        for file in event.data.files:
            by_path.setdefault(file.path, []).append(file)
    expected_paths = set(keyed_objects) | {"big/multi.bin", "order.csv"}
    assert set(by_path) == expected_paths
    assert all(len(files) == 1 for files in by_path.values()), "an object was committed twice"
    for key, body in bodies.items():
        assert by_path[key][0].sha256 == hashlib.sha256(body).hexdigest()
        assert by_path[key][0].version_id == puts[key]["VersionId"]
    assert by_path["empty.bin"][0].size == 0
    assert by_path["big/multi.bin"][0].sha256 == hashlib.sha256(multipart_body).hexdigest()
    assert by_path["big/multi.bin"][0].size == len(multipart_body)

    [removed] = removals(events)
    assert (removed.data.path, removed.data.version_id, removed.data.delete_marker) == ("order.csv", marker["VersionId"], True)
    order = [f"removed:{e.data.path}" if e.type.endswith("removed.v1") else f"committed:{e.data.files[0].path}" for e in events]
    assert order.index("removed:order.csv") > order.index("committed:order.csv")

    reasons = {decode(letter.value()).data.offset: decode(letter.value()).data.reason for letter in dlq_reader.messages}
    assert stream.index(garbage) in reasons
    assert "not JSON" in reasons[stream.index(garbage)]
    assert "s3.object.key" in reasons[stream.index(no_key)]
    assert service.counters["test events"] == 1
    assert service.counters["duplicates"] >= 1
    assert offsets[0] == ends[0]


def test_test_event_put_and_garbage(settings: Settings, s3, bucket: str, readers, unique: str):
    """A test message, then a real upload's notification, then plain `hello` on the same topic."""
    register(settings, "acme-raw", bucket)
    source_topic = settings.topic_prefix + "custody.storage.s3-events"
    put = s3.put_object(Bucket=bucket, Key="raw/a.csv", Body=b"a,b\n")
    stream = [
        b'{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-05-01T09:59:58.000Z","Bucket":"acme-raw","RequestId":"REQ0001","HostId":"HOST0001"}',
        notification_bytes(aws_record(bucket, "raw/a.csv", version_id=put["VersionId"], etag=put["ETag"], size=4)),
        b"hello",
    ]
    producer = Producer(settings.kafka.client_config())
    for value in stream:
        producer.produce(source_topic, value=value, partition=1)
    producer.flush(10)
    group = f"garbage-{unique}"
    ends = end_offsets(settings.kafka, source_topic)
    commit_reader = readers("custody.data.commits")
    dlq_reader = readers("custody.dlq")
    service = S3EventsService(settings, FAST, stop=stop_signal(), source_topic=source_topic, group_id=group, key_encoding="url")

    with running(service):
        events = commits(commit_reader.read(until=lambda e: len(commits(e)) >= 1, settle_s=2.0))
        letters = dlq_reader.read(until=lambda e: len(e) >= 1)
        wait_for(lambda: committed_offsets(settings.kafka, source_topic, group).get(1) == ends[1])
        # The service is still consuming: a later upload is committed too.
        later = s3.put_object(Bucket=bucket, Key="raw/b.csv", Body=b"later")
        producer.produce(source_topic, value=notification_bytes(aws_record(bucket, "raw/b.csv", version_id=later["VersionId"])), partition=1)
        producer.flush(10)
        after = commits(commit_reader.read(until=lambda e: len(commits(e)) >= 2))

    assert [f.path for e in events for f in e.data.files] == ["raw/a.csv"]
    assert len(letters) == 1
    assert letters[0].data.offset == ends[1] - 1
    assert letters[0].data.source_topic == source_topic
    assert "not JSON" in letters[0].data.reason
    assert service.counters["test events"] == 1
    assert [f.path for e in after for f in e.data.files] == ["raw/a.csv", "raw/b.csv"]


def test_marker_grouping_commits_directory(settings: Settings, s3, bucket: str, readers, unique: str):
    register(settings, "runs", bucket, prefix="out/", strategy="marker", marker="_SUCCESS")
    reader = readers("custody.data.commits")
    service = gateway_service(settings, unique)

    with running(service):
        service.assigned.wait(30)
        for index in range(3):
            s3.put_object(Bucket=bucket, Key=f"out/run1/part-{index}.csv", Body=f"{index}".encode())
        s3.put_object(Bucket=bucket, Key="out/run1/_SUCCESS", Body=b"")
        first = commits(reader.read(until=lambda e: len(commits(e)) >= 1, settle_s=2.0))
        s3.put_object(Bucket=bucket, Key="out/run2/part-0.csv", Body=b"x")
        s3.put_object(Bucket=bucket, Key="out/run2/_SUCCESS", Body=b"")
        events = commits(reader.read(until=lambda e: len(commits(e)) >= 2, settle_s=2.0))

    assert len(first) == 1
    assert sorted(f.path for f in first[0].data.files) == ["run1/_SUCCESS", "run1/part-0.csv", "run1/part-1.csv", "run1/part-2.csv"]
    assert len(events) == 2
    assert sorted(f.path for f in events[1].data.files) == ["run2/_SUCCESS", "run2/part-0.csv"]
    assert events[1].data.parent_id == events[0].data.commit_id


def test_quiet_window_groups_burst(settings: Settings, s3, bucket: str, readers, unique: str):
    register(settings, "burst", bucket, strategy="quiet-window", quiet_window_s=1.5)
    reader = readers("custody.data.commits")
    service = gateway_service(settings, unique)

    with running(service):
        service.assigned.wait(30)
        for index in range(5):
            s3.put_object(Bucket=bucket, Key=f"batch/{index}.csv", Body=f"{index}".encode())
        s3.put_object(Bucket=bucket, Key="batch/0.csv", Body=b"rewritten")
        events = commits(reader.read(until=lambda e: len(commits(e)) >= 1, settle_s=3.0))
        reconciler = BucketWatcher(settings, FAST, stop=stop_signal(), reconcile=True, grace_s=0)
        reconciler.poll_once()
        reconciler.context.close()

    assert len(events) == 1
    files = {f.path: f for f in events[0].data.files}
    assert sorted(files) == [f"batch/{i}.csv" for i in range(5)]
    assert files["batch/0.csv"].sha256 == hashlib.sha256(b"rewritten").hexdigest()
    assert len(events[0].data.origin.notification_ids) == 6
    assert reconciler.counters["gaps"] == 0
    assert reconciler.counters["commits"] == 0


def test_explicit_commit_not_committed_again_by_notifications(settings: Settings, s3, bucket: str, readers, unique: str, tmp_path):
    from custody.events.models import UploadOrigin
    from custody.repos import commit_files
    from tests.integration.producers.conftest import ALICE

    register(settings, "mixed", bucket)
    source = tmp_path / "upload"
    source.mkdir()
    for index in range(3):
        (source / f"{index}.csv").write_bytes(f"{index}".encode())
    reader = readers("custody.data.commits")
    service = gateway_service(settings, unique)

    with running(service):
        service.assigned.wait(30)
        result = commit_files(settings, "mixed", [source], author=ALICE, origin=UploadOrigin(via="api"))
        wait_for(lambda: service.counters["explicit commit uploads"] + service.counters["duplicates"] >= 3)
        reconciler = BucketWatcher(settings, FAST, stop=stop_signal(), reconcile=True, grace_s=0)
        reconciler.poll_once()
        reconciler.context.close()
        events = commits(reader.read(until=lambda e: len(commits(e)) >= 1, settle_s=2.0))

    assert [e.data.commit_id for e in events] == [result.commit_id]
    assert service.counters["commits"] == 0
    assert reconciler.counters["commits"] == 0
    assert reconciler.counters["gaps"] == 0
