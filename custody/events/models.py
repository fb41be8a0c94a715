"""Payloads (`data`) of every event Custody exchanges.

Each model is strict: unknown fields are rejected and values are not coerced, so
a producer that sends `"size": "12"` learns at once instead of corrupting lineage.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import AwareDatetime, Field, StringConstraints

from custody.events.envelope import StrictModel

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
# Repo names are chosen by users and may hold upper case, `_` and `.`, e.g. `Train_Model.V2`.
RepoName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
# Pipeline names become parts of Kubernetes names, so they are DNS-1123 labels.
PipelineName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=253)]
Label = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")]
NonEmpty = Annotated[str, StringConstraints(min_length=1)]
ObjectPath = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class Agent(StrictModel):
    """A person or a service account that acted on data."""

    kind: Literal["person", "service_account"]
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,254}$")]
    acting_for: str | None = Field(None, description="The person a service account acted for, if known.")

    @property
    def agent_id(self) -> str:
        """Return the stable id used as the graph key, e.g. `person:alice`."""
        return f"{self.kind}:{self.name}"


class Grouping(StrictModel):
    """Strategy that groups storage notifications into commits."""

    strategy: Literal["per-object", "marker", "quiet-window"] = "per-object"
    marker: str = Field("_SUCCESS", min_length=1, description="Marker object name, for the `marker` strategy.")
    quiet_window_s: float = Field(30.0, gt=0, description="Seconds without new objects, for the `quiet-window` strategy.")


class RepoRegistered(StrictModel):
    """A repo, a named data location with labels, was created or changed."""

    name: RepoName
    bucket: NonEmpty
    prefix: str = Field("", description="Key prefix inside the bucket; empty for the whole bucket.")
    labels: list[Label] = Field(default_factory=list)
    grouping: Grouping = Field(default_factory=Grouping)
    registered_by: Agent


class FileVersion(StrictModel):
    """One immutable version of one object, identified by its bytes."""

    path: ObjectPath = Field(description="Object key relative to the repo prefix, already decoded.")
    size: int = Field(ge=0, description="Bytes.")
    sha256: Sha256
    etag: str | None = None
    version_id: str | None = Field(None, description="S3 version id, when the bucket is versioned.")
    content_type: str | None = None


class UploadOrigin(StrictModel):
    """A commit made from data that arrived in storage."""

    kind: Literal["upload"] = "upload"
    via: Literal["cli", "api", "s3-notification", "webhook", "watcher", "reconciler"]
    notification_ids: list[str] = Field(default_factory=list, description="Ids of the storage notifications behind it.")


class JobOrigin(StrictModel):
    """A commit made from the outputs of a job."""

    kind: Literal["job"] = "job"
    job_id: NonEmpty
    pipeline: PipelineName
    pipeline_version: NonEmpty
    input_commits: list[NonEmpty] = Field(min_length=1)


CommitOrigin = Annotated[Union[UploadOrigin, JobOrigin], Field(discriminator="kind")]


class DataCommitted(StrictModel):
    """An immutable, content-addressed set of file versions was committed to a repo."""

    repo: RepoName
    bucket: NonEmpty
    prefix: str = ""
    commit_id: Sha256 = Field(description="Hash of the canonical manifest: repo, parent and file versions.")
    parent_id: Sha256 | None = None
    files: list[FileVersion] = Field(min_length=1)
    author: Agent
    committed_at: AwareDatetime
    message: str = ""
    labels: list[Label] = Field(default_factory=list)
    origin: CommitOrigin
    manifest_key: str | None = Field(None, description="Object key of the commit manifest, when one was written.")


class DataRemoved(StrictModel):
    """An object version was deleted or hidden by a delete marker; removals never trigger pipelines."""

    repo: RepoName
    bucket: NonEmpty
    path: ObjectPath
    version_id: str | None = None
    delete_marker: bool = False
    removed_by: Agent | None = None
    removed_at: AwareDatetime
    via: Literal["cli", "api", "s3-notification", "webhook", "watcher", "reconciler"]


class PipelineRegistered(StrictModel):
    """A pipeline spec version was applied."""

    name: PipelineName
    version: NonEmpty = Field(description="Hash of the normalized spec.")
    owner: NonEmpty
    description: str = ""
    input_repos: list[RepoName] = Field(min_length=1)
    output_repo: RepoName
    clearances: list[Label] = Field(default_factory=list)
    executor: Literal["local", "kubernetes"]
    spec: dict[str, Any] = Field(description="The normalized spec the version was computed from.")
    registered_by: Agent


class PipelineRemoved(StrictModel):
    """A pipeline was deleted; its past versions stay in the lineage graph."""

    name: PipelineName
    removed_by: Agent


class InputCommit(StrictModel):
    """One input of a job: a commit of a repo."""

    repo: RepoName
    commit_id: Sha256


class TriggerDecision(StrictModel):
    """Decision on whether a pipeline starts for a commit, with its reason."""

    pipeline: PipelineName
    pipeline_version: NonEmpty
    outcome: Literal["started", "duplicate", "refused", "no_match"]
    reason: NonEmpty
    inputs: list[InputCommit] = Field(default_factory=list)
    job_id: str | None = None
    refused_labels: list[Label] = Field(default_factory=list)
    requested_by: Agent | None = Field(None, description="Set for a deliberate re-run.")


class JobScheduled(StrictModel):
    """A job was accepted for one pipeline version and one set of input commits."""

    job_id: NonEmpty
    pipeline: PipelineName
    pipeline_version: NonEmpty
    executor: Literal["local", "kubernetes"]
    inputs: list[InputCommit] = Field(min_length=1)
    output_repo: RepoName
    service_account: Agent
    attempt: int = Field(1, ge=1)
    requested_by: Agent | None = Field(None, description="Set for a deliberate re-run.")
    rerun_reason: str | None = None


class JobStarted(StrictModel):
    """A job attempt began to run."""

    job_id: NonEmpty
    attempt: int = Field(ge=1)
    started_at: AwareDatetime
    runner: NonEmpty = Field(description="Where it runs: a local pid or a Kubernetes namespace/name.")


class CodeIdentity(StrictModel):
    """Identity of the code that ran: an image digest, or for local runs a hash of the command and its scripts."""

    image: str | None = None
    image_digest: str | None = None
    code_hash: Sha256 | None = None
    command: list[str] = Field(default_factory=list)
    args: list[str] = Field(default_factory=list)
    parameters: dict[str, str] = Field(default_factory=dict)


class JobSucceeded(StrictModel):
    """A job attempt finished with exit code 0 and its outputs were committed."""

    job_id: NonEmpty
    attempt: int = Field(ge=1)
    finished_at: AwareDatetime
    duration_s: float = Field(ge=0)
    exit_code: Literal[0] = 0
    output_commit_id: Sha256 | None = Field(None, description="None when the job wrote no outputs.")
    code: CodeIdentity
    log_tail: str = ""


class JobFailed(StrictModel):
    """A job attempt failed; `final` is true when no retry follows."""

    job_id: NonEmpty
    attempt: int = Field(ge=1)
    finished_at: AwareDatetime
    duration_s: float | None = Field(None, ge=0)
    exit_code: int | None = None
    reason: NonEmpty
    final: bool
    code: CodeIdentity | None = None
    log_tail: str = ""


class AlertRaised(StrictModel):
    """A rule or detector matched; sinks deliver it at least once, keyed by `dedupe_key`."""

    alert_id: NonEmpty
    rule: NonEmpty
    severity: Literal["info", "warning", "error", "critical"]
    summary: NonEmpty
    dedupe_key: NonEmpty
    subject: str | None = None
    event_ids: list[str] = Field(default_factory=list)
    details: dict[str, str] = Field(default_factory=dict)


class RecordDeadLettered(StrictModel):
    """A record that could not be parsed, validated or processed, with its original bytes."""

    service: NonEmpty
    source_topic: NonEmpty
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)
    key_b64: str | None = Field(None, description="Original key, base64.")
    value_b64: str | None = Field(None, description="Original value, base64.")
    reason: NonEmpty
    error_type: NonEmpty
