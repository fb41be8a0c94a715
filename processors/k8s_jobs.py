"""Build the batch/v1 Job (and its request ConfigMap) for one job request. Pure: no API calls.

The Job runs one attempt per pod, and the Job controller makes at most
`retries.count` more (`backoffLimit`), waiting its own exponential back-off
(10 s, doubling, at most 6 minutes) between them. The pod follows the runner
contract in docs/kubernetes.md, with `python -m processors.k8s_runner` in the
Custody containers:

1. init container `stage-inputs` (Custody image) copies the input files listed in
   `/etc/custody/request.json` from S3 into `/work/inputs/<repo>/`;
2. container `transform` (the pipeline's image) runs the command under a
   `/bin/sh` wrapper that writes the command's exit code to
   `/work/status/exit-code`, then exits with that code;
3. container `commit-outputs` (Custody image) waits for that file and commits
   `/work/outputs/` only when it reads 0, writing the commit id as its
   termination message. It is a regular container, so a failed commit fails the
   pod and the Job controller retries it like a failed transform.

The transform keeps its own image, so the watcher takes the image digest (the
code identity on Kubernetes) from the `transform` container's status.

The pod passes the `restricted` Pod Security Standard: non-root user, no
privilege escalation, every capability dropped, RuntimeDefault seccomp, only
emptyDir and ConfigMap volumes. S3 credentials come from a Secret reference,
never from a value in the manifest. The Job is created suspended; `release`
unsuspends it after JobScheduled is on Kafka.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from custody.errors import ValidationFailed
from custody.settings import Settings
from processors.executors.base import JobRequest
from processors.k8s_naming import job_name, label_value
from processors.k8s_settings import KubernetesSettings
from processors.runner import contract_environment

ANNOTATION_PREFIX = "custody.io/"
LABEL_PIPELINE = "custody.io/pipeline"
LABEL_PIPELINE_VERSION = "custody.io/pipeline-version"
LABEL_JOB_ID = "custody.io/job-id"
LABEL_OUTPUT_REPO = "custody.io/output-repo"
LABEL_INPUT_REPO = "custody.io/input-repo"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "custody-processors"

ANNOTATION_JOB_ID = "custody.io/job-id"
ANNOTATION_PIPELINE = "custody.io/pipeline"
ANNOTATION_PIPELINE_VERSION = "custody.io/pipeline-version"
ANNOTATION_OUTPUT_REPO = "custody.io/output-repo"
ANNOTATION_INPUTS = "custody.io/inputs"
ANNOTATION_SCHEDULED_EVENT = "custody.io/scheduled-event-id"
ANNOTATION_SERVICE_ACCOUNT = "custody.io/service-account"

REQUEST_KEY = "request.json"
REQUEST_MOUNT = "/etc/custody"
WORK_MOUNT = "/work"
INPUTS_DIR = "/work/inputs"
OUTPUTS_DIR = "/work/outputs"
STATUS_DIR = "/work/status"
EXIT_CODE_FILE = "exit-code"
RUNNER_MODULE = "processors.k8s_runner"
STAGE_STEP = "stage-in"
COMMIT_STEP = "commit-outputs"
STAGE_CONTAINER = "stage-inputs"
COMMIT_CONTAINER = "commit-outputs"
# Exit codes of the runner that no retry can fix, after sysexits.h: 65 (EX_DATAERR) a permanent
# error such as an input whose SHA-256 differs, 78 (EX_CONFIG) an invalid setting or request.
# The Job's podFailurePolicy fails the Job at once on them.
RUNNER_EXIT_PERMANENT = 65
RUNNER_EXIT_CONFIG = 78
RUNNER_PERMANENT_EXIT_CODES = (RUNNER_EXIT_PERMANENT, RUNNER_EXIT_CONFIG)
# Runs the transform command given as "$@" and records its exit code for commit-outputs,
# using only shell built-ins. The reader takes the file as complete once it ends in a newline.
TRANSFORM_WRAPPER = f'"$@"; code=$?; printf "%s\\n" "$code" > "$CUSTODY_STATUS_DIR/{EXIT_CODE_FILE}"; exit "$code"'

# A ConfigMap is limited to 1 MiB, and the margin leaves room for its metadata.
MAX_REQUEST_BYTES = 900 * 1024
# The Job controller waits 10 s before the first retry, doubling up to 6 minutes.
CONTROLLER_BACKOFF_S = 10.0
CONTROLLER_MAX_BACKOFF_S = 360.0
# Time for the runner to stage inputs and commit outputs, on top of the transform's timeout.
RUNNER_OVERHEAD_S = 300


def labels_for(request: JobRequest) -> dict[str, str]:
    """Return the labels of the Job and its pods; every value is a valid label value."""
    labels = {
        LABEL_MANAGED_BY: MANAGED_BY,
        "app.kubernetes.io/part-of": "custody",
        "app.kubernetes.io/component": "pipeline-job",
        LABEL_PIPELINE: label_value(request.pipeline),
        LABEL_PIPELINE_VERSION: label_value(request.pipeline_version),
        LABEL_JOB_ID: label_value(request.job_id),
        LABEL_OUTPUT_REPO: label_value(request.output_repo),
    }
    input_repos = list(dict.fromkeys(commit.repo for commit in request.inputs))
    if len(input_repos) == 1:
        labels[LABEL_INPUT_REPO] = label_value(input_repos[0])
    return labels


def annotations_for(request: JobRequest) -> dict[str, str]:
    """Return the annotations that carry the full identifiers."""
    inputs = [{"repo": commit.repo, "commit_id": commit.commit_id} for commit in request.inputs]
    return {
        ANNOTATION_JOB_ID: request.job_id,
        ANNOTATION_PIPELINE: request.pipeline,
        ANNOTATION_PIPELINE_VERSION: request.pipeline_version,
        ANNOTATION_OUTPUT_REPO: request.output_repo,
        ANNOTATION_INPUTS: json.dumps(inputs, separators=(",", ":")),
        ANNOTATION_SCHEDULED_EVENT: request.scheduled_event_id,
        ANNOTATION_SERVICE_ACCOUNT: request.service_account,
    }


def name_for(request: JobRequest, settings: KubernetesSettings) -> str:
    """Return the Job name of the request (also the name of its request ConfigMap)."""
    return job_name(request.pipeline, request.job_id, prefix=settings.name_prefix)


def job_selector(job_id: str) -> str:
    """Return the label selector that finds the Job of one job id."""
    return f"{LABEL_JOB_ID}={label_value(job_id)}"


def managed_selector() -> str:
    """Return the label selector of every Job the executor created."""
    return f"{LABEL_MANAGED_BY}={MANAGED_BY}"


def request_config_map(
    request: JobRequest,
    settings: KubernetesSettings,
    *,
    owner_uid: str | None = None,
    owner_api_version: str = "batch/v1",
    owner_kind: str = "Job",
) -> dict[str, Any]:
    """Return the ConfigMap holding the request, owned by the Job (or custom object) so that both are deleted together.

    Raises ValidationFailed when the request is larger than a ConfigMap can hold.
    """
    payload = request.model_dump_json()
    if len(payload.encode("utf-8")) > MAX_REQUEST_BYTES:
        raise ValidationFailed(
            f"job={request.job_id} pipeline={request.pipeline}: its request is {len(payload.encode('utf-8'))} bytes, "
            f"more than the {MAX_REQUEST_BYTES} a ConfigMap can hold; narrow the input glob so fewer files are staged."
        )

    name = name_for(request, settings)
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": settings.namespace,
        "labels": labels_for(request),
        "annotations": {ANNOTATION_JOB_ID: request.job_id},
    }
    if owner_uid is not None:
        metadata["ownerReferences"] = [
            {"apiVersion": owner_api_version, "kind": owner_kind, "name": name, "uid": owner_uid, "blockOwnerDeletion": False}
        ]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {REQUEST_KEY: payload}}


def runner_connection_env(settings: Settings) -> dict[str, str]:
    """Return the worker's Kafka address and topic prefix, which the runner needs to send the output commit.

    NOTE: SASL and SSL secrets of Kafka are not passed on yet, so on a Kafka
    that needs them the commit-outputs step fails; a Secret reference setting
    for them, like the S3 one, would end this.
    """
    return {
        "CUSTODY_TOPIC_PREFIX": settings.topic_prefix,
        "CUSTODY_KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "CUSTODY_KAFKA_SECURITY_PROTOCOL": settings.kafka.security_protocol,
    }


def build_job(request: JobRequest, settings: KubernetesSettings, *, runner_env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return the batch/v1 Job manifest of the request, suspended.

    `runner_env` adds plain variables to the runner containers, such as
    `runner_connection_env` of the worker's settings.
    """
    if not request.transform.image:
        raise ValidationFailed(f"job={request.job_id} pipeline={request.pipeline}: the kubernetes executor needs transform.image.")

    name = name_for(request, settings)
    labels = labels_for(request)
    annotations = annotations_for(request)
    attempt_deadline = math.ceil(request.timeout_s) + RUNNER_OVERHEAD_S

    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": settings.namespace, "labels": labels, "annotations": annotations},
        "spec": {
            "suspend": True,
            "completions": 1,
            "parallelism": 1,
            "backoffLimit": request.retries.count,
            "activeDeadlineSeconds": job_deadline_s(attempt_deadline, request.retries.max_attempts),
            "ttlSecondsAfterFinished": settings.ttl_seconds_after_finished,
            # A new pod only once the failed one has fully stopped, so two
            # attempts of one job never run side by side.
            "podReplacementPolicy": "Failed",
            "podFailurePolicy": {"rules": _permanent_failure_rules()},
            "template": {
                "metadata": {"labels": labels, "annotations": {**annotations, **settings.pod_annotations}},
                "spec": _pod_spec(request, settings, name=name, attempt_deadline_s=attempt_deadline, runner_env=runner_env or {}),
            },
        },
    }


def job_deadline_s(attempt_deadline_s: int, max_attempts: int) -> int:
    """Return the Job's activeDeadlineSeconds: every attempt's deadline plus the controller's waits between them."""
    waits = sum(min(CONTROLLER_MAX_BACKOFF_S, CONTROLLER_BACKOFF_S * 2**index) for index in range(max_attempts - 1))
    return attempt_deadline_s * max_attempts + math.ceil(waits)


def _permanent_failure_rules() -> list[dict[str, Any]]:
    return [
        {
            "action": "FailJob",
            "onExitCodes": {"containerName": container, "operator": "In", "values": list(RUNNER_PERMANENT_EXIT_CODES)},
        }
        for container in (STAGE_CONTAINER, COMMIT_CONTAINER)
    ]


def _pod_spec(
    request: JobRequest, settings: KubernetesSettings, *, name: str, attempt_deadline_s: int, runner_env: Mapping[str, str]
) -> dict[str, Any]:
    transform = request.transform
    resources = {
        "requests": dict(transform.resources.requests) or dict(settings.default_requests),
        "limits": dict(transform.resources.limits) or dict(settings.default_limits),
    }
    # The same variables as a local transform gets, except CUSTODY_ATTEMPT: one pod
    # template serves every attempt. CUSTODY_STATUS_DIR is for the wrapper.
    contract = contract_environment(request, inputs_dir=PurePosixPath(INPUTS_DIR), outputs_dir=PurePosixPath(OUTPUTS_DIR))
    transform_env = [{"name": key, "value": value} for key, value in sorted(transform.env.items())]
    transform_env += [{"name": key, "value": value} for key, value in contract.items()]
    transform_env.append({"name": "CUSTODY_STATUS_DIR", "value": STATUS_DIR})
    transform_container: dict[str, Any] = {
        "name": "transform",
        "image": transform.image,
        "imagePullPolicy": settings.image_pull_policy,
        # The wrapper's $0 is "custody-transform"; the spec's command and args follow as "$@".
        "command": ["/bin/sh", "-c", TRANSFORM_WRAPPER, "custody-transform"],
        "args": [*transform.command, *transform.args],
        "env": transform_env,
        "resources": resources,
        "securityContext": _container_security(read_only_root=False),
        "volumeMounts": [{"name": "work", "mountPath": WORK_MOUNT}, {"name": "tmp", "mountPath": "/tmp"}],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if transform.working_dir:
        transform_container["workingDir"] = transform.working_dir

    return {
        "restartPolicy": "Never",
        "serviceAccountName": request.service_account,
        # The job talks to S3, never to the Kubernetes API.
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "activeDeadlineSeconds": attempt_deadline_s,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": settings.run_as_user,
            "runAsGroup": settings.run_as_user,
            "fsGroup": settings.run_as_user,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "initContainers": [_runner_container(STAGE_CONTAINER, STAGE_STEP, settings, runner_env)],
        "containers": [transform_container, _runner_container(COMMIT_CONTAINER, COMMIT_STEP, settings, runner_env)],
        "volumes": [
            {"name": "work", "emptyDir": {}},
            {"name": "tmp", "emptyDir": {}},
            {"name": "request", "configMap": {"name": name, "items": [{"key": REQUEST_KEY, "path": REQUEST_KEY}]}},
        ],
    }


def _runner_container(name: str, step: str, settings: KubernetesSettings, runner_env: Mapping[str, str]) -> dict[str, Any]:
    env: list[dict[str, Any]] = [
        {"name": "CUSTODY_JOB_REQUEST", "value": f"{REQUEST_MOUNT}/{REQUEST_KEY}"},
        {"name": "CUSTODY_INPUTS", "value": INPUTS_DIR},
        {"name": "CUSTODY_OUTPUTS", "value": OUTPUTS_DIR},
        {"name": "CUSTODY_STATUS_DIR", "value": STATUS_DIR},
        {"name": "CUSTODY_S3_REGION", "value": settings.s3_region},
        _secret_env("CUSTODY_S3_ACCESS_KEY_ID", settings.s3_secret_name, "access-key-id"),
        _secret_env("CUSTODY_S3_SECRET_ACCESS_KEY", settings.s3_secret_name, "secret-access-key"),
    ]
    if settings.s3_endpoint_url:
        env.append({"name": "CUSTODY_S3_ENDPOINT_URL", "value": settings.s3_endpoint_url})
    env += [{"name": key, "value": value} for key, value in sorted(runner_env.items())]
    return {
        "name": name,
        "image": settings.runner_image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["python", "-m", RUNNER_MODULE, step],
        "env": env,
        "resources": {"requests": dict(settings.runner_requests), "limits": dict(settings.runner_limits)},
        "securityContext": _container_security(read_only_root=True),
        "volumeMounts": [
            {"name": "work", "mountPath": WORK_MOUNT},
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "request", "mountPath": REQUEST_MOUNT, "readOnly": True},
        ],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }


def _secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _container_security(*, read_only_root: bool) -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "readOnlyRootFilesystem": read_only_root,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
