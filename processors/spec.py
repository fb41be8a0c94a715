"""Pipeline specs: the YAML a user applies, validated strictly, normalized and versioned.

A spec's version is the SHA-256 of its normalized form (defaults filled in,
keys sorted, durations in seconds, labels sorted) without `description` and
`owner`, which do not change what runs. Two files that differ only in key
order, in spelling a default or in their description therefore share a
version, and applying one after the other starts nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from custody.events.models import Label, RepoName
from processors.globs import InvalidGlob, check_glob

# A DNS-1123 label: pipeline names become parts of Kubernetes object names.
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
# Kubernetes resource quantities such as `500m`, `2`, `1.5Gi`, `256Mi`.
Quantity = Annotated[str, StringConstraints(pattern=r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")]
ResourceName = Annotated[str, StringConstraints(pattern=r"^([a-z0-9.-]+/)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")]

RESERVED_ENV_PREFIX = "CUSTODY_"
_DURATION = re.compile(r"^(?P<value>[0-9]+(\.[0-9]+)?)\s*(?P<unit>s|m|h)?$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, None: 1}
VERSION_EXCLUDED_FIELDS = ("description", "owner")


class SpecModel(BaseModel):
    """Base of every spec section: unknown fields are errors, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RepoInput(SpecModel):
    """One input: the files of a repo's commits that match a glob."""

    repo: RepoName
    glob: str = Field("**", description="Pattern over paths relative to the repo prefix.")

    @field_validator("glob")
    @classmethod
    def _valid_glob(cls, value: str) -> str:
        try:
            return check_glob(value)
        except InvalidGlob as exc:
            raise ValueError(str(exc)) from None


class InputSpec(SpecModel):
    """Either one repo and glob, or `cross` (every input's current head together) or `union` (each input alone)."""

    repo: RepoName | None = None
    glob: str | None = None
    cross: list[RepoInput] | None = Field(None, min_length=2)
    union: list[RepoInput] | None = Field(None, min_length=2)

    @field_validator("glob")
    @classmethod
    def _valid_glob(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            return check_glob(value)
        except InvalidGlob as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _one_form(self) -> InputSpec:
        forms = [name for name in ("repo", "cross", "union") if getattr(self, name) is not None]
        if len(forms) != 1:
            raise ValueError("input needs exactly one of `repo` (with an optional `glob`), `cross` or `union`")
        if self.glob is not None and self.repo is None:
            raise ValueError("`glob` belongs next to `repo`; inside `cross` and `union` each entry has its own glob")
        if self.cross is not None:
            repos = [member.repo for member in self.cross]
            if len(set(repos)) != len(repos):
                raise ValueError("each repo may appear once in `cross`, because its files are staged under one directory")
        if self.union is not None:
            pairs = [(member.repo, member.glob) for member in self.union]
            if len(set(pairs)) != len(pairs):
                raise ValueError("`union` lists the same repo and glob twice")
        return self

    @property
    def kind(self) -> Literal["single", "cross", "union"]:
        """Which form this input takes."""
        if self.cross is not None:
            return "cross"
        if self.union is not None:
            return "union"
        return "single"

    @property
    def members(self) -> list[RepoInput]:
        """The repo inputs, in spec order."""
        if self.cross is not None:
            return list(self.cross)
        if self.union is not None:
            return list(self.union)
        return [RepoInput(repo=self.repo or "", glob=self.glob or "**")]

    @property
    def repos(self) -> list[str]:
        """The input repo names without repeats, in spec order."""
        return list(dict.fromkeys(member.repo for member in self.members))


class Resources(SpecModel):
    """Kubernetes-style requests and limits; the local executor records but does not enforce them."""

    requests: dict[ResourceName, Quantity] = Field(default_factory=dict)
    limits: dict[ResourceName, Quantity] = Field(default_factory=dict)


class Transform(SpecModel):
    """The code to run: an image for Kubernetes, and a command with arguments and environment for every executor."""

    image: str | None = Field(None, min_length=1, description="Container image; required for the kubernetes executor.")
    command: list[Annotated[str, StringConstraints(min_length=1)]] = Field(min_length=1)
    args: list[str] = Field(default_factory=list)
    env: dict[EnvName, str] = Field(default_factory=dict)
    working_dir: str | None = Field(
        None, description="Directory the command runs in; the local executor uses a fresh directory per attempt when unset."
    )
    resources: Resources = Field(default_factory=Resources)

    @field_validator("env")
    @classmethod
    def _no_reserved_env(cls, value: dict[str, str]) -> dict[str, str]:
        reserved = sorted(name for name in value if name.startswith(RESERVED_ENV_PREFIX))
        if reserved:
            raise ValueError(f"variables starting with {RESERVED_ENV_PREFIX} are set by the runner: {', '.join(reserved)}")
        return value


class RetryPolicy(SpecModel):
    """Retry policy: the number of retries of a failed attempt and the wait before each one."""

    count: int = Field(0, ge=0, le=100, description="Retries after the first attempt.")
    backoff_s: float = Field(5.0, ge=0, le=86400, description="Seconds before the first retry.")
    backoff_factor: float = Field(2.0, ge=1, le=10, description="Multiplier of the wait after each retry.")
    max_backoff_s: float = Field(300.0, ge=0, le=86400, description="Upper bound of the wait, in seconds.")

    def delay_before(self, attempt: int) -> float:
        """Return the seconds to wait before `attempt` (2 is the first retry)."""
        if attempt <= 1:
            return 0.0
        return min(self.max_backoff_s, self.backoff_s * self.backoff_factor ** (attempt - 2))

    @property
    def max_attempts(self) -> int:
        """Attempts including the first one."""
        return self.count + 1


class PipelineSpec(SpecModel):
    """A pipeline: its inputs, its transform, its output repo, where it runs and what it may read."""

    name: str
    description: str = ""
    owner: str = Field(min_length=1, description="Team or person answerable for the pipeline.")
    input: InputSpec
    transform: Transform
    output: RepoName
    executor: Literal["local", "kubernetes"] = "local"
    retries: RetryPolicy = Field(default_factory=RetryPolicy)
    timeout: float = Field(3600.0, gt=0, le=7 * 86400, description="Seconds one attempt may run; `90s`, `10m` and `2h` are accepted.")
    clearances: list[Label] = Field(default_factory=list, description="Data labels the pipeline may read.")
    service_account: str | None = Field(
        None, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", description="Service account the job runs as; the worker's default when unset."
    )

    @field_validator("name")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        if len(value) > 63 or not _DNS_LABEL.match(value):
            raise ValueError(
                "a pipeline name must be a DNS-1123 label: at most 63 lower-case letters, digits and `-`, "
                "starting and ending with a letter or digit"
            )
        return value

    @field_validator("retries", mode="before")
    @classmethod
    def _retry_count_shorthand(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return {"count": value}
        return value

    @field_validator("timeout", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        match = _DURATION.match(value.strip())
        if match is None:
            raise ValueError("use seconds as a number, or a number with s, m or h, such as 90s, 10m or 2h")
        return float(match["value"]) * _UNIT_SECONDS[match["unit"]]

    @field_validator("clearances")
    @classmethod
    def _sorted_clearances(cls, value: list[str]) -> list[str]:
        return sorted(set(value))

    @model_validator(mode="after")
    def _consistent(self) -> PipelineSpec:
        if self.output in self.input.repos:
            raise ValueError(f"output repo {self.output!r} is also an input, so every output commit would start the pipeline again")
        if self.executor == "kubernetes" and not self.transform.image:
            raise ValueError("the kubernetes executor needs `transform.image`")
        return self

    def normalized(self) -> dict[str, Any]:
        """Return the canonical form stored in the registry: defaults filled in, one input form."""
        document = self.model_dump(mode="json", exclude_none=True)
        document["input"] = _normalized_input(self.input)
        return document

    @property
    def version(self) -> str:
        """Hex SHA-256 of the normalized spec without the fields that do not change what runs."""
        return spec_version(self.normalized())


def spec_version(normalized: dict[str, Any]) -> str:
    """Return the version of a normalized spec document."""
    relevant = {key: value for key, value in normalized.items() if key not in VERSION_EXCLUDED_FIELDS}
    canonical = json.dumps(relevant, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _normalized_input(value: InputSpec) -> dict[str, Any]:
    if value.kind == "single":
        member = value.members[0]
        return {"repo": member.repo, "glob": member.glob}
    return {value.kind: [member.model_dump(mode="json") for member in value.members]}
