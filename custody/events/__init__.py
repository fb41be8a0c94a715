"""Event contracts: CloudEvents 1.0 envelopes around strict pydantic payloads."""

from custody.events.catalog import BY_TYPE, EVENT_CLASSES, event_type_names, make_event
from custody.events.codec import CONTENT_TYPE, InvalidEvent, decode, encode
from custody.events.envelope import CloudEvent

__all__ = [
    "BY_TYPE",
    "CONTENT_TYPE",
    "EVENT_CLASSES",
    "CloudEvent",
    "InvalidEvent",
    "decode",
    "encode",
    "event_type_names",
    "make_event",
]
