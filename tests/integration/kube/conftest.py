"""The real Kubernetes control plane of the local stack, and a fresh namespace per test.

The session fixture starts the `kube` group (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, kwok) from the cached build, building
it first on a new machine, and stops at the end what it started unless
CUSTODY_KEEP_STACK=1. Each test gets a namespace that enforces the
`restricted` Pod Security Standard, with the runner's service account and S3
Secret, and deleted afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from custody.devstack import stack
from custody.devstack.config import StackSettings
from custody.devstack.kube import kubeconfig_path, kubectl_path
from custody.devstack.tools import client_host, join_host_port
from custody.errors import CustodyError
from processors.k8s_api import KubeApi
from processors.k8s_settings import KubernetesSettings

RUNNER_ACCOUNT = "custody-runner"


@dataclass(frozen=True)
class KubeStack:
    """Endpoints and tools of the test cluster."""

    kubeconfig: Path
    kubectl: Path
    etcd_url: str


@pytest.fixture(scope="session")
def kube_stack() -> Iterator[KubeStack]:
    settings = StackSettings()
    running_before = {row.name for row in stack.status(settings) if row.healthy}
    try:
        stack.up(settings, ["kube"])
    except CustodyError as exc:
        pytest.fail(f"could not start the Kubernetes control plane: {exc}", pytrace=False)

    yield KubeStack(
        kubeconfig=kubeconfig_path(settings),
        kubectl=kubectl_path(settings),
        etcd_url=f"http://{join_host_port(client_host(settings.host), settings.kube_etcd_port)}",
    )

    started = [name for name in stack.KUBE_SERVICE_NAMES if name not in running_before]
    if started and os.environ.get("CUSTODY_KEEP_STACK") != "1":
        stack.down(settings, started)


@pytest.fixture
def kube_namespace(kube_stack: KubeStack, unique: str) -> Iterator[str]:
    name = f"custody-test-{unique}"
    api = KubeApi(KubernetesSettings(kubeconfig=kube_stack.kubeconfig, namespace=name))
    labels = {"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}
    api.core.create_namespace({"metadata": {"name": name, "labels": labels}})
    api.core.create_namespaced_service_account(name, {"metadata": {"name": RUNNER_ACCOUNT}})
    api.core.create_namespaced_secret(
        name,
        {
            "metadata": {"name": "custody-s3"},
            "stringData": {"access-key-id": "custody", "secret-access-key": "not-a-real-secret"},
        },
    )
    yield name
    api.core.delete_namespace(name, propagation_policy="Background")
    api.close()


@pytest.fixture
def kube_settings(kube_stack: KubeStack, kube_namespace: str) -> KubernetesSettings:
    return KubernetesSettings(kubeconfig=kube_stack.kubeconfig, namespace=kube_namespace, s3_endpoint_url="http://127.0.0.1:7070")


@pytest.fixture
def kube_api(kube_settings: KubernetesSettings) -> Iterator[KubeApi]:
    api = KubeApi(kube_settings)
    yield api
    api.close()
