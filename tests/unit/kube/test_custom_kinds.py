"""Job-like custom kinds: selection by pipeline, object shape, suspend and status mapping."""

from __future__ import annotations

import pytest
import yaml

from custody.errors import ConfigurationError
from processors.k8s_custom import CustomKind, build_custom_object, custom_transitions, kind_for, load_custom_kinds, suspend_patch
from processors.k8s_settings import KubernetesSettings
from tests.unit.kube.support import make_request

TFJOB = CustomKind(
    name="tfjob",
    api_version="kubeflow.org/v1",
    kind="TFJob",
    plural="tfjobs",
    pipelines=["train-*", "fit"],
    template={"spec": {"tfReplicaSpecs": {"Worker": {"replicas": 1, "restartPolicy": "Never"}}}},
    pod_template_path=["spec", "tfReplicaSpecs", "Worker", "template"],
    suspend_path=["spec", "runPolicy", "suspend"],
)


@pytest.mark.parametrize(("pipeline", "expected"), [("train-resnet", TFJOB), ("fit", TFJOB), ("fitness", None), ("etl-train-x", None)])
def test_pipelines_are_matched_by_their_patterns(pipeline, expected):
    assert kind_for(pipeline, [TFJOB]) == expected


def test_custom_object_shape_and_suspend():
    settings = KubernetesSettings(namespace="jobs")
    request = make_request(pipeline="train-resnet")

    document = build_custom_object(request, settings, TFJOB)

    assert (document["apiVersion"], document["kind"]) == ("kubeflow.org/v1", "TFJob")
    assert document["metadata"]["labels"]["custody.io/pipeline"] == "train-resnet"
    worker = document["spec"]["tfReplicaSpecs"]["Worker"]
    assert worker["replicas"] == 1
    assert worker["template"]["spec"]["containers"][0]["image"] == request.transform.image
    assert document["spec"]["runPolicy"]["suspend"] is True
    assert TFJOB.template["spec"]["tfReplicaSpecs"]["Worker"].get("template") is None


def test_release_patch_sets_only_the_suspend_field():
    assert suspend_patch(TFJOB, False) == {"spec": {"runPolicy": {"suspend": False}}}


def status(*types, false=()):
    conditions = [{"type": kind, "status": "True"} for kind in types] + [{"type": kind, "status": "False"} for kind in false]
    return {"status": {"conditions": conditions}}


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({}, []),
        (status("Created"), []),
        (status("Created", "Running"), [("started", 1, False)]),
        (status("Succeeded"), [("started", 1, False), ("succeeded", 1, False)]),
        (status("Failed"), [("started", 1, False), ("failed", 1, True)]),
        (status("Created", false=("Running", "Failed")), []),
    ],
)
def test_conditions_map_to_one_attempt(document, expected):
    assert [(t.kind, t.attempt, t.final) for t in custom_transitions(TFJOB, document)] == expected


def test_kinds_file_is_read_and_validated(tmp_path):
    path = tmp_path / "kinds.yaml"
    path.write_text(yaml.safe_dump({"kinds": [TFJOB.model_dump()]}))

    assert load_custom_kinds(path) == [TFJOB]
    assert load_custom_kinds(None) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"kinds": [{**TFJOB.model_dump(), "template": {"metadata": {"name": "x"}}}]}, "must not set metadata"),
        ({"kinds": [{**TFJOB.model_dump(), "pipelines": []}]}, "pipelines"),
        ({"kinds": [{**TFJOB.model_dump(), "surprise": 1}]}, "surprise"),
    ],
)
def test_invalid_kinds_file_names_the_problem(tmp_path, content, message):
    path = tmp_path / "kinds.yaml"
    path.write_text(yaml.safe_dump(content))

    with pytest.raises(ConfigurationError, match=message):
        load_custom_kinds(path)


def test_missing_kinds_file_names_the_setting(tmp_path):
    with pytest.raises(ConfigurationError, match="CUSTODY_KUBERNETES_CUSTOM_KINDS_FILE"):
        load_custom_kinds(tmp_path / "absent.yaml")
