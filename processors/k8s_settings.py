"""Settings of the Kubernetes executor and job watcher (`CUSTODY_KUBERNETES_*`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from custody.errors import ConfigurationError

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class KubernetesSettings(BaseSettings):
    """Where Jobs run and how they are shaped; every field names its environment variable."""

    model_config = SettingsConfigDict(env_prefix="CUSTODY_KUBERNETES_", frozen=True, extra="ignore", hide_input_in_errors=True)

    kubeconfig: Path | None = Field(
        None,
        description="Kubeconfig file; unset means the in-cluster service account (CUSTODY_KUBERNETES_KUBECONFIG).",
    )
    context: str | None = Field(None, description="Kubeconfig context; unset means the current one (CUSTODY_KUBERNETES_CONTEXT).")
    namespace: str = Field("custody-jobs", pattern=DNS_LABEL_PATTERN, description="Namespace Jobs run in (CUSTODY_KUBERNETES_NAMESPACE).")
    name_prefix: str = Field(
        "",
        pattern=r"^([a-z0-9][-a-z0-9]{0,14})?$",
        description="Prefix of every Job name, e.g. `cj-` (CUSTODY_KUBERNETES_NAME_PREFIX).",
    )
    runner_image: str = Field(
        "custody:latest",
        min_length=1,
        description="Custody image whose runner stages inputs and commits outputs (CUSTODY_KUBERNETES_RUNNER_IMAGE).",
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        "IfNotPresent", description="Pull policy of every container (CUSTODY_KUBERNETES_IMAGE_PULL_POLICY)."
    )
    s3_secret_name: str = Field(
        "custody-s3",
        pattern=DNS_LABEL_PATTERN,
        description="Secret in the job namespace holding `access-key-id` and `secret-access-key` (CUSTODY_KUBERNETES_S3_SECRET_NAME).",
    )
    s3_endpoint_url: str | None = Field(
        None, description="S3 endpoint as seen from inside the cluster; unset means the AWS default (CUSTODY_KUBERNETES_S3_ENDPOINT_URL)."
    )
    s3_region: str = Field("us-east-1", description="S3 region passed to the runner (CUSTODY_KUBERNETES_S3_REGION).")
    ttl_seconds_after_finished: int = Field(
        86400,
        ge=0,
        description="Seconds a finished Job is kept; the watcher must run again within this time to report it "
        "(CUSTODY_KUBERNETES_TTL_SECONDS_AFTER_FINISHED).",
    )
    default_requests: dict[str, str] = Field(
        default_factory=lambda: {"cpu": "100m", "memory": "256Mi"},
        description="Requests of a transform whose spec sets none, as JSON (CUSTODY_KUBERNETES_DEFAULT_REQUESTS).",
    )
    default_limits: dict[str, str] = Field(
        default_factory=lambda: {"memory": "1Gi"},
        description="Limits of a transform whose spec sets none, as JSON (CUSTODY_KUBERNETES_DEFAULT_LIMITS).",
    )
    runner_requests: dict[str, str] = Field(
        default_factory=lambda: {"cpu": "50m", "memory": "128Mi"},
        description="Requests of the runner containers, as JSON (CUSTODY_KUBERNETES_RUNNER_REQUESTS).",
    )
    runner_limits: dict[str, str] = Field(
        default_factory=lambda: {"memory": "512Mi"},
        description="Limits of the runner containers, as JSON (CUSTODY_KUBERNETES_RUNNER_LIMITS).",
    )
    run_as_user: int = Field(65532, ge=1, description="Non-root user id every container runs as (CUSTODY_KUBERNETES_RUN_AS_USER).")
    pod_annotations: dict[str, str] = Field(
        default_factory=dict,
        description="Annotations added to every pod, as JSON; the local cluster's kwok reads `custody.io/simulate` "
        "(CUSTODY_KUBERNETES_POD_ANNOTATIONS).",
    )
    custom_kinds_file: Path | None = Field(
        None,
        description="YAML file of job-like custom resource kinds and the pipelines that use them (CUSTODY_KUBERNETES_CUSTOM_KINDS_FILE).",
    )
    request_attempts: int = Field(
        6, ge=1, le=20, description="Attempts of one API request on 429 and 5xx responses (CUSTODY_KUBERNETES_REQUEST_ATTEMPTS)."
    )
    retry_backoff_s: float = Field(
        0.5, gt=0, le=60, description="Seconds before the first retry of an API request; doubles each time (CUSTODY_KUBERNETES_RETRY_BACKOFF_S)."
    )
    request_timeout_s: float = Field(15.0, gt=0, description="Seconds one API request may take (CUSTODY_KUBERNETES_REQUEST_TIMEOUT_S).")
    watch_timeout_s: int = Field(
        240, ge=10, description="Seconds the server keeps one watch open before the watcher renews it (CUSTODY_KUBERNETES_WATCH_TIMEOUT_S)."
    )


def load_kubernetes_settings() -> KubernetesSettings:
    """Read the settings from the environment; raise ConfigurationError naming the variable."""
    try:
        return KubernetesSettings()
    except ValidationError as exc:
        problems = [
            f"CUSTODY_KUBERNETES_{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors(include_url=False)
        ]
        raise ConfigurationError("invalid Kubernetes settings: " + "; ".join(problems) + ". Fix the environment variable.") from None
