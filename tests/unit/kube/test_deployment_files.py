"""k8s/ and the Dockerfile agree with the code they deploy."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

from processors.alerts.rules import RulesFile
from processors.k8s_settings import KubernetesSettings

ROOT = Path(__file__).resolve().parents[3]
BASE = ROOT / "k8s" / "base"


def documents(name: str) -> list[dict]:
    return list(yaml.safe_load_all((BASE / name).read_text()))


def config_data() -> dict[str, str]:
    return next(d for d in documents("config.yaml") if d["metadata"]["name"] == "custody-config")["data"]


def test_alert_rules_config_map_valid():
    rules = next(d for d in documents("config.yaml") if d["metadata"]["name"] == "custody-alert-rules")

    parsed = RulesFile.model_validate(yaml.safe_load(rules["data"]["rules.yaml"]))

    assert [rule.name for rule in parsed.rules] == ["job-failed-for-good"]


def test_config_map_kubernetes_variables_exist():
    fields = {f"CUSTODY_KUBERNETES_{name.upper()}" for name in KubernetesSettings.model_fields}

    variables = {key for key in config_data() if key.startswith("CUSTODY_KUBERNETES_")}

    assert variables and variables <= fields


def test_deployments_restricted_as_image_user():
    dockerfile = (ROOT / "Dockerfile").read_text()
    image_user = int(re.search(r"^USER (\d+):(\d+)$", dockerfile, re.MULTILINE).group(1))

    for name in ("producers.yaml", "processors.yaml", "lineage.yaml", "alerts.yaml"):
        deployment = next(d for d in documents(name) if d["kind"] == "Deployment")
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsUser"] == image_user, name
        for container in pod["containers"]:
            assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}, name
            assert container["resources"]["requests"], name
            assert "readinessProbe" in container, name
    assert KubernetesSettings().run_as_user == image_user


def test_dockerfile_copies_every_package_the_project_installs():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {pattern.rstrip("*") for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    dockerfile = (ROOT / "Dockerfile").read_text()

    for package in packages:
        assert f"COPY {package} ./{package}" in dockerfile, package
    assert 'ENTRYPOINT ["custody"]' in dockerfile
    assert "custody" in project["project"]["scripts"]


def test_processors_role_grants_no_access_to_secrets():
    role = next(d for d in documents("rbac.yaml") if d["kind"] == "Role")

    resources = {resource for rule in role["rules"] for resource in rule["resources"]}

    assert "secrets" not in resources
    assert role["metadata"]["namespace"] == config_data()["CUSTODY_KUBERNETES_NAMESPACE"]
