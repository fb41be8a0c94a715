"""An event history with every kind of event lineage records, for convergence and rebuild tests.

It extends the two-stage chain with a job that fails once and succeeds on its
second attempt, a repo whose labels change, a pipeline that is removed, a
refused trigger and a file removal. It also announces one commit twice, as two
producers would, and reports the success of a job that was never scheduled.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from custody.commits import compute_commit_id
from custody.events import CloudEvent, make_event
from custody.events import models
from lineage.synthetic import SOURCE, Chain, build_chain, sha256_text

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)


def full_history(tag: str) -> tuple[Chain, list[CloudEvent]]:
    """Return the chain and the whole history in emission order."""
    chain = build_chain(tag=tag)
    events = list(chain.events)
    alice = models.Agent(kind="person", name="alice")
    runner = models.Agent(kind="service_account", name="report-runner", acting_for="dave")
    clock = iter(T0 + timedelta(minutes=minute) for minute in range(1000))

    def emit(data, *, cause: CloudEvent | None = None) -> CloudEvent:
        event = make_event(data, source=SOURCE, causationid=cause.id if cause else None).model_copy(update={"time": next(clock)})
        events.append(event)
        return event

    upload = chain.events[5]
    emit(models.RepoRegistered(name="raw", bucket="acme-raw", prefix="incoming/", labels=["pii", "health"], registered_by=alice))
    emit(upload.data.model_copy(update={"origin": models.UploadOrigin(via="watcher"), "committed_at": upload.data.committed_at + timedelta(seconds=30)}))

    inputs = [models.InputCommit(repo="clean", commit_id=chain.commits[1])]
    decision = emit(models.TriggerDecision(pipeline="report", pipeline_version="r1", outcome="started", reason="new clean commit", inputs=inputs, job_id="j-report"), cause=upload)
    emit(models.TriggerDecision(pipeline="export", pipeline_version="e1", outcome="refused", reason="label pii not cleared", inputs=inputs, refused_labels=["pii"]))
    emit(models.JobScheduled(job_id="j-report", pipeline="report", pipeline_version="r1", executor="kubernetes", inputs=inputs, output_repo="reports", service_account=runner), cause=decision)
    emit(models.JobStarted(job_id="j-report", attempt=1, started_at=next(clock), runner="custody-jobs/j-report-1"))
    emit(models.JobFailed(job_id="j-report", attempt=1, finished_at=next(clock), duration_s=12.5, exit_code=137, reason="OOMKilled", final=False))
    emit(models.JobStarted(job_id="j-report", attempt=2, started_at=next(clock), runner="custody-jobs/j-report-2"))
    report_file = models.FileVersion(path="summary.pdf", size=2048, sha256=sha256_text(f"{tag}:summary"), version_id="v2")
    report_commit = compute_commit_id("reports", None, [report_file])
    code = models.CodeIdentity(image="registry.example/acme/report:1", image_digest="sha256:" + "e" * 64, parameters={"format": "pdf"})
    success = emit(models.JobSucceeded(job_id="j-report", attempt=2, finished_at=next(clock), duration_s=30.0, output_commit_id=report_commit, code=code))
    emit(
        models.DataCommitted(
            repo="reports", bucket="acme-reports", commit_id=report_commit, files=[report_file], author=runner, committed_at=next(clock),
            origin=models.JobOrigin(job_id="j-report", pipeline="report", pipeline_version="r1", input_commits=[chain.commits[1]]),
        ),
        cause=success,
    )
    emit(models.JobSucceeded(job_id="j-orphan", attempt=1, finished_at=next(clock), duration_s=1.0, code=models.CodeIdentity(code_hash="f" * 64)))
    emit(models.DataRemoved(repo="raw", bucket="acme-raw", path="visits.csv", version_id="v1", removed_by=alice, removed_at=next(clock), via="cli"))
    emit(models.PipelineRemoved(name="clean", removed_by=models.Agent(kind="person", name="bob")))
    return chain, events
