"""Synthetic but realistic event sequences, for tests, benchmarks and demonstrations.

A chain starts with a person uploading files to a raw repo. Each stage is one
pipeline version whose job, run by a service account acting for the pipeline's
owner, reads the previous stage's commit and commits its outputs to the next
repo. Every event carries the causation id a real deployment would set: the
decision names the commit event, the job names the decision, the output commit
names the job's success.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from custody.commits import compute_commit_id
from custody.events import CONTENT_TYPE, CloudEvent, encode, make_event
from custody.events import models
from custody.kafka import DurableProducer
from custody.topics import event_key, topic

SOURCE = "/custody/lineage/synthetic"


@dataclass(frozen=True)
class Stage:
    """One pipeline of a chain: its name, output repo, owner and the service account that runs it."""

    pipeline: str
    output_repo: str
    owner: str
    service_account: str
    output_files: tuple[str, ...] = ("part-0000.parquet",)
    image: str = "registry.example/acme/etl:1.4"
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass
class Chain:
    """The events of one chain and the ids a test needs to check them."""

    events: list[CloudEvent] = field(default_factory=list)
    bucket: str = ""
    uploader: str = ""
    upload_commit: str = ""
    upload_files: dict[str, str] = field(default_factory=dict)
    commits: list[str] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)
    plans: list[str] = field(default_factory=list)
    code_digests: list[str] = field(default_factory=list)
    output_files: list[dict[str, str]] = field(default_factory=list)


TWO_STAGES = (
    Stage("clean", "clean", owner="bob", service_account="clean-runner", parameters={"dropna": "true"}),
    Stage("train", "models", owner="carol", service_account="train-runner", output_files=("model.pkl", "metrics.json"), image="registry.example/acme/train:2.0", parameters={"epochs": "20", "seed": "7"}),
)


def publish(producer: DurableProducer, events: Sequence[CloudEvent], *, prefix: str = "") -> None:
    """Queue events on their registry topics; pipeline events also go to the history topic, as the registry sends them.

    The caller flushes the producer.
    """
    history = topic("custody.pipelines.history")
    for event in events:
        producer.send_event(event)
        if event.type in history.event_types:
            headers = [("content-type", CONTENT_TYPE.encode()), ("ce_type", event.type.encode()), ("ce_id", event.id.encode())]
            producer.produce(history.full_name(prefix), encode(event), key=event_key(history, event.data), headers=headers)


def sha256_text(text: str) -> str:
    """Return the hex SHA-256 of a text, standing in for the bytes of a file."""
    return hashlib.sha256(text.encode()).hexdigest()


def job_id_for(plan: str, inputs: Sequence[str]) -> str:
    """Return a job id derived from the pipeline version and its input commits, as the trigger derives it."""
    return "job-" + sha256_text(plan + "|" + ",".join(sorted(inputs)))[:24]


def build_chain(
    *,
    tag: str = "demo",
    uploader: str = "alice",
    raw_repo: str = "raw",
    upload_files: Sequence[str] = ("patients.csv", "visits.csv"),
    stages: Sequence[Stage] = TWO_STAGES,
    start: datetime | None = None,
    extra_inputs: Sequence[models.InputCommit] = (),
    with_registrations: bool = True,
) -> Chain:
    """Return the events of one upload followed by one job per stage, in the order a deployment emits them.

    `tag` goes into file contents, so chains with different tags have different
    commit ids and can share one graph. `extra_inputs` are commits every job
    reads besides the previous stage's output, such as shared reference data.
    """
    clock = _Clock(start or datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))
    chain = Chain(bucket=f"acme-{raw_repo}", uploader=f"person:{uploader}")
    person = models.Agent(kind="person", name=uploader)

    if with_registrations:
        _register_repos(chain, clock, person, raw_repo, stages)
        _register_pipelines(chain, clock, raw_repo, stages)

    files = [_file(name, f"{tag}:{raw_repo}:{name}") for name in upload_files]
    upload = models.DataCommitted(
        repo=raw_repo,
        bucket=f"acme-{raw_repo}",
        prefix="incoming/",
        commit_id=compute_commit_id(raw_repo, None, files),
        files=files,
        author=person,
        committed_at=clock.next(),
        message=f"upload {', '.join(upload_files)}",
        labels=["pii"],
        origin=models.UploadOrigin(via="cli"),
    )
    previous_event = _emit(chain, upload, subject=raw_repo, at=upload.committed_at)
    chain.upload_commit = upload.commit_id
    chain.upload_files = {file.path: file.sha256 for file in files}
    chain.commits.append(upload.commit_id)

    previous_repo, previous_commit = raw_repo, upload.commit_id
    for index, stage in enumerate(stages):
        previous_event = _run_stage(chain, clock, stage, index, tag, previous_repo, previous_commit, previous_event, extra_inputs)
        previous_repo, previous_commit = stage.output_repo, chain.commits[-1]
    return chain


def _register_repos(chain: Chain, clock: _Clock, person: models.Agent, raw_repo: str, stages: Sequence[Stage]) -> None:
    repos = [raw_repo] + [stage.output_repo for stage in stages]
    for repo in dict.fromkeys(repos):
        labels = ["pii"] if repo == raw_repo else []
        data = models.RepoRegistered(name=repo, bucket=f"acme-{repo}", prefix="incoming/" if repo == raw_repo else "", labels=labels, registered_by=person)
        _emit(chain, data, subject=repo, at=clock.next())


def _register_pipelines(chain: Chain, clock: _Clock, raw_repo: str, stages: Sequence[Stage]) -> None:
    input_repo = raw_repo
    for stage in stages:
        spec = _spec(stage, input_repo)
        data = models.PipelineRegistered(
            name=stage.pipeline,
            version=_version(spec),
            owner=stage.owner,
            description=f"{stage.pipeline} stage",
            input_repos=[input_repo],
            output_repo=stage.output_repo,
            clearances=["pii"],
            executor="local",
            spec=spec,
            registered_by=models.Agent(kind="person", name=stage.owner),
        )
        _emit(chain, data, subject=stage.pipeline, at=clock.next())
        input_repo = stage.output_repo


def _run_stage(
    chain: Chain,
    clock: _Clock,
    stage: Stage,
    index: int,
    tag: str,
    input_repo: str,
    input_commit: str,
    cause: CloudEvent,
    extra_inputs: Sequence[models.InputCommit],
) -> CloudEvent:
    spec_version = _version(_spec(stage, input_repo))
    plan = f"{stage.pipeline}@{spec_version}"
    inputs = [models.InputCommit(repo=input_repo, commit_id=input_commit), *extra_inputs]
    job_id = job_id_for(plan, [item.commit_id for item in inputs])
    runner = models.Agent(kind="service_account", name=stage.service_account, acting_for=stage.owner)
    digest = "sha256:" + sha256_text(f"{stage.image}|{index}")

    decision = models.TriggerDecision(
        pipeline=stage.pipeline, pipeline_version=spec_version, outcome="started",
        reason=f"new commit in {input_repo} matches {stage.pipeline}'s input glob", inputs=inputs, job_id=job_id,
    )
    decision_event = _emit(chain, decision, subject=stage.pipeline, cause=cause, at=clock.next())
    scheduled = models.JobScheduled(
        job_id=job_id, pipeline=stage.pipeline, pipeline_version=spec_version, executor="local",
        inputs=inputs, output_repo=stage.output_repo, service_account=runner,
    )
    _emit(chain, scheduled, subject=job_id, cause=decision_event, at=clock.next())
    started_at = clock.next()
    started = models.JobStarted(job_id=job_id, attempt=1, started_at=started_at, runner=f"pid:{4000 + index}")
    _emit(chain, started, subject=job_id, cause=decision_event, at=started_at)

    outputs = [_file(name, f"{tag}:{stage.pipeline}:{input_commit}:{name}") for name in stage.output_files]
    output_commit = compute_commit_id(stage.output_repo, None, outputs)
    finished_at = clock.next()
    code = models.CodeIdentity(image=stage.image, image_digest=digest, command=["python", "-m", f"acme.{stage.pipeline}"], args=["--out", "/outputs"], parameters=dict(stage.parameters))
    succeeded = models.JobSucceeded(
        job_id=job_id, attempt=1, finished_at=finished_at, duration_s=(finished_at - started_at).total_seconds(),
        output_commit_id=output_commit, code=code, log_tail="done",
    )
    success_event = _emit(chain, succeeded, subject=job_id, cause=decision_event, at=finished_at)
    committed = models.DataCommitted(
        repo=stage.output_repo, bucket=f"acme-{stage.output_repo}", commit_id=output_commit, files=outputs,
        author=runner, committed_at=clock.next(), message=f"outputs of {job_id}",
        origin=models.JobOrigin(job_id=job_id, pipeline=stage.pipeline, pipeline_version=spec_version, input_commits=[item.commit_id for item in inputs]),
    )
    commit_event = _emit(chain, committed, subject=stage.output_repo, cause=success_event, at=committed.committed_at)

    chain.jobs.append(job_id)
    chain.plans.append(plan)
    chain.code_digests.append(digest)
    chain.commits.append(output_commit)
    chain.output_files.append({file.path: file.sha256 for file in outputs})
    return commit_event


def _emit(chain: Chain, data: object, *, subject: str, at: datetime, cause: CloudEvent | None = None) -> CloudEvent:
    event = make_event(data, source=SOURCE, subject=subject, causationid=cause.id if cause else None)
    # The envelope's time is when the event was emitted; it is set to the
    # synthetic clock so that event times and payload times agree.
    event = event.model_copy(update={"time": at})
    chain.events.append(event)
    return event


def _file(name: str, content: str) -> models.FileVersion:
    return models.FileVersion(path=name, size=len(content), sha256=sha256_text(content), content_type="application/octet-stream")


def _spec(stage: Stage, input_repo: str) -> dict:
    return {"input": {"repo": input_repo, "glob": "**"}, "output": stage.output_repo, "image": stage.image, "parameters": dict(stage.parameters)}


def _version(spec: dict) -> str:
    return sha256_text(json.dumps(spec, sort_keys=True))[:12]


class _Clock:
    """Hands out strictly increasing times, one minute apart."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def next(self) -> datetime:
        self._now += timedelta(minutes=1)
        return self._now
