"""The CloudEvents 1.0 structured-mode envelope that carries every Custody event.

Custody adds one extension attribute, `causationid`: the `id` of the event that
caused this one (an S3 notification, a commit, a trigger decision), so that an
auditor can walk from any event back to the upload that started the chain.
CloudEvents extension names must be lower-case letters and digits, hence the
spelling.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

DataT = TypeVar("DataT", bound=BaseModel)

# Source URI-references name the emitting component, e.g. `/custody/producers/s3-events`.
SOURCE_PATTERN = r"^/custody/[a-z0-9][a-z0-9/._-]*$"


class StrictModel(BaseModel):
    """Base for every event model: unknown fields are rejected and types are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def new_event_id() -> str:
    """Return a new random event id."""
    return str(uuid.uuid4())


def utc_now() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(timezone.utc)


class CloudEvent(StrictModel, Generic[DataT]):
    """A CloudEvents 1.0 envelope in structured JSON mode whose `data` is a pydantic model."""

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=new_event_id, min_length=1, max_length=200)
    source: str = Field(pattern=SOURCE_PATTERN, description="The component that emitted the event.")
    type: str = Field(description="`io.custody.<noun>.<verb>.v1`.")
    subject: str | None = Field(None, description="The repo, pipeline or job the event is about.")
    time: AwareDatetime = Field(default_factory=utc_now)
    datacontenttype: Literal["application/json"] = "application/json"
    causationid: str | None = Field(None, min_length=1, max_length=200, description="Id of the event that caused this one.")
    data: DataT
