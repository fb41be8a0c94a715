"""Parsing S3 event notifications: key decoding, test events, invalid records, event kinds."""

from __future__ import annotations

import json

import pytest

from producers.notifications import InvalidNotification, decode_key, parse_message, sequencer_value


def record(key: str, *, event: str = "ObjectCreated:Put", version_id=None, etag='"abc"', sequencer="0A", bucket="acme-raw") -> dict:
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventTime": "2026-05-01T10:00:00.000Z",
        "eventName": event,
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "s3": {
            "bucket": {"name": bucket},
            "object": {"key": key, "size": 3, "eTag": etag, "versionId": version_id, "sequencer": sequencer},
        },
    }


def message(*records: dict, **top) -> bytes:
    return json.dumps({"Records": list(records), **top}).encode()


URL_ENCODED_KEYS = [
    ("raw/2024+Q1/r%C3%A9sum%C3%A9%2Bfinal.csv", "raw/2024 Q1/résumé+final.csv"),
    ("raw%2F2024+Q1%2Fr%C3%A9sum%C3%A9%2Bfinal.csv", "raw/2024 Q1/résumé+final.csv"),
    ("data/a+b.csv", "data/a b.csv"),
    ("data/a%2Bb.csv", "data/a+b.csv"),
    ("data/x%2541.csv", "data/x%41.csv"),
    ("logs/10%3A47%3A07.log", "logs/10:47:07.log"),
    ("deep/a/b/c/d/e/f/g/h/i/j/k.parquet", "deep/a/b/c/d/e/f/g/h/i/j/k.parquet"),
    ("%E6%95%B0%E6%8D%AE/%F0%9F%93%88.csv", "数据/📈.csv"),
]


@pytest.mark.parametrize(("encoded", "expected"), URL_ENCODED_KEYS)
def test_url_keys_decoded_once(encoded: str, expected: str):
    parsed = parse_message(message(record(encoded)), key_encoding="url", source_id="t")

    assert parsed.notifications[0].key == expected


@pytest.mark.parametrize("key", ["data/a+b.csv", "data/x%41.csv", "raw/2024 Q1/résumé+final.csv", "a%2Fb"])
def test_raw_keys_kept_as_sent(key: str):
    parsed = parse_message(message(record(key)), key_encoding="raw", source_id="t")

    assert parsed.notifications[0].key == key


def test_invalid_utf8_escape_rejected():
    with pytest.raises(InvalidNotification, match="not valid form-encoded UTF-8"):
        decode_key("data/%C3%28.csv", "url")


def test_top_level_key_is_not_object_key():
    document = message(record("data/a%2Bb.csv"), Key="acme-raw/data/a+b.csv", EventName="s3:ObjectCreated:Put")

    parsed = parse_message(document, key_encoding="url", source_id="t")

    assert parsed.notifications[0].key == "data/a+b.csv"
    assert parsed.notifications[0].bucket == "acme-raw"


def test_test_event_has_no_notifications():
    body = json.dumps(
        {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-05-01T09:59:58.000Z", "Bucket": "acme-raw", "RequestId": "R", "HostId": "H"}
    )

    parsed = parse_message(body.encode(), key_encoding="url", source_id="t")

    assert parsed.test_event
    assert parsed.notifications == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"hello", "not JSON"),
        (b"", "no value"),
        (None, "no value"),
        (b"[1, 2]", "not an object"),
        (b'{"Bucket": "x"}', "no 'Records'"),
        (b'{"Records": {"a": 1}}', "must be a list"),
        (message({"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {}}}), "s3.object.key"),
        (message({"s3": {"bucket": {"name": "b"}, "object": {"key": "k"}}}), "eventName"),
        (message(record("k", bucket="")), "s3.bucket.name"),
    ],
)
def test_invalid_messages_name_the_problem(body, reason: str):
    with pytest.raises(InvalidNotification, match=reason):
        parse_message(body, key_encoding="url", source_id="t")


def test_partly_invalid_message_keeps_good_records():
    parsed = parse_message(message(record("good.csv"), {"eventName": "ObjectCreated:Put"}), key_encoding="url", source_id="kafka:t/0/5")

    assert [n.key for n in parsed.notifications] == ["good.csv"]
    assert parsed.notifications[0].notification_id == "kafka:t/0/5#0"
    assert len(parsed.problems) == 1
    assert parsed.problems[0].startswith("record 1:")


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        ("ObjectCreated:Put", "created"),
        ("s3:ObjectCreated:Post", "created"),
        ("ObjectCreated:Copy", "created"),
        ("s3:ObjectCreated:CompleteMultipartUpload", "created"),
        ("ObjectRemoved:Delete", "removed"),
        ("s3:ObjectRemoved:DeleteMarkerCreated", "removed"),
        ("s3:ObjectRemoved:DeleteObjects", "removed"),
        ("s3:ObjectTagging:Put", "other"),
        ("s3:ObjectRestore:Completed", "other"),
    ],
)
def test_event_names_map_to_kinds(event: str, kind: str):
    parsed = parse_message(message(record("k", event=event)), key_encoding="url", source_id="t")

    assert parsed.notifications[0].kind == kind


def test_delete_marker_event_is_flagged():
    parsed = parse_message(message(record("k", event="ObjectRemoved:DeleteMarkerCreated", version_id="dm1")), key_encoding="url", source_id="t")

    assert parsed.notifications[0].marks_deletion
    assert parsed.notifications[0].version_id == "dm1"


def test_versity_record_fields():
    versity = record("a+b é.csv", version_id=None, sequencer="1F")
    versity["userIdentity"] = {"PrincipalId": "custody"}
    versity["s3"]["object"]["eTag"] = None

    notification = parse_message(message(versity), key_encoding="raw", source_id="t").notifications[0]

    assert notification.principal == "custody"
    assert notification.etag is None
    assert notification.version_id is None
    assert notification.event_time is not None


@pytest.mark.parametrize(("sequencer", "value"), [("0A", 10), ("00000000000000000A", 10), ("1F", 31), (None, -1), ("zz", -1)])
def test_sequencer_compares_as_number(sequencer, value: int):
    assert sequencer_value(sequencer) == value


def test_same_record_twice_has_same_identity():
    first = parse_message(message(record("k", sequencer="05")), key_encoding="url", source_id="kafka:t/0/1").notifications[0]
    again = parse_message(message(record("k", sequencer="05")), key_encoding="url", source_id="kafka:t/2/9").notifications[0]

    assert first.identity() == again.identity()
    assert first.notification_id != again.notification_id
