"""The Job manifest: names, labels, limits, security and credentials."""

from __future__ import annotations

import json

import pytest

from custody.errors import ValidationFailed
from processors.k8s_jobs import (
    ANNOTATION_INPUTS,
    ANNOTATION_JOB_ID,
    LABEL_JOB_ID,
    LABEL_INPUT_REPO,
    MAX_REQUEST_BYTES,
    build_job,
    job_deadline_s,
    job_selector,
    request_config_map,
)
from processors.k8s_naming import is_dns_label, is_label_value
from processors.k8s_settings import KubernetesSettings
from tests.unit.kube.support import make_request

SETTINGS = KubernetesSettings(namespace="custody-jobs", s3_secret_name="custody-s3", s3_endpoint_url="http://s3.local:7070")


def all_containers(job):
    pod = job["spec"]["template"]["spec"]
    return pod["initContainers"] + pod["containers"]


def test_job_valid_for_long_and_odd_names():
    request = make_request(pipeline="p" * 80, repo="Train_Model.V2", output_repo="_results.")

    job = build_job(request, SETTINGS)

    assert is_dns_label(job["metadata"]["name"])
    for key, value in job["metadata"]["labels"].items():
        assert is_label_value(value), (key, value)
    assert job["metadata"]["labels"][LABEL_INPUT_REPO] == "Train_Model.V2"
    assert job["metadata"]["annotations"]["custody.io/pipeline"] == "p" * 80
    assert job["metadata"]["annotations"]["custody.io/output-repo"] == "_results."


def test_job_full_ids_in_annotations():
    request = make_request()

    job = build_job(request, SETTINGS)

    assert job["metadata"]["annotations"][ANNOTATION_JOB_ID] == request.job_id
    assert json.loads(job["metadata"]["annotations"][ANNOTATION_INPUTS]) == [
        {"repo": "Train_Model.V2", "commit_id": request.inputs[0].commit_id}
    ]
    key, value = job_selector(request.job_id).split("=")
    assert job["metadata"]["labels"][key] == value == job["spec"]["template"]["metadata"]["labels"][LABEL_JOB_ID]


def test_job_limits_from_request_and_settings():
    request = make_request(retries=2, timeout_s=120)

    spec = build_job(request, SETTINGS)["spec"]

    assert spec["backoffLimit"] == 2
    assert spec["ttlSecondsAfterFinished"] == SETTINGS.ttl_seconds_after_finished
    pod_deadline = spec["template"]["spec"]["activeDeadlineSeconds"]
    assert pod_deadline >= 120
    assert spec["activeDeadlineSeconds"] == job_deadline_s(pod_deadline, 3)
    assert spec["activeDeadlineSeconds"] >= 3 * pod_deadline + 10 + 20


def test_job_suspended_one_pod_at_a_time():
    spec = build_job(make_request(), SETTINGS)["spec"]

    assert spec["suspend"] is True
    assert (spec["completions"], spec["parallelism"], spec["podReplacementPolicy"]) == (1, 1, "Failed")


def test_job_resources_spec_then_defaults():
    with_resources = make_request(resources={"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "8Gi"}})

    transform = build_job(with_resources, SETTINGS)["spec"]["template"]["spec"]["containers"][0]
    default = build_job(make_request(), SETTINGS)["spec"]["template"]["spec"]["containers"][0]

    assert transform["resources"] == {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "8Gi"}}
    assert default["resources"] == {"requests": SETTINGS.default_requests, "limits": SETTINGS.default_limits}
    assert all("resources" in container and container["resources"]["requests"] for container in all_containers(build_job(make_request(), SETTINGS)))


def test_pod_meets_the_restricted_pod_security_standard():
    pod = build_job(make_request(), SETTINGS)["spec"]["template"]["spec"]

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["initContainers"] + pod["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["runAsNonRoot"] is True
    assert {key for volume in pod["volumes"] for key in volume} <= {"name", "emptyDir", "configMap"}
    assert pod["automountServiceAccountToken"] is False


def test_service_account_is_the_requests():
    pod = build_job(make_request(service_account="cardiology-runner"), SETTINGS)["spec"]["template"]["spec"]

    assert pod["serviceAccountName"] == "cardiology-runner"


def test_s3_credentials_are_secret_references_and_never_values():
    job = build_job(make_request(env={"MODE": "fast"}), SETTINGS)

    text = json.dumps(job)
    assert "custody-dev-secret" not in text
    for container in all_containers(job):
        names = {entry["name"]: entry for entry in container["env"]}
        for variable in ("CUSTODY_S3_ACCESS_KEY_ID", "CUSTODY_S3_SECRET_ACCESS_KEY"):
            if variable in names:
                assert "value" not in names[variable]
                assert names[variable]["valueFrom"]["secretKeyRef"]["name"] == "custody-s3"
    runner_env = {entry["name"] for entry in all_containers(job)[0]["env"]}
    assert {"CUSTODY_S3_ACCESS_KEY_ID", "CUSTODY_S3_SECRET_ACCESS_KEY"} <= runner_env


def test_transform_command_env_and_directories():
    transform = build_job(make_request(command=["python", "fit.py"], args=["--epochs", "3"], env={"MODE": "fast"}), SETTINGS)[
        "spec"
    ]["template"]["spec"]["containers"][0]

    assert transform["command"][:2] == ["/bin/sh", "-c"]
    assert transform["args"] == ["python", "fit.py", "--epochs", "3"]
    env = {entry["name"]: entry.get("value") for entry in transform["env"]}
    assert env["MODE"] == "fast"
    assert env["CUSTODY_INPUTS"] == "/work/inputs"
    assert env["CUSTODY_OUTPUTS"] == "/work/outputs"


def test_pod_annotations_from_settings_reach_the_pod_only():
    settings = KubernetesSettings(pod_annotations={"custody.io/simulate": "fail"})

    job = build_job(make_request(), settings)

    assert job["spec"]["template"]["metadata"]["annotations"]["custody.io/simulate"] == "fail"
    assert "custody.io/simulate" not in job["metadata"]["annotations"]


def test_request_config_map_owned_by_job():
    request = make_request()

    config_map = request_config_map(request, SETTINGS, owner_uid="uid-1")

    assert config_map["metadata"]["name"] == build_job(request, SETTINGS)["metadata"]["name"]
    assert config_map["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert json.loads(config_map["data"]["request.json"])["job_id"] == request.job_id


def test_request_too_large_is_rejected():
    huge = make_request(env={"BLOB": "x" * (MAX_REQUEST_BYTES + 1)})

    with pytest.raises(ValidationFailed, match="narrow the input glob"):
        request_config_map(huge, SETTINGS)


def test_job_without_image_is_rejected():
    with pytest.raises(ValidationFailed, match="transform.image"):
        build_job(make_request(image=None), SETTINGS)
