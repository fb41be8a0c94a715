"""Encode events to structured-mode CloudEvents JSON and decode them back, strictly."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from custody.errors import ValidationFailed
from custody.events.catalog import BY_TYPE
from custody.events.envelope import CloudEvent

CONTENT_TYPE = "application/cloudevents+json"
_SHOWN_VALUE_CHARS = 80


class InvalidEvent(ValidationFailed):
    """A record is not a valid Custody event; the message names the field and the value."""

    def __init__(self, message: str, *, event_type: str | None = None, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.event_type = event_type
        self.fields = fields or []


def encode(event: CloudEvent) -> bytes:
    """Return the event as UTF-8 JSON bytes."""
    return event.model_dump_json().encode()


def decode(raw: bytes | str) -> CloudEvent:
    """Parse and validate one event; raise InvalidEvent naming each bad field and its value."""
    document = _parse_json(raw)
    event_type = document.get("type")
    if not isinstance(event_type, str) or event_type not in BY_TYPE:
        known = ", ".join(sorted(BY_TYPE))
        raise InvalidEvent(
            f"field 'type': unknown event type {_show(event_type)}; expected one of {known}",
            event_type=None,
            fields=["type"],
        )

    event_class = BY_TYPE[event_type]
    try:
        return event_class.model_validate_json(raw)
    except ValidationError as exc:
        raise InvalidEvent(describe_errors(exc, event_type), event_type=event_type, fields=_fields(exc)) from None


def describe_errors(exc: ValidationError, subject: str) -> str:
    """Return one line per validation error: the dotted field, the problem and the value."""
    problems = [
        f"field '{_dotted(error['loc'])}': {error['msg']} (value {_show(error.get('input'))})"
        for error in exc.errors(include_url=False)
    ]
    return f"invalid {subject}: " + "; ".join(problems)


def _parse_json(raw: bytes | str) -> dict[str, Any]:
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidEvent(f"record is not JSON ({exc}); starts with {_show(raw)}") from None
    if not isinstance(document, dict):
        raise InvalidEvent(f"record is JSON but not an object; value {_show(document)}")
    return document


def _fields(exc: ValidationError) -> list[str]:
    return [_dotted(error["loc"]) for error in exc.errors(include_url=False)]


def _dotted(location: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in location) or "(root)"


def _show(value: Any) -> str:
    # Payloads are untrusted and may be large, so only a prefix is echoed back.
    text = repr(value)
    if len(text) > _SHOWN_VALUE_CHARS:
        return text[:_SHOWN_VALUE_CHARS] + "...'"
    return text
