"""Jobs requested by a trigger: pure functions over a spec, a commit and the current heads.

- A single input runs on each commit of its repo that has a file matching its glob.
- `union` treats each entry as a single input; a commit matching several entries is one job.
- `cross` runs on one commit of every entry together: the commit that arrived, plus
  the current head of each other entry. It waits until every entry has a head.

The job id is the SHA-256 of the pipeline version and the sorted input commit
ids (plus a nonce for a deliberate re-run), so the same inputs always give the
same id whichever event led to them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from custody.events.models import FileVersion
from processors.globs import glob_matches
from processors.requests import CommitSummary
from processors.spec import PipelineSpec, RepoInput

HeadLookup = Callable[[str], CommitSummary | None]


@dataclass(frozen=True)
class Plan:
    """A job to start: its input commits, each with the files it stages."""

    inputs: tuple[CommitSummary, ...]

    @property
    def commit_ids(self) -> list[str]:
        """The input commit ids, in input order."""
        return [commit.commit_id for commit in self.inputs]


@dataclass(frozen=True)
class NoMatch:
    """No job, and why."""

    reason: str
    inputs: tuple[CommitSummary, ...] = ()


Outcome = Plan | NoMatch


def job_id_for(pipeline_version: str, commit_ids: list[str], *, nonce: str | None = None) -> str:
    """Return the job id of one pipeline version over one set of input commits."""
    document = {"pipeline_version": pipeline_version, "inputs": sorted(commit_ids), "rerun": nonce}
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def matching_files(commit: CommitSummary, members: list[RepoInput]) -> list[FileVersion]:
    """Return the commit's files that match the glob of any entry for its repo."""
    globs = [member.glob for member in members if member.repo == commit.repo]
    return [f for f in commit.files if any(glob_matches(pattern, f.path) for pattern in globs)]


def staged(commit: CommitSummary, members: list[RepoInput]) -> CommitSummary:
    """Return the commit with only the files the job stages."""
    return commit.model_copy(update={"files": matching_files(commit, members)})


def plan_for_commit(spec: PipelineSpec, commit: CommitSummary, head_of: HeadLookup) -> Outcome:
    """Decide what one commit to an input repo starts."""
    members = spec.input.members
    own = [member for member in members if member.repo == commit.repo]
    if not own:
        return NoMatch(f"repo {commit.repo} is not an input of pipeline {spec.name}")

    chosen = staged(commit, members)
    if not chosen.files:
        globs = ", ".join(repr(member.glob) for member in own)
        return NoMatch(f"no file of commit {commit.commit_id[:12]} in repo {commit.repo} matches glob {globs}", (commit,))

    if spec.input.kind != "cross":
        return Plan((chosen,))
    return _cross_plan(spec, {commit.repo: chosen}, head_of)


def plans_for_heads(spec: PipelineSpec, head_of: HeadLookup) -> list[Outcome]:
    """Decide what a newly applied version starts on the current heads of its inputs."""
    if spec.input.kind == "cross":
        return [_cross_plan(spec, {}, head_of)]

    outcomes: list[Outcome] = []
    seen_commits: set[str] = set()
    for repo in spec.input.repos:
        head = head_of(repo)
        if head is None:
            outcomes.append(NoMatch(f"repo {repo} has no commit yet"))
            continue
        if head.commit_id in seen_commits:
            continue
        seen_commits.add(head.commit_id)
        outcomes.append(plan_for_commit(spec, head, head_of))
    return outcomes


def refused_labels(spec: PipelineSpec, plan: Plan) -> list[str]:
    """Return the labels of the input commits that the pipeline is not cleared for, sorted."""
    labels = {label for commit in plan.inputs for label in commit.labels}
    return sorted(labels - set(spec.clearances))


def _cross_plan(spec: PipelineSpec, fixed: dict[str, CommitSummary], head_of: HeadLookup) -> Outcome:
    members = spec.input.members
    chosen: list[CommitSummary] = []
    for member in members:
        commit = fixed.get(member.repo)
        if commit is None:
            head = head_of(member.repo)
            if head is None:
                return NoMatch(f"cross input waits for repo {member.repo}, which has no commit yet", tuple(fixed.values()))
            commit = staged(head, members)
            if not commit.files:
                return NoMatch(
                    f"cross input: head commit {head.commit_id[:12]} of repo {member.repo} has no file matching glob {member.glob!r}",
                    tuple(fixed.values()),
                )
        chosen.append(commit)
    return Plan(tuple(chosen))
