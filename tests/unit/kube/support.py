"""Job requests for the Kubernetes tests, unit and integration alike."""

from __future__ import annotations

import hashlib
from typing import Any

from custody.events.models import FileVersion
from processors.executors.base import JobRequest
from processors.requests import CommitSummary
from processors.spec import RetryPolicy, Transform


def sha(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def make_request(
    *,
    pipeline: str = "train-model",
    seed: str = "1",
    repo: str = "Train_Model.V2",
    output_repo: str = "model-artifacts",
    retries: int = 0,
    timeout_s: float = 600.0,
    service_account: str = "custody-runner",
    **transform: Any,
) -> JobRequest:
    """Return a request for one job over one commit of `repo`; `seed` makes the job id."""
    commit = CommitSummary(
        repo=repo,
        bucket="raw",
        prefix="cohort/",
        commit_id=sha("commit" + seed),
        labels=["health"],
        files=[FileVersion(path="scan-1.dcm", size=3, sha256=sha("scan" + seed))],
        event_id="event-" + seed,
    )
    return JobRequest(
        job_id=sha("job" + seed + pipeline),
        pipeline=pipeline,
        pipeline_version=sha("version" + pipeline),
        executor="kubernetes",
        transform=Transform(image=transform.pop("image", "registry.example/train:1.0"), command=transform.pop("command", ["python", "train.py"]), **transform),
        inputs=[commit],
        output_repo=output_repo,
        retries=RetryPolicy(count=retries),
        timeout_s=timeout_s,
        service_account=service_account,
        scheduled_event_id="scheduled-" + seed,
    )
