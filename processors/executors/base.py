"""The executor interface shared by the local executor and the Kubernetes executor.

The trigger hands an executor a `JobRequest` in two steps:

1. `submit(request)` makes the job durable under its id and nothing more. It is
   idempotent: a second submit of the same id returns `created=False` and
   changes nothing, which is how a worker restarted after a crash learns that it
   submitted before. A Kubernetes executor gets this from the 409 AlreadyExists
   of a Job whose name is derived from the job id, and can create the Job
   suspended.
2. `release(job_id)` lets the job run, after `JobScheduled` is on Kafka, so a
   job's `JobStarted` never precedes its `JobScheduled`. Releasing twice is
   harmless. A Kubernetes executor can unsuspend the Job here.

An executor reports each attempt with events built by `processors.jobevents`
and sent through the worker's `EventPublisher`: `JobStarted`, then
`JobSucceeded` or `JobFailed` (with `final`), retrying by the request's
policy. Only a successful attempt commits outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from custody.events.models import Agent, InputCommit
from processors.requests import CommitSummary
from processors.spec import RetryPolicy, Transform

ExecutorKind = Literal["local", "kubernetes"]


class JobRequest(BaseModel):
    """Everything any executor needs to run one job and report it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    job_id: str
    pipeline: str
    pipeline_version: str
    executor: ExecutorKind
    transform: Transform = Field(description="Image, command, args, env, working directory and resources.")
    inputs: list[CommitSummary] = Field(min_length=1, description="Input commits with exactly the files to stage.")
    output_repo: str
    retries: RetryPolicy
    timeout_s: float = Field(gt=0, description="Seconds one attempt may run.")
    service_account: str = Field(description="Kubernetes service account the job runs as; also its lineage agent.")
    scheduled_event_id: str = Field(description="Id of the JobScheduled event; the causation id of every later job event.")
    requested_by: Agent | None = None
    rerun_reason: str | None = None

    @property
    def input_commits(self) -> list[InputCommit]:
        """The inputs as (repo, commit id) pairs."""
        return [InputCommit(repo=commit.repo, commit_id=commit.commit_id) for commit in self.inputs]

    @property
    def agent(self) -> Agent:
        """The service account as a lineage agent."""
        return Agent(kind="service_account", name=self.service_account, acting_for=self.requested_by.agent_id if self.requested_by else None)


@dataclass(frozen=True)
class SubmitResult:
    """Outcome of `Executor.submit`: `created` is False when the job id was submitted before."""

    job_id: str
    created: bool
    where: str


class Executor(Protocol):
    """Runs jobs of one executor kind."""

    kind: ExecutorKind

    async def start(self) -> None:
        """Pick up released jobs that a previous run of this worker did not finish."""

    async def submit(self, request: JobRequest) -> SubmitResult:
        """Make the job durable under its id without running it; idempotent."""

    async def release(self, job_id: str) -> None:
        """Let a submitted job run; idempotent."""

    async def stop(self) -> None:
        """Stop taking work; running attempts are left for the next start to resume."""
