"""Messages on the worker's internal trigger topic, keyed by pipeline name.

Every trigger for one pipeline goes through one partition of this topic, so one
worker at a time decides for that pipeline, in order, and the claims it makes
live in the same partition of the claims table. That is what keeps a job id from
being claimed twice when a cross input is triggered from two repos at once, or
when partitions move between workers.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from custody.events.models import Agent, DataCommitted, FileVersion

TRIGGERS_TOPIC = "custody.processors.triggers"
TRIGGER_PARTITIONS = 3


class CommitSummary(BaseModel):
    """The parts of a DataCommitted event that the trigger uses: identity, location, labels and files."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    repo: str
    bucket: str
    prefix: str = ""
    commit_id: str
    labels: list[str] = Field(default_factory=list)
    files: list[FileVersion]
    event_id: str = Field(description="Id of the DataCommitted event.")

    @classmethod
    def from_event(cls, data: DataCommitted, *, event_id: str) -> CommitSummary:
        """Summarize one DataCommitted payload."""
        return cls(
            repo=data.repo,
            bucket=data.bucket,
            prefix=data.prefix,
            commit_id=data.commit_id,
            labels=list(data.labels),
            files=list(data.files),
            event_id=event_id,
        )


class TriggerRequest(BaseModel):
    """One reason to decide for one pipeline.

    - `commit`: a commit landed in one of the pipeline's input repos.
    - `version`: a pipeline version was applied; run it once on the current heads.
    - `rerun`: a person asked for a deliberate re-run (`nonce` makes a new job id).
    - `resume`: finish announcing a job that was claimed but whose announcement was cut short.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: str
    kind: Literal["commit", "version", "rerun", "resume"]
    pipeline: str
    registration: dict[str, Any] | None = Field(None, description="PipelineRegistered payload the request was made for.")
    registry_offset: int | None = Field(None, description="Offset of the registration on the registry topic.")
    commit: CommitSummary | None = None
    cause_event_id: str | None = Field(None, description="Id of the event or request that caused this one.")
    requested_by: Agent | None = None
    reason: str | None = None
    nonce: str | None = None
    job_id: str | None = None
