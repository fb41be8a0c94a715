"""Job-like custom resources: start, for example, a Kubeflow TFJob instead of a batch Job.

A custom kind is configured in the YAML file named by
CUSTODY_KUBERNETES_CUSTOM_KINDS_FILE:

```yaml
kinds:
  - name: tfjob
    api_version: kubeflow.org/v1
    kind: TFJob
    plural: tfjobs
    pipelines: ["train-*"]          # pipeline names (shell patterns) that use this kind
    template:                        # the object, without metadata
      spec:
        runPolicy: {suspend: true}
        tfReplicaSpecs:
          Worker: {replicas: 1, restartPolicy: Never}
    pod_template_path: [spec, tfReplicaSpecs, Worker, template]
    suspend_path: [spec, runPolicy, suspend]
    conditions: {running: [Running], succeeded: [Succeeded], failed: [Failed]}
```

The executor builds the same pod template as for a batch Job (runner
contract, security, labels) and puts it at `pod_template_path`. The object is
created with `suspend_path` set to true and released by setting it to false,
so nothing runs before JobScheduled is on Kafka. The watcher maps the
object's `status.conditions` to one attempt: `started` when a running,
succeeded or failed condition appears, then `succeeded` or a final `failed`.
Retries inside the object (its operator's own restart policy) are not
reported as separate attempts.
"""

from __future__ import annotations

import copy
import fnmatch
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from custody.errors import ConfigurationError
from processors.executors.base import JobRequest
from processors.k8s_jobs import build_job
from processors.k8s_settings import KubernetesSettings
from processors.k8s_transitions import Transition


class ConditionMapping(BaseModel):
    """Condition types (status True) that mean running, succeeded and failed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    running: list[str] = Field(default_factory=lambda: ["Running"])
    succeeded: list[str] = Field(default_factory=lambda: ["Succeeded", "Complete"])
    failed: list[str] = Field(default_factory=lambda: ["Failed"])


class CustomKind(BaseModel):
    """One job-like custom resource kind."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][-a-z0-9]*$")
    api_version: str = Field(pattern=r"^[a-z0-9.-]+/[a-z0-9]+$", description="group/version, e.g. kubeflow.org/v1.")
    kind: str = Field(min_length=1)
    plural: str = Field(pattern=r"^[a-z0-9][-a-z0-9]*$")
    pipelines: list[str] = Field(min_length=1, description="Shell patterns of the pipeline names that use this kind.")
    template: dict[str, Any] = Field(default_factory=dict)
    pod_template_path: list[str] = Field(min_length=1)
    suspend_path: list[str] = Field(min_length=1)
    conditions: ConditionMapping = Field(default_factory=ConditionMapping)

    @field_validator("template")
    @classmethod
    def _no_metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "metadata" in value:
            raise ValueError("the template must not set metadata: the executor sets name, labels and annotations")
        return value

    @property
    def group(self) -> str:
        """The API group, e.g. `kubeflow.org`."""
        return self.api_version.split("/", 1)[0]

    @property
    def version(self) -> str:
        """The API version, e.g. `v1`."""
        return self.api_version.split("/", 1)[1]


class CustomKindsFile(BaseModel):
    """The whole custom kinds file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kinds: list[CustomKind] = Field(default_factory=list)


def load_custom_kinds(path: Path | None) -> list[CustomKind]:
    """Read the custom kinds file; none configured gives an empty list. Raise ConfigurationError naming the problem."""
    if path is None:
        return []
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return CustomKindsFile.model_validate(document).kinds
    except OSError as error:
        raise ConfigurationError(f"cannot read CUSTODY_KUBERNETES_CUSTOM_KINDS_FILE {path}: {error}") from error
    except (yaml.YAMLError, ValidationError) as error:
        raise ConfigurationError(f"invalid custom kinds file {path}: {error}") from error


def kind_for(pipeline: str, kinds: list[CustomKind]) -> CustomKind | None:
    """Return the first kind whose patterns match the pipeline name, or None for a batch Job."""
    for kind in kinds:
        if any(fnmatch.fnmatchcase(pipeline, pattern) for pattern in kind.pipelines):
            return kind
    return None


def build_custom_object(
    request: JobRequest, settings: KubernetesSettings, kind: CustomKind, *, runner_env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Return the custom object of the request: the kind's template with the job's metadata and pod template."""
    job = build_job(request, settings, runner_env=runner_env)
    document = copy.deepcopy(kind.template)
    document["apiVersion"] = kind.api_version
    document["kind"] = kind.kind
    document["metadata"] = job["metadata"]
    _put(document, kind.pod_template_path, job["spec"]["template"])
    _put(document, kind.suspend_path, True)
    return document


def suspend_patch(kind: CustomKind, suspended: bool) -> dict[str, Any]:
    """Return the merge patch that sets the kind's suspend field."""
    patch: dict[str, Any] = {}
    _put(patch, kind.suspend_path, suspended)
    return patch


def custom_transitions(kind: CustomKind, document: dict[str, Any]) -> list[Transition]:
    """Return the history of one custom object from its conditions (one attempt)."""
    true_types = {
        condition.get("type")
        for condition in ((document.get("status") or {}).get("conditions") or [])
        if condition.get("status") == "True"
    }
    mapping = kind.conditions
    succeeded = true_types & set(mapping.succeeded)
    failed = true_types & set(mapping.failed)
    running = true_types & set(mapping.running)
    if succeeded:
        return [Transition("started", 1), Transition("succeeded", 1)]
    if failed:
        return [Transition("started", 1), Transition("failed", 1, final=True, reason=f"{kind.kind} condition {sorted(failed)[0]}")]
    if running:
        return [Transition("started", 1)]
    return []


def _put(document: dict[str, Any], path: list[str], value: Any) -> None:
    node = document
    for key in path[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigurationError(f"path {'.'.join(path)} of a custom kind crosses a non-object value at {key!r}")
    node[path[-1]] = value
