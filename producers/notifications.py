"""Parse S3 event notifications (the AWS message format) into object notifications.

AWS, MinIO and Ceph form-encode `Records[].s3.object.key` (space as `+`, other
bytes as `%XX`; MinIO also encodes `/`), while the Versity gateway sends the
key as it is. The encoding is therefore a setting of each source, and the key
is decoded here, exactly once, where notifications enter Custody. A top-level
`Key` that some senders add holds `bucket/key` and is ignored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import unquote_plus

from custody.errors import ValidationFailed

KeyEncoding = Literal["url", "raw"]
Kind = Literal["created", "removed", "other"]

TEST_EVENT = "s3:TestEvent"
_SHOWN_CHARS = 80


class InvalidNotification(ValidationFailed):
    """A record is not an S3 event notification; the message names the record and the problem."""


@dataclass(frozen=True)
class ObjectNotification:
    """One record of an S3 event notification, with its key already decoded."""

    notification_id: str
    event_name: str
    bucket: str
    key: str
    size: int | None = None
    etag: str | None = None
    version_id: str | None = None
    sequencer: str | None = None
    event_time: datetime | None = None
    principal: str | None = None

    @property
    def kind(self) -> Kind:
        """Return `created`, `removed` or `other` from the event name."""
        name = self.event_name.removeprefix("s3:")
        if name.startswith("ObjectCreated:"):
            return "created"
        if name.startswith("ObjectRemoved:"):
            return "removed"
        return "other"

    @property
    def marks_deletion(self) -> bool:
        """Return True for a DeleteMarkerCreated event."""
        return self.event_name.removeprefix("s3:") == "ObjectRemoved:DeleteMarkerCreated"

    def identity(self) -> tuple[str, str, str, str, str]:
        """Return the key under which duplicate deliveries of this notification are recognised."""
        version = self.version_id or self.etag or ""
        return (self.bucket, self.key, self.kind, version, self.sequencer or "")

    def order_key(self) -> tuple[int, str]:
        """Return a sort key: S3 sequencers are hex strings compared as numbers, for one object only."""
        return sequencer_value(self.sequencer), self.notification_id


@dataclass(frozen=True)
class ParsedMessage:
    """The object notifications of one message, and the reasons any of its records were invalid."""

    notifications: list[ObjectNotification]
    test_event: bool = False
    problems: tuple[str, ...] = ()


def sequencer_value(sequencer: str | None) -> int:
    """Return a sequencer as a number; missing or non-hex sequencers sort first."""
    if not sequencer:
        return -1
    try:
        return int(sequencer, 16)
    except ValueError:
        return -1


def decode_key(key: str, encoding: KeyEncoding) -> str:
    """Return the object key of a notification record, decoded once under the source's encoding."""
    if encoding == "raw":
        return key
    try:
        return unquote_plus(key, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise InvalidNotification(f"object key {_show(key)} is not valid form-encoded UTF-8 ({exc.reason})") from None


def parse_message(raw: bytes | str | None, *, key_encoding: KeyEncoding, source_id: str) -> ParsedMessage:
    """Parse one message (a notification document); raise InvalidNotification if nothing in it is usable.

    `source_id` names where the message came from, for example
    `kafka:custody.storage.s3-events/1/42`; record `i` gets the id `<source_id>#<i>`.
    """
    document = _load(raw)
    if "Records" not in document:
        if document.get("Event") == TEST_EVENT:
            return ParsedMessage([], test_event=True)
        raise InvalidNotification(f"notification has no 'Records' and is not an {TEST_EVENT}; keys {sorted(document)[:10]}")

    records = document["Records"]
    if not isinstance(records, list):
        raise InvalidNotification(f"'Records' must be a list, not {type(records).__name__}")

    notifications, problems = [], []
    for index, record in enumerate(records):
        try:
            notifications.append(_parse_record(record, key_encoding=key_encoding, notification_id=f"{source_id}#{index}"))
        except InvalidNotification as exc:
            problems.append(f"record {index}: {exc}")

    if problems and not notifications:
        raise InvalidNotification("; ".join(problems))
    return ParsedMessage(notifications, problems=tuple(problems))


def _load(raw: bytes | str | None) -> dict[str, Any]:
    if raw is None or len(raw) == 0:
        raise InvalidNotification("record has no value")
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidNotification(f"record is not JSON ({exc}); starts with {_show(raw)}") from None
    if not isinstance(document, dict):
        raise InvalidNotification(f"record is JSON but not an object: {_show(document)}")
    return document


def _parse_record(record: Any, *, key_encoding: KeyEncoding, notification_id: str) -> ObjectNotification:
    if not isinstance(record, dict):
        raise InvalidNotification(f"is not an object: {_show(record)}")
    event_name = record.get("eventName")
    s3 = record.get("s3")
    if not isinstance(event_name, str) or not event_name:
        raise InvalidNotification("field 'eventName' is missing")
    if not isinstance(s3, dict):
        raise InvalidNotification("field 's3' is missing")

    bucket = _text(s3.get("bucket"), "name")
    raw_key = _text(s3.get("object"), "key")
    if not bucket:
        raise InvalidNotification("field 's3.bucket.name' is missing")
    if not raw_key:
        raise InvalidNotification("field 's3.object.key' is missing")

    obj = s3["object"]
    return ObjectNotification(
        notification_id=notification_id,
        event_name=event_name,
        bucket=bucket,
        key=decode_key(raw_key, key_encoding),
        size=obj.get("size") if isinstance(obj.get("size"), int) else None,
        etag=_optional_text(obj.get("eTag")),
        version_id=_optional_text(obj.get("versionId")),
        sequencer=_optional_text(obj.get("sequencer")),
        event_time=_time(record.get("eventTime")),
        principal=_principal(record.get("userIdentity")),
    )


def _text(parent: Any, field: str) -> str | None:
    if not isinstance(parent, dict):
        return None
    value = parent.get(field)
    return value if isinstance(value, str) and value else None


def _optional_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _principal(identity: Any) -> str | None:
    # AWS spells it `principalId`, the Versity gateway `PrincipalId`.
    if not isinstance(identity, dict):
        return None
    return _optional_text(identity.get("principalId")) or _optional_text(identity.get("PrincipalId"))


def _show(value: Any) -> str:
    # Payloads are untrusted and may be large, so only a prefix is echoed back.
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "...'"
