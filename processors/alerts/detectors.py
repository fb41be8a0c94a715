"""Built-in detectors: failed jobs, policy refusals, notification gaps, lineage gaps and SLA misses.

Each detector reads event documents (decoded CloudEvents as dicts) and returns
alerts; the engine applies dedupe and throttling to them like to rule alerts.
State is kept in memory, so after a restart the SLA detector watches only
the commits that arrive from then on.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from custody.events.models import AlertRaised
from processors.alerts.engine import PendingAlert
from processors.alerts.rules import RulesFile

# Alerts forwarded from other components carry these rule names.
NOTIFICATION_GAP_RULES = frozenset({"notification-gap"})
ALERTS_SOURCE = "/custody/alerts"


def _alert(rule: str, severity: str, summary: str, dedupe_key: str, subject: str, event_ids: list[str], **details: Any) -> AlertRaised:
    return AlertRaised(
        alert_id=str(uuid.uuid4()),
        rule=rule,
        severity=severity,
        summary=summary,
        dedupe_key=dedupe_key,
        subject=subject,
        event_ids=event_ids,
        details={key: str(value) for key, value in details.items() if value is not None},
    )


@dataclass
class _SlaWatch:
    repo: str
    commit_id: str
    event_id: str
    deadline: float


class Detectors:
    """The built-in detectors, fed every event in order and ticked by a timer."""

    def __init__(self, rules: RulesFile, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.spec = rules.detectors
        self.rules = rules
        self._clock = clock
        self._pipelines_by_repo: dict[str, set[str]] = {}
        self._pipeline_of_job: dict[str, str] = {}
        self._commits_of_job: dict[str, list[str]] = {}
        self._sla: dict[str, _SlaWatch] = {}
        # Commits already settled by a start or a decision. Commits, decisions and
        # jobs come from different topics, so a job can be read before its commit.
        self._settled: dict[str, None] = {}

    def observe(self, document: dict[str, Any]) -> list[PendingAlert]:
        """Update detector state with one event and return the alerts it raises at once."""
        handler = {
            "io.custody.pipeline.registered.v1": self._on_pipeline_registered,
            "io.custody.pipeline.removed.v1": self._on_pipeline_removed,
            "io.custody.data.committed.v1": self._on_commit,
            "io.custody.trigger.decided.v1": self._on_decision,
            "io.custody.job.scheduled.v1": self._on_scheduled,
            "io.custody.job.started.v1": self._on_started,
            "io.custody.job.succeeded.v1": self._on_succeeded,
            "io.custody.job.failed.v1": self._on_failed,
            "io.custody.alert.raised.v1": self._on_foreign_alert,
        }.get(document.get("type", ""))
        if handler is None:
            return []
        return handler(document["data"], document)

    def tick(self) -> list[PendingAlert]:
        """Return SLA alerts for commits whose deadline passed with no job started."""
        now = self._clock()
        expired = [watch for watch in self._sla.values() if watch.deadline <= now]
        pending = []
        for watch in expired:
            del self._sla[watch.commit_id]
            spec = self.spec.sla
            pipelines = sorted(self._pipelines_by_repo.get(watch.repo, set()))
            alert = _alert(
                "sla-miss",
                spec.severity,
                f"commit {watch.commit_id[:12]} in repo {watch.repo} started no job within {spec.seconds:.0f}s "
                f"(pipelines reading it: {', '.join(pipelines)})",
                f"sla-miss:{watch.commit_id}",
                watch.repo,
                [watch.event_id],
                repo=watch.repo,
                commit_id=watch.commit_id,
                sla_seconds=spec.seconds,
            )
            pending.append(PendingAlert(alert, tuple(self.rules.detector_sinks(spec)), watch.event_id))
        return pending

    def watched_commits(self) -> list[str]:
        """Return the commit ids the SLA detector is waiting on."""
        return sorted(self._sla)

    # Registry state

    def _on_pipeline_registered(self, data: dict[str, Any], _document: dict[str, Any]) -> list[PendingAlert]:
        for repo in self._pipelines_by_repo.values():
            repo.discard(data["name"])
        for repo in data.get("input_repos", []):
            self._pipelines_by_repo.setdefault(repo, set()).add(data["name"])
        return []

    def _on_pipeline_removed(self, data: dict[str, Any], _document: dict[str, Any]) -> list[PendingAlert]:
        for repo in self._pipelines_by_repo.values():
            repo.discard(data["name"])
        return []

    # SLA

    def _on_commit(self, data: dict[str, Any], document: dict[str, Any]) -> list[PendingAlert]:
        spec = self.spec.sla
        if data["commit_id"] in self._settled:
            return []
        if spec.enabled and self._pipelines_by_repo.get(data["repo"]):
            self._sla[data["commit_id"]] = _SlaWatch(data["repo"], data["commit_id"], document["id"], self._clock() + spec.seconds)
        return []

    def _on_decision(self, data: dict[str, Any], document: dict[str, Any]) -> list[PendingAlert]:
        # A decision that starts nothing (no match, refused, duplicate) settles the SLA;
        # a started decision settles it only once the job really starts.
        if data["outcome"] != "started":
            for commit in data.get("inputs", []):
                self._settle(commit["commit_id"])

        spec = self.spec.policy_refusal
        if data["outcome"] != "refused" or not spec.enabled:
            return []
        commits = ", ".join(commit["commit_id"][:12] for commit in data.get("inputs", []))
        labels = ", ".join(data.get("refused_labels", []))
        alert = _alert(
            "policy-refusal",
            spec.severity,
            f"pipeline {data['pipeline']} was refused for commit(s) {commits}: not cleared for {labels or 'the data'}; {data['reason']}",
            f"policy-refusal:{data['pipeline']}:{commits}",
            data["pipeline"],
            [document["id"]],
            pipeline=data["pipeline"],
            pipeline_version=data["pipeline_version"],
            labels=labels,
            reason=data["reason"],
        )
        return [PendingAlert(alert, tuple(self.rules.detector_sinks(spec)), document["id"])]

    def _on_scheduled(self, data: dict[str, Any], _document: dict[str, Any]) -> list[PendingAlert]:
        self._pipeline_of_job[data["job_id"]] = data["pipeline"]
        self._commits_of_job[data["job_id"]] = [commit["commit_id"] for commit in data["inputs"]]
        return []

    def _on_started(self, data: dict[str, Any], _document: dict[str, Any]) -> list[PendingAlert]:
        for commit_id in self._commits_of_job.get(data["job_id"], []):
            self._settle(commit_id)
        return []

    def _settle(self, commit_id: str) -> None:
        self._sla.pop(commit_id, None)
        self._settled[commit_id] = None
        if len(self._settled) > 100_000:
            # Dicts keep insertion order, so this drops the oldest half.
            for old in list(self._settled)[:50_000]:
                del self._settled[old]

    # Job outcomes

    def _on_failed(self, data: dict[str, Any], document: dict[str, Any]) -> list[PendingAlert]:
        spec = self.spec.job_failed
        if not data.get("final") or not spec.enabled:
            return []
        pipeline = self._pipeline_of_job.get(data["job_id"], "unknown pipeline")
        alert = _alert(
            "job-failed",
            spec.severity,
            f"job {data['job_id']} of {pipeline} failed after attempt {data['attempt']}: {data['reason']}",
            f"job-failed:{data['job_id']}",
            data["job_id"],
            [document["id"]],
            job_id=data["job_id"],
            pipeline=pipeline,
            attempt=data["attempt"],
            reason=data["reason"],
            exit_code=data.get("exit_code"),
        )
        return [PendingAlert(alert, tuple(self.rules.detector_sinks(spec)), document["id"])]

    def _on_succeeded(self, data: dict[str, Any], document: dict[str, Any]) -> list[PendingAlert]:
        spec = self.spec.lineage_gap
        missing = []
        if not data.get("output_commit_id"):
            missing.append("outputs")
        if data["job_id"] in self._pipeline_of_job and not self._commits_of_job.get(data["job_id"]):
            missing.append("inputs")
        if not missing or not spec.enabled:
            return []
        alert = _alert(
            "lineage-gap",
            spec.severity,
            f"job {data['job_id']} succeeded with no recorded {' or '.join(missing)}",
            f"lineage-gap:{data['job_id']}",
            data["job_id"],
            [document["id"]],
            job_id=data["job_id"],
            missing=",".join(missing),
        )
        return [PendingAlert(alert, tuple(self.rules.detector_sinks(spec)), document["id"])]

    def _on_foreign_alert(self, data: dict[str, Any], document: dict[str, Any]) -> list[PendingAlert]:
        # The reconciler publishes notification gaps as alerts; forward them to the
        # sinks, but never re-publish alerts this service wrote itself.
        spec = self.spec.notification_gap
        if document.get("source") == ALERTS_SOURCE or data.get("rule") not in NOTIFICATION_GAP_RULES or not spec.enabled:
            return []
        alert = AlertRaised(**{**data, "alert_id": str(uuid.uuid4()), "severity": data.get("severity", spec.severity)})
        sinks = tuple(name for name in self.rules.detector_sinks(spec) if self.rules.sinks[name].type != "kafka")
        return [PendingAlert(alert, sinks, document["id"])]
