"""The Job builder's objects against the real API server: validation, Pod Security and names."""

from __future__ import annotations

import copy
import subprocess

import pytest

from processors.k8s_api import KubeApi, Rejected
from processors.k8s_jobs import build_job, request_config_map
from tests.integration.kube.conftest import KubeStack
from tests.unit.kube.support import make_request


def pod_from(job: dict, namespace: str) -> dict:
    template = job["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {**template["metadata"], "name": job["metadata"]["name"], "namespace": namespace},
        "spec": template["spec"],
    }


def test_kubeconfig_and_kubectl_reach_the_api_server(kube_stack: KubeStack):
    result = subprocess.run(
        [str(kube_stack.kubectl), "--kubeconfig", str(kube_stack.kubeconfig), "get", "nodes", "-o", "name"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "node/custody-kwok-node-0"


@pytest.mark.parametrize(
    ("pipeline", "repo", "output_repo"),
    [
        ("n" * 80, "Train_Model.V2", "model-artifacts"),
        ("radiology-report-deidentification-and-structured-extractions-alpha-v10", "_raw.scans", "Out.Put_"),
    ],
)
def test_api_server_accepts_the_job_and_its_config_map(kube_api: KubeApi, kube_namespace: str, kube_settings, pipeline, repo, output_repo):
    request = make_request(pipeline=pipeline, repo=repo, output_repo=output_repo)
    job = build_job(request, kube_settings)

    created = kube_api.batch.create_namespaced_job(kube_namespace, job, dry_run="All")
    config_map = kube_api.core.create_namespaced_config_map(kube_namespace, request_config_map(request, kube_settings), dry_run="All")

    assert created.metadata.name == job["metadata"]["name"]
    assert created.metadata.labels["custody.io/pipeline"] == job["metadata"]["labels"]["custody.io/pipeline"]
    assert config_map.metadata.name == created.metadata.name


def test_pod_passes_the_restricted_pod_security_standard(kube_api: KubeApi, kube_namespace: str, kube_settings):
    pod = pod_from(build_job(make_request(), kube_settings), kube_namespace)

    created = kube_api.core.create_namespaced_pod(kube_namespace, pod, dry_run="All")

    assert created.spec.security_context.run_as_non_root is True


def test_namespace_really_enforces_restricted(kube_api: KubeApi, kube_namespace: str, kube_settings):
    # The check above means something only if a weaker pod is refused here.
    pod = pod_from(build_job(make_request(), kube_settings), kube_namespace)
    weaker = copy.deepcopy(pod)
    del weaker["spec"]["containers"][0]["securityContext"]["capabilities"]

    with pytest.raises(Rejected, match="restricted"):
        kube_api.call("CREATE pod", kube_api.core.create_namespaced_pod, kube_namespace, weaker, dry_run="All")


def test_invalid_job_is_rejected_with_the_api_servers_message(kube_api: KubeApi, kube_namespace: str, kube_settings):
    # The spec model accepts each quantity; only the API server knows a request may not exceed its limit.
    request = make_request(resources={"requests": {"memory": "4Gi"}, "limits": {"memory": "1Gi"}})
    job = build_job(request, kube_settings)

    with pytest.raises(Rejected) as raised:
        kube_api.call("CREATE job", kube_api.batch.create_namespaced_job, kube_namespace, job)

    assert raised.value.status == 422
    assert "must be less than or equal to memory limit" in raised.value.message
