"""The local control plane's build pins, certificates, kwok stages and stack selection."""

from __future__ import annotations

import datetime

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from custody.devstack import stack
from custody.devstack.config import StackSettings
from custody.devstack.kube_build import MODULE_DIR, PROGRAMS, module_versions, parse_go_mod
from custody.devstack.kube_pki import CLIENTS, ensure_pki
from custody.devstack.kube_stages import SIMULATE, SIMULATE_OUTCOMES, kwok_config_text, node_manifest, stages
from custody.errors import StackError


def test_staging_modules_match_kubernetes_release():
    versions = module_versions()

    assert versions.kubernetes.startswith("v1.")
    assert len(versions.staging) >= 30
    assert set(versions.staging.values()) == {versions.staging_release}


def test_every_staging_module_that_kubernetes_replaces_is_pinned(tmp_path):
    # k8s.io/kubernetes replaces these with ./staging directories, which only
    # exist inside its repository; a missing pin breaks the build.
    needed = {"k8s.io/api", "k8s.io/apimachinery", "k8s.io/apiserver", "k8s.io/client-go", "k8s.io/kubectl", "k8s.io/kube-scheduler"}

    assert needed <= set(module_versions().staging)


def test_go_mod_without_kubernetes_is_refused():
    with pytest.raises(StackError, match="k8s.io/kubernetes"):
        parse_go_mod("module x\n\ngo 1.26.0\n\nrequire sigs.k8s.io/kwok v0.8.0\n")


def test_comment_lines_are_not_read_as_requirements():
    text = (MODULE_DIR / "go.mod").read_text() + "\n// k8s.io/kubernetes v9.9.9\n"

    assert parse_go_mod(text).kubernetes != "v9.9.9"


def test_programs_are_module_tools():
    go_mod = (MODULE_DIR / "go.mod").read_text()

    for program, package in PROGRAMS.items():
        if package.startswith("./"):
            assert (MODULE_DIR / package / "main.go").exists(), program
        else:
            assert f"\t{package}\n" in go_mod, program


def test_certificates_identify_each_component_and_share_one_authority(tmp_path):
    pki = ensure_pki(tmp_path / "pki", server_url="https://127.0.0.1:6443")
    ca = x509.load_pem_x509_certificate(pki.crt("ca").read_bytes())

    for stem, user, groups in CLIENTS:
        cert = x509.load_pem_x509_certificate(pki.crt(stem).read_bytes())
        cert.verify_directly_issued_by(ca)
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == user
        assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == list(groups)
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert ExtendedKeyUsageOID.CLIENT_AUTH in usage

    serving = x509.load_pem_x509_certificate(pki.crt("serving").read_bytes())
    names = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert any(str(ip) == "127.0.0.1" for ip in names.get_values_for_type(x509.IPAddress))


def test_private_keys_are_readable_by_the_owner_only(tmp_path):
    pki = ensure_pki(tmp_path / "pki", server_url="https://127.0.0.1:6443")

    for path in [pki.key("ca"), pki.key("admin"), pki.service_account_key, pki.kubeconfig("admin")]:
        assert path.stat().st_mode & 0o077 == 0, path


def test_pki_rerun_keeps_keys_updates_server(tmp_path):
    first = ensure_pki(tmp_path / "pki", server_url="https://127.0.0.1:6443")
    ca_before = first.crt("ca").read_bytes()

    second = ensure_pki(tmp_path / "pki", server_url="https://127.0.0.1:16443")

    assert second.crt("ca").read_bytes() == ca_before
    kubeconfig = yaml.safe_load(second.kubeconfig("admin").read_text())
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:16443"


def test_pki_expiring_authority_is_replaced(tmp_path, monkeypatch):
    pki = ensure_pki(tmp_path / "pki", server_url="https://127.0.0.1:6443")
    ca_before = pki.crt("ca").read_bytes()
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=824)
    monkeypatch.setattr("custody.devstack.kube_pki._now", lambda: later)

    renewed = ensure_pki(tmp_path / "pki", server_url="https://127.0.0.1:6443")

    assert renewed.crt("ca").read_bytes() != ca_before


def test_kwok_config_is_one_stage_per_document():
    documents = list(yaml.safe_load_all(kwok_config_text()))

    assert [d["kind"] for d in documents] == ["Stage"] * len(stages())
    assert len({d["metadata"]["name"] for d in documents}) == len(documents)


@pytest.mark.parametrize("outcome", SIMULATE_OUTCOMES)
def test_stages_outcome_matches_one_end(outcome):
    # kwok picks at random among matching stages, so the end stages of a
    # running pod must exclude each other for every annotation value.
    def ends_for(value):
        matched = []
        for stage in stages():
            if stage["metadata"]["name"] not in ("custody-pod-succeed", "custody-pod-fail"):
                continue
            for expression in stage["spec"]["selector"]["matchExpressions"]:
                if SIMULATE not in expression["key"]:
                    continue
                inside = value in expression["values"]
                if inside == (expression["operator"] == "In"):
                    matched.append(stage["metadata"]["name"])
        return matched

    expected = {"succeed": ["custody-pod-succeed"], "fail": ["custody-pod-fail"], "hold": []}[outcome]
    assert ends_for(outcome) == expected


def test_simulated_node_is_selected_by_kwok_annotation():
    node = node_manifest()

    assert node["metadata"]["annotations"] == {"kwok.x-k8s.io/node": "fake"}
    assert node["status"]["capacity"]["pods"] == node["status"]["allocatable"]["pods"]


def test_plain_dev_up_leaves_kubernetes_out():
    services = stack.build_services(StackSettings())

    names = [service.name for service in stack.select(services, None, default=stack.default_names(StackSettings()))]

    assert names == ["kafka", "neo4j", "s3"]


def test_kube_setting_extends_default(monkeypatch):
    monkeypatch.setenv("CUSTODY_STACK_KUBE", "1")
    settings = StackSettings()

    names = [service.name for service in stack.select(stack.build_services(settings), None, default=stack.default_names(settings))]

    assert names[3:] == ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"]


def test_kube_group_expands_in_order():
    services = stack.build_services(StackSettings())

    names = [service.name for service in stack.select(services, ["kwok", "kube"])]

    assert names == ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"]


def test_unknown_service_names_the_groups_too():
    with pytest.raises(StackError, match="kube"):
        stack.select(stack.build_services(StackSettings()), ["kubernetes"])


def test_kube_paths_follow_settings(tmp_path):
    settings = StackSettings(cache_dir=tmp_path / "cache", state_dir=tmp_path / "state")
    services = stack.build_services(settings)

    apiserver = services["kube-apiserver"]
    assert apiserver.install_dir == tmp_path / "cache" / "kube" / module_versions().kubernetes
    assert str(tmp_path / "state" / "kube-apiserver") in " ".join(apiserver.command())
    assert all(str(tmp_path / "state" / name) in " ".join(services[name].command()) for name in stack.KUBE_SERVICE_NAMES)
