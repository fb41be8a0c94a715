"""k8s/: the local overlay applied to the real API server, and the processors' RBAC checked.

The overlay's namespaces `custody` and `custody-jobs` are renamed per test, so
runs never collide. Access is checked twice: SubjectAccessReview asked by the
administrator, and real requests made while impersonating the account.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from processors.k8s_api import AccessDenied, KubeApi
from processors.k8s_jobs import build_job
from processors.k8s_settings import KubernetesSettings
from tests.integration.kube.conftest import KubeStack
from tests.unit.kube.support import make_request

OVERLAY = Path(__file__).resolve().parents[3] / "k8s" / "overlays" / "local"


def kubectl(stack: KubeStack, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(stack.kubectl), "--kubeconfig", str(stack.kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def renamed(documents: list[dict[str, Any]], names: dict[str, str]) -> list[dict[str, Any]]:
    """Move every object from the overlay's namespaces to the test's."""
    for document in documents:
        metadata = document["metadata"]
        if document["kind"] == "Namespace":
            metadata["name"] = names[metadata["name"]]
        if "namespace" in metadata:
            metadata["namespace"] = names[metadata["namespace"]]
        for subject in document.get("subjects", []):
            subject["namespace"] = names[subject["namespace"]]
        if document["kind"] == "ConfigMap" and "CUSTODY_KUBERNETES_NAMESPACE" in document.get("data", {}):
            document["data"]["CUSTODY_KUBERNETES_NAMESPACE"] = names["custody-jobs"]
    return documents


@pytest.fixture
def applied(kube_stack: KubeStack, unique: str):
    names = {"custody": f"custody-{unique}", "custody-jobs": f"custody-jobs-{unique}"}
    rendered = kubectl(kube_stack, "kustomize", str(OVERLAY))
    assert rendered.returncode == 0, rendered.stderr
    documents = renamed(list(yaml.safe_load_all(rendered.stdout)), names)
    namespaces = [d for d in documents if d["kind"] == "Namespace"]
    others = [d for d in documents if d["kind"] != "Namespace"]

    created = kubectl(kube_stack, "apply", "--server-side", "-f", "-", stdin=yaml.safe_dump_all(namespaces))
    assert created.returncode == 0, created.stderr
    yield names, others, documents

    kubectl(kube_stack, "delete", "namespace", *names.values(), "--wait=false")


def test_overlay_passes_a_server_side_dry_run_then_applies(kube_stack: KubeStack, applied):
    names, others, _ = applied
    text = yaml.safe_dump_all(others)

    dry_run = kubectl(kube_stack, "apply", "--server-side", "--dry-run=server", "-f", "-", stdin=text)
    real = kubectl(kube_stack, "apply", "--server-side", "-f", "-", stdin=text)
    listed = kubectl(kube_stack, "get", "deployments", "-n", names["custody"], "-o", "name")

    assert dry_run.returncode == 0, dry_run.stderr
    assert "Warning" not in dry_run.stderr, dry_run.stderr
    assert real.returncode == 0, real.stderr
    assert sorted(listed.stdout.split()) == [
        f"deployment.apps/custody-{name}" for name in ("alerts", "lineage", "processors", "producers")
    ]


def test_every_pod_template_passes_restricted_pod_security(kube_stack: KubeStack, applied):
    names, others, _ = applied
    kubectl(kube_stack, "apply", "--server-side", "-f", "-", stdin=yaml.safe_dump_all(others))
    deployments = [d for d in others if d["kind"] == "Deployment"]

    pods = [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": d["metadata"]["name"], "namespace": names["custody"], "labels": d["spec"]["template"]["metadata"]["labels"]},
            "spec": d["spec"]["template"]["spec"],
        }
        for d in deployments
    ]
    result = kubectl(kube_stack, "create", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump_all(pods))

    assert len(pods) == 4
    assert result.returncode == 0, result.stderr


def test_subject_access_review_allows_jobs_in_the_jobs_namespace_only(kube_stack: KubeStack, applied):
    names, others, _ = applied
    kubectl(kube_stack, "apply", "--server-side", "-f", "-", stdin=yaml.safe_dump_all(others))
    admin = KubeApi(KubernetesSettings(kubeconfig=kube_stack.kubeconfig))
    from kubernetes import client

    authorization = client.AuthorizationV1Api(admin.api_client)
    user = f"system:serviceaccount:{names['custody']}:custody-processors"

    def allowed(verb: str, resource: str, namespace: str, group: str = "") -> bool:
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": user,
                "groups": ["system:serviceaccounts", f"system:serviceaccounts:{names['custody']}", "system:authenticated"],
                "resourceAttributes": {"verb": verb, "resource": resource, "group": group, "namespace": namespace},
            },
        }
        return bool(authorization.create_subject_access_review(review).status.allowed)

    jobs = names["custody-jobs"]
    assert allowed("create", "jobs", jobs, "batch")
    assert allowed("watch", "jobs", jobs, "batch")
    assert allowed("patch", "jobs", jobs, "batch")
    assert allowed("create", "configmaps", jobs)
    assert not allowed("get", "secrets", jobs)
    assert not allowed("list", "secrets", names["custody"])
    assert not allowed("create", "jobs", names["custody"], "batch")
    assert not allowed("create", "jobs", "default", "batch")
    assert not allowed("create", "pods", jobs)
    admin.close()


def test_impersonated_processor_account_creates_jobs_but_cannot_read_secrets(kube_stack: KubeStack, applied):
    names, others, _ = applied
    kubectl(kube_stack, "apply", "--server-side", "-f", "-", stdin=yaml.safe_dump_all(others))
    jobs = names["custody-jobs"]
    settings = KubernetesSettings(kubeconfig=kube_stack.kubeconfig, namespace=jobs, request_attempts=1)
    processor = KubeApi(settings)
    # The administrator (system:masters) may impersonate; the RoleBinding names the account as a user.
    processor.api_client.set_default_header("Impersonate-User", f"system:serviceaccount:{names['custody']}:custody-processors")
    job = build_job(make_request(service_account="custody-runner"), settings)
    elsewhere = build_job(make_request(service_account="custody-runner"), settings.model_copy(update={"namespace": "default"}))

    created = processor.call("CREATE job", processor.batch.create_namespaced_job, jobs, job, dry_run="All")

    with pytest.raises(AccessDenied):
        processor.call("LIST secrets", processor.core.list_namespaced_secret, jobs)
    with pytest.raises(AccessDenied):
        processor.call("CREATE job elsewhere", processor.batch.create_namespaced_job, "default", elsewhere, dry_run="All")
    assert created.metadata.namespace == jobs
    processor.close()
