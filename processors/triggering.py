"""Stage two: decide for one pipeline at a time, claim job ids, submit and announce jobs.

For each trigger request the decider plans the jobs (processors.planning),
checks clearances, and for each new job id runs the claim protocol:

1. claim: `claims[job_id] = claimed`, in the changelog-backed table whose
   partition is the pipeline's partition of the trigger topic;
2. submit to the executor, which is idempotent by job id;
3. announce: publish TriggerDecision(started) and JobScheduled, wait for Kafka;
4. release the job to run, then mark the claim `announced`.

A crash anywhere in 1 to 4 leaves the trigger request uncommitted, so it is
read again, finds the claim (or the executor's record of the submission) and
finishes the remaining steps with the same event ids. A claim that stays
unannounced for other reasons is finished by `resume` requests that
`processors.recovery` sends. A request that finds an announced claim produces
a `duplicate` decision and nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from custody.events import CloudEvent, decode
from custody.events.envelope import utc_now
from custody.events.models import InputCommit, TriggerDecision
from processors import jobevents
from processors.executors.base import Executor, JobRequest
from processors.failpoints import crash_if_set
from processors.planning import NoMatch, Outcome, Plan, job_id_for, plan_for_commit, plans_for_heads, refused_labels
from processors.publishing import EventPublisher, build_event, derived_id
from processors.requests import CommitSummary, TriggerRequest
from processors.settings import ProcessorSettings
from processors.spec import PipelineSpec

log = logging.getLogger(__name__)

CLAIMED, ANNOUNCED = "claimed", "announced"
SEEN_SEPARATOR = "\x1f"


class Decider:
    """Handle trigger requests of the pipelines whose partitions this worker owns."""

    def __init__(
        self,
        *,
        claims: MutableMapping[str, Any],
        seen: MutableMapping[str, Any],
        heads: MutableMapping[str, Any],
        pipelines: MutableMapping[str, Any],
        executors: dict[str, Executor],
        publisher: EventPublisher,
        processor_settings: ProcessorSettings,
    ) -> None:
        self.claims = claims
        self.seen = seen
        self.heads = heads
        self.pipelines = pipelines
        self.executors = executors
        self.publisher = publisher
        self.processor_settings = processor_settings
        self._specs: dict[str, PipelineSpec] = {}

    async def handle(self, request: TriggerRequest) -> None:
        """Decide on one request; transient errors propagate so the caller retries the whole request."""
        if request.kind == "resume":
            await self._resume(request)
            return

        registration = self._registration(request)
        if registration is None:
            return
        spec = self._spec(registration)

        for outcome in self._plan(request, spec):
            await self._decide(request, spec, outcome)

    def _spec(self, registration: dict[str, Any]) -> PipelineSpec:
        # Validating a spec costs more than the rest of a decision; versions never change, so cache them.
        version = registration["version"]
        if version not in self._specs:
            self._specs[version] = PipelineSpec.model_validate(registration["spec"])
        return self._specs[version]

    def _registration(self, request: TriggerRequest) -> dict[str, Any] | None:
        """Return the newest known registration for the request, or None when the request is superseded."""
        entry = self.pipelines.get(request.pipeline)
        offset = request.registry_offset if request.registry_offset is not None else -1
        if request.kind == "version" and entry is not None and entry["offset"] > offset:
            log.info("pipeline=%s version request at offset=%d is superseded by offset=%d; skipped", request.pipeline, offset, entry["offset"])
            return None
        if entry is not None and entry["offset"] > offset:
            return entry["registration"]
        if request.registration is None:
            log.warning("pipeline=%s is not registered; request=%s kind=%s skipped", request.pipeline, request.request_id, request.kind)
        return request.registration

    def _plan(self, request: TriggerRequest, spec: PipelineSpec) -> list[Outcome]:
        if request.commit is not None:
            if request.kind == "commit":
                self.seen[_seen_key(spec.name, request.commit.repo)] = request.commit.model_dump(mode="json")
            return [plan_for_commit(spec, request.commit, lambda repo: self._head_of(spec.name, repo))]
        return plans_for_heads(spec, lambda repo: self._head_of(spec.name, repo))

    def _head_of(self, pipeline: str, repo: str) -> CommitSummary | None:
        # The pipeline's own view is updated in order with its requests; the
        # global heads table covers repos this pipeline has not seen a commit of.
        document = self.seen.get(_seen_key(pipeline, repo)) or self.heads.get(repo)
        return CommitSummary.model_validate(document) if document else None

    async def _decide(self, request: TriggerRequest, spec: PipelineSpec, outcome: Outcome) -> None:
        if isinstance(outcome, NoMatch):
            await self._publish_decision(request, spec, "no_match", outcome.reason, list(outcome.inputs), tag="no_match")
            return

        refused = refused_labels(spec, outcome)
        if refused:
            reason = (
                f"input carries label(s) {', '.join(refused)} that pipeline {spec.name} is not cleared for; "
                "add them to the spec's `clearances` if it may read such data"
            )
            log.warning("pipeline=%s refused inputs=%s labels=%s", spec.name, ",".join(outcome.commit_ids), ",".join(refused))
            await self._publish_decision(request, spec, "refused", reason, list(outcome.inputs), refused=refused, tag="refused")
            return

        nonce = request.nonce if request.kind == "rerun" else None
        job_id = job_id_for(spec.version, outcome.commit_ids, nonce=nonce)
        claim = self.claims.get(job_id)
        if claim is None:
            claim = self._claim(request, spec, outcome, job_id)
        elif claim["state"] == ANNOUNCED or claim["cause"] != request.cause_event_id:
            if claim["state"] != ANNOUNCED:
                await self._complete(job_id, claim)
            reason = f"job {job_id} was already started for pipeline version {spec.version[:12]} and these input commits"
            await self._publish_decision(request, spec, "duplicate", reason, list(outcome.inputs), job_id=job_id, tag=request.request_id)
            log.info("pipeline=%s job=%s duplicate trigger request=%s", spec.name, job_id, request.request_id)
            return
        await self._complete(job_id, claim)

    def _claim(self, request: TriggerRequest, spec: PipelineSpec, plan: Plan, job_id: str) -> dict[str, Any]:
        job_request = JobRequest(
            job_id=job_id,
            pipeline=spec.name,
            pipeline_version=spec.version,
            executor=spec.executor,
            transform=spec.transform,
            inputs=list(plan.inputs),
            output_repo=spec.output,
            retries=spec.retries,
            timeout_s=spec.timeout,
            service_account=spec.service_account or self.processor_settings.service_account,
            scheduled_event_id=jobevents.scheduled_event_id(job_id),
            requested_by=request.requested_by,
            rerun_reason=request.reason if request.kind == "rerun" else None,
        )
        reason = _started_reason(request, spec)
        decision = self._decision_event(request, spec, "started", reason, list(plan.inputs), job_id=job_id, tag=job_id)
        scheduled = jobevents.scheduled(job_request, decision_id=decision.id)
        claim = {
            "state": CLAIMED,
            "pipeline": spec.name,
            "cause": request.cause_event_id,
            "claimed_at": utc_now().isoformat(),
            "request": job_request.model_dump(mode="json"),
            "decision": decision.model_dump_json(),
            "scheduled": scheduled.model_dump_json(),
        }
        self.claims[job_id] = claim
        log.info("pipeline=%s job=%s claimed inputs=%s", spec.name, job_id, ",".join(plan.commit_ids))
        return claim

    async def _complete(self, job_id: str, claim: dict[str, Any]) -> None:
        """Submit (idempotently), announce and release a claimed job, then mark the claim announced."""
        job_request = JobRequest.model_validate(claim["request"])
        events = [decode(claim["decision"]), decode(claim["scheduled"])]
        executor = self.executors.get(job_request.executor)

        if executor is None:
            await self._announce_unavailable(job_request, events)
        else:
            submitted = await executor.submit(job_request)
            crash_if_set("after-submit", job=job_id)
            if not submitted.created:
                log.info("job=%s was submitted before (%s); announcing it", job_id, submitted.where)
            await self.publisher.publish_async(events)
            await executor.release(job_id)

        self.claims[job_id] = {**claim, "state": ANNOUNCED}
        log.info("pipeline=%s job=%s scheduled executor=%s", job_request.pipeline, job_id, job_request.executor)

    async def _announce_unavailable(self, job_request: JobRequest, events: list[CloudEvent]) -> None:
        available = ", ".join(sorted(self.executors)) or "none"
        reason = f"executor {job_request.executor!r} is not available in this worker (available: {available}); install it or change the spec"
        failure = jobevents.failed(job_request, attempt=1, reason=reason, final=True)
        await self.publisher.publish_async([*events, failure])
        log.error("job=%s cannot run: %s", job_request.job_id, reason)

    async def _resume(self, request: TriggerRequest) -> None:
        job_id = request.job_id or ""
        claim = self.claims.get(job_id)
        if claim is None or claim["state"] == ANNOUNCED:
            return
        log.warning("job=%s claim was not announced; finishing it now", job_id)
        await self._complete(job_id, claim)

    async def _publish_decision(
        self,
        request: TriggerRequest,
        spec: PipelineSpec,
        outcome: str,
        reason: str,
        inputs: list[CommitSummary],
        *,
        tag: str,
        job_id: str | None = None,
        refused: list[str] | None = None,
    ) -> None:
        event = self._decision_event(request, spec, outcome, reason, inputs, job_id=job_id, refused=refused, tag=tag)
        await self.publisher.publish_async([event])
        log.info("pipeline=%s decision=%s reason=%s", spec.name, outcome, reason)

    def _decision_event(
        self,
        request: TriggerRequest,
        spec: PipelineSpec,
        outcome: str,
        reason: str,
        inputs: list[CommitSummary],
        *,
        tag: str,
        job_id: str | None = None,
        refused: list[str] | None = None,
    ) -> CloudEvent:
        data = TriggerDecision(
            pipeline=spec.name,
            pipeline_version=spec.version,
            outcome=outcome,  # type: ignore[arg-type]
            reason=reason,
            inputs=[InputCommit(repo=commit.repo, commit_id=commit.commit_id) for commit in inputs],
            job_id=job_id,
            refused_labels=refused or [],
            requested_by=request.requested_by,
        )
        cause = request.cause_event_id or request.request_id
        commits = ",".join(sorted(commit.commit_id for commit in inputs))
        event_id = derived_id("decision", cause, spec.version, outcome, commits, tag)
        return build_event(data, event_id=event_id, subject=spec.name, causationid=cause)


def _seen_key(pipeline: str, repo: str) -> str:
    return f"{pipeline}{SEEN_SEPARATOR}{repo}"


def _started_reason(request: TriggerRequest, spec: PipelineSpec) -> str:
    if request.kind == "rerun":
        requester = request.requested_by.agent_id if request.requested_by else "unknown"
        return f"re-run requested by {requester}: {request.reason or 'no reason given'}"
    if request.kind == "version":
        return f"version {spec.version[:12]} of pipeline {spec.name} was applied; it runs once on the current heads of its inputs"
    assert request.commit is not None
    return f"commit {request.commit.commit_id[:12]} in repo {request.commit.repo} matches the input of pipeline {spec.name}"
