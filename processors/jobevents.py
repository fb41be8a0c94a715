"""Job lifecycle events, each with an id derived from the job id and the attempt."""

from __future__ import annotations

from custody.events import CloudEvent
from custody.events.envelope import utc_now
from custody.events.models import CodeIdentity, JobFailed, JobScheduled, JobStarted, JobSucceeded
from processors.executors.base import JobRequest
from processors.publishing import build_event, derived_id


def scheduled_event_id(job_id: str) -> str:
    """Return the id of a job's JobScheduled event."""
    return derived_id("job", job_id, "scheduled")


def scheduled(request: JobRequest, *, decision_id: str) -> CloudEvent:
    """Return the JobScheduled event of a request; it is caused by the trigger decision."""
    data = JobScheduled(
        job_id=request.job_id,
        pipeline=request.pipeline,
        pipeline_version=request.pipeline_version,
        executor=request.executor,
        inputs=request.input_commits,
        output_repo=request.output_repo,
        service_account=request.agent,
        attempt=1,
        requested_by=request.requested_by,
        rerun_reason=request.rerun_reason,
    )
    return build_event(data, event_id=request.scheduled_event_id, subject=request.job_id, causationid=decision_id)


def started(request: JobRequest, *, attempt: int, runner: str) -> CloudEvent:
    """Return the JobStarted event of one attempt."""
    data = JobStarted(job_id=request.job_id, attempt=attempt, started_at=utc_now(), runner=runner)
    return _job_event(request, data, attempt, "started")


def succeeded(
    request: JobRequest, *, attempt: int, duration_s: float, output_commit_id: str | None, code: CodeIdentity, log_tail: str
) -> CloudEvent:
    """Return the JobSucceeded event of the attempt that committed the outputs."""
    data = JobSucceeded(
        job_id=request.job_id,
        attempt=attempt,
        finished_at=utc_now(),
        duration_s=max(0.0, duration_s),
        output_commit_id=output_commit_id,
        code=code,
        log_tail=log_tail,
    )
    return _job_event(request, data, attempt, "succeeded")


def failed(
    request: JobRequest,
    *,
    attempt: int,
    reason: str,
    final: bool,
    duration_s: float | None = None,
    exit_code: int | None = None,
    code: CodeIdentity | None = None,
    log_tail: str = "",
) -> CloudEvent:
    """Return the JobFailed event of one attempt; `final` is True when no retry follows."""
    data = JobFailed(
        job_id=request.job_id,
        attempt=attempt,
        finished_at=utc_now(),
        duration_s=None if duration_s is None else max(0.0, duration_s),
        exit_code=exit_code,
        reason=reason[:2000],
        final=final,
        code=code,
        log_tail=log_tail,
    )
    return _job_event(request, data, attempt, "failed")


def _job_event(request: JobRequest, data, attempt: int, name: str) -> CloudEvent:
    event_id = derived_id("job", request.job_id, str(attempt), name)
    return build_event(data, event_id=event_id, subject=request.job_id, causationid=request.scheduled_event_id)
