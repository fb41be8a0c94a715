"""Event documents shared by the alert tests."""

from __future__ import annotations

from datetime import datetime, timezone

from custody.events import make_event
from custody.events import models

NOW = datetime(2026, 5, 1, 10, 0, tzinfo=timezone.utc)
ALICE = models.Agent(kind="person", name="alice")
ROBOT = models.Agent(kind="service_account", name="custody-processor")
RAW_COMMIT = "1" * 64
OTHER_COMMIT = "2" * 64


def document(payload) -> dict:
    return make_event(payload, source="/custody/tests").model_dump(mode="json")


def models_pipeline(name: str = "clean", repos: tuple[str, ...] = ("raw",)) -> models.PipelineRegistered:
    return models.PipelineRegistered(
        name=name, version="v1", owner="alice", input_repos=list(repos), output_repo="clean",
        executor="local", spec={}, registered_by=ALICE,
    )


def pipeline(name: str = "clean", repos: tuple[str, ...] = ("raw",)) -> dict:
    return document(models_pipeline(name, repos))


def models_commit(repo: str = "raw", commit_id: str = RAW_COMMIT) -> models.DataCommitted:
    return models.DataCommitted(
        repo=repo, bucket="b", commit_id=commit_id,
        files=[models.FileVersion(path="a.csv", size=1, sha256="3" * 64)],
        author=ALICE, committed_at=NOW, origin=models.UploadOrigin(via="cli"),
    )


def commit(repo: str = "raw", commit_id: str = RAW_COMMIT) -> dict:
    return document(models_commit(repo, commit_id))


def models_scheduled(job_id: str = "job-1", commit_id: str = RAW_COMMIT) -> models.JobScheduled:
    return models.JobScheduled(
        job_id=job_id, pipeline="clean", pipeline_version="v1", executor="local",
        inputs=[models.InputCommit(repo="raw", commit_id=commit_id)], output_repo="clean", service_account=ROBOT,
    )


def scheduled(job_id: str = "job-1", commit_id: str = RAW_COMMIT) -> dict:
    return document(models_scheduled(job_id, commit_id))


def models_started(job_id: str = "job-1") -> models.JobStarted:
    return models.JobStarted(job_id=job_id, attempt=1, started_at=NOW, runner="pid:1")


def started(job_id: str = "job-1") -> dict:
    return document(models_started(job_id))


def models_failed(job_id: str = "job-1", final: bool = True) -> models.JobFailed:
    return models.JobFailed(job_id=job_id, attempt=3, finished_at=NOW, reason="exit code 2", exit_code=2, final=final)


def failed(job_id: str = "job-1", final: bool = True) -> dict:
    return document(models_failed(job_id, final))


def succeeded(job_id: str = "job-1", output: str | None = "4" * 64) -> dict:
    return document(
        models.JobSucceeded(job_id=job_id, attempt=1, finished_at=NOW, duration_s=1.0, output_commit_id=output, code=models.CodeIdentity())
    )


def decision(outcome: str, commit_id: str = RAW_COMMIT, labels: tuple[str, ...] = ()) -> dict:
    return document(
        models.TriggerDecision(
            pipeline="export", pipeline_version="v1", outcome=outcome, reason="because",
            inputs=[models.InputCommit(repo="raw", commit_id=commit_id)], refused_labels=list(labels),
        )
    )
