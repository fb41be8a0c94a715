"""A job-like custom resource instead of a batch Job, with a CRD installed in the test cluster.

No operator runs for the test kind, so the test plays its part: it sets the
object's status conditions, as a training operator would, and checks what the
watcher reports.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from processors.k8s_api import KubeApi
from processors.k8s_jobs import name_for
from processors.k8s_settings import KubernetesSettings
from tests.integration.kube.support import JobEventReader, make_executor, run, summary
from tests.unit.kube.support import make_request

GROUP = "training.custody.test"
CRD_NAME = f"trainingruns.{GROUP}"

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": CRD_NAME},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": "trainingruns", "singular": "trainingrun", "kind": "TrainingRun"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        },
                    }
                },
            }
        ],
    },
}

KINDS = {
    "kinds": [
        {
            "name": "trainingrun",
            "api_version": f"{GROUP}/v1",
            "kind": "TrainingRun",
            "plural": "trainingruns",
            "pipelines": ["train-*"],
            "template": {"spec": {"runPolicy": {"suspend": True}, "replicaSpecs": {"Worker": {"replicas": 1}}}},
            "pod_template_path": ["spec", "replicaSpecs", "Worker", "template"],
            "suspend_path": ["spec", "runPolicy", "suspend"],
        }
    ]
}


@pytest.fixture(scope="module")
def training_crd(kube_stack):
    api = KubeApi(KubernetesSettings(kubeconfig=kube_stack.kubeconfig))
    extensions = client.ApiextensionsV1Api(api.api_client)
    try:
        extensions.create_custom_resource_definition(CRD)
    except client.exceptions.ApiException as error:
        if error.status != 409:
            raise
    # The CRD serves its resource once Established.
    for _ in range(100):
        conditions = extensions.read_custom_resource_definition(CRD_NAME).status.conditions or []
        if any(c.type == "Established" and c.status == "True" for c in conditions):
            break
        time.sleep(0.1)
    yield
    api.close()


def set_conditions(api: KubeApi, namespace: str, name: str, *types: str) -> None:
    conditions = [{"type": kind, "status": "True", "lastTransitionTime": "2026-12-04T10:00:00Z"} for kind in types]
    api.custom.patch_namespaced_custom_object_status(GROUP, "v1", namespace, "trainingruns", name, {"status": {"conditions": conditions}})


def test_custom_kind_runs_and_succeeds(
    kafka_settings, unique, kube_settings, kube_api, training_crd, tmp_path
):
    kinds_file = Path(tmp_path) / "kinds.yaml"
    kinds_file.write_text(yaml.safe_dump(KINDS))
    kube = kube_settings.model_copy(update={"custom_kinds_file": kinds_file})
    prefix = f"k8s-{unique}."
    reader = JobEventReader(kafka_settings, prefix, f"k8s-reader-{unique}")
    executor = make_executor(kafka_settings, prefix, kube, tmp_path)
    request = make_request(pipeline="train-resnet", seed=unique)
    name = name_for(request, kube)
    run(executor.start())
    try:
        first = run(executor.submit(request))
        again = run(executor.submit(request))
        suspended = kube_api.custom.get_namespaced_custom_object(GROUP, "v1", kube.namespace, "trainingruns", name)
        run(executor.release(request.job_id))
        released = kube_api.custom.get_namespaced_custom_object(GROUP, "v1", kube.namespace, "trainingruns", name)

        set_conditions(kube_api, kube.namespace, name, "Created", "Running")
        reader.wait_for(request.job_id, lambda found: len(found) >= 1)
        set_conditions(kube_api, kube.namespace, name, "Created", "Succeeded")
        events = reader.wait_for(request.job_id, lambda found: any(e.type.endswith("succeeded.v1") for e in found))
        reader.drain(2.0)
    finally:
        run(executor.stop())
        reader.close()

    assert (first.created, again.created) == (True, False)
    assert kube_api.batch.list_namespaced_job(kube.namespace).items == []
    assert suspended["spec"]["runPolicy"]["suspend"] is True
    assert released["spec"]["runPolicy"]["suspend"] is False
    pod_template = released["spec"]["replicaSpecs"]["Worker"]["template"]
    assert pod_template["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod_template["metadata"]["labels"]["custody.io/job-id"] == released["metadata"]["labels"]["custody.io/job-id"]
    config_map = kube_api.core.read_namespaced_config_map(name, kube.namespace)
    assert config_map.metadata.owner_references[0].kind == "TrainingRun"
    assert summary(reader.of(request.job_id)) == [("started", 1, None), ("succeeded", 1, None)]
    assert events[-1].data.code.image == request.transform.image


def test_custom_kind_failure_is_final(
    kafka_settings, unique, kube_settings, kube_api, training_crd, tmp_path
):
    kinds_file = Path(tmp_path) / "kinds.yaml"
    kinds_file.write_text(yaml.safe_dump(KINDS))
    kube = kube_settings.model_copy(update={"custom_kinds_file": kinds_file})
    prefix = f"k8s-{unique}."
    reader = JobEventReader(kafka_settings, prefix, f"k8s-reader-{unique}")
    executor = make_executor(kafka_settings, prefix, kube, tmp_path)
    request = make_request(pipeline="train-bert", seed=unique)
    name = name_for(request, kube)
    run(executor.start())
    try:
        run(executor.submit(request))
        run(executor.release(request.job_id))
        document = kube_api.custom.get_namespaced_custom_object(GROUP, "v1", kube.namespace, "trainingruns", name)
        set_conditions(kube_api, kube.namespace, name, "Failed")
        events = reader.wait_for(request.job_id, lambda found: any(getattr(e.data, "final", False) for e in found))
    finally:
        run(executor.stop())
        reader.close()

    template = document["spec"]["replicaSpecs"]["Worker"]["template"]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {**template["metadata"], "name": name}, "spec": template["spec"]}
    created = kube_api.core.create_namespaced_pod(kube.namespace, pod, dry_run="All")
    assert created.metadata.name == name
    assert summary(events) == [("started", 1, None), ("failed", 1, True)]
    assert "TrainingRun condition Failed" in events[-1].data.reason
