"""The in-pod runner without services: the transform wrapper, the exit-code hand-over and the runner's exit codes.

Each case runs real processes: `/bin/sh` with the wrapper exactly as the Job
manifest gives it, and `python -m processors.k8s_runner` with the variables the
manifest sets. Staging and committing against the real S3 and Kafka are in
tests/integration/kube/test_pipeline_kubernetes.py.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from custody.errors import ConfigurationError, PermanentError, ServiceUnavailableError
from custody.settings import KafkaSettings, Settings
from processors.k8s_jobs import RUNNER_PERMANENT_EXIT_CODES, build_job, runner_connection_env
from processors.k8s_runner import (
    EXIT_CONFIG,
    EXIT_PERMANENT,
    EXIT_TRANSIENT,
    exit_code_for,
    wait_for_exit_code,
)
from processors.k8s_settings import KubernetesSettings
from tests.unit.kube.support import make_request

SETTINGS = KubernetesSettings()


def pod_of(**transform) -> dict:
    return build_job(make_request(**transform), SETTINGS)["spec"]["template"]["spec"]


def container(pod: dict, name: str) -> dict:
    return next(entry for entry in pod["initContainers"] + pod["containers"] if entry["name"] == name)


def run_transform(pod: dict, status_dir: Path) -> subprocess.CompletedProcess:
    """Run the transform container's command and args as the container runtime would, with its status directory."""
    transform = container(pod, "transform")
    env = {"PATH": "/usr/bin:/bin", "CUSTODY_STATUS_DIR": str(status_dir)}
    return subprocess.run([*transform["command"], *transform["args"]], env=env, capture_output=True, text=True, timeout=30)


def run_runner(step: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "processors.k8s_runner", step], env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True, text=True, timeout=60,
    )


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["sh", "-c", "exit 0"], 0),
        (["sh", "-c", "echo broken row >&2; exit 3"], 3),
        (["/nonexistent/transform"], 127),
    ],
)
def test_wrapper_records_and_returns_exit_code(tmp_path: Path, command: list[str], expected: int):
    process = run_transform(pod_of(command=command), tmp_path)

    assert process.returncode == expected
    assert (tmp_path / "exit-code").read_text() == f"{expected}\n"


def test_wrapper_passes_arguments_unchanged(tmp_path: Path):
    args = ["a b", "$HOME", "'quoted'", "*"]
    pod = pod_of(command=["sh", "-c", 'printf "%s|" "$@" > "$CUSTODY_STATUS_DIR/seen"', "transform"], args=args)

    process = run_transform(pod, tmp_path)

    assert process.returncode == 0
    assert (tmp_path / "seen").read_text() == "a b|$HOME|'quoted'|*|"


def test_wait_takes_code_only_once_complete(tmp_path: Path):
    path = tmp_path / "exit-code"
    path.write_text("4")
    finisher = threading.Timer(0.3, lambda: path.write_text("42\n"))
    finisher.start()

    code = wait_for_exit_code(path, poll_s=0.05)

    finisher.join()
    assert code == 42


def test_wait_rejects_garbage_in_exit_code_file(tmp_path: Path):
    path = tmp_path / "exit-code"
    path.write_text("done\n")

    with pytest.raises(PermanentError, match="instead of an exit code"):
        wait_for_exit_code(path, poll_s=0.05)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigurationError("missing"), EXIT_CONFIG),
        (PermanentError("sha256 differs"), EXIT_PERMANENT),
        (ServiceUnavailableError("s3 down"), EXIT_TRANSIENT),
    ],
)
def test_error_kind_decides_exit_code(error, code):
    assert exit_code_for(error) == code


def test_permanent_exit_codes_fail_the_job():
    job = build_job(make_request(), SETTINGS)

    rules = job["spec"]["podFailurePolicy"]["rules"]
    assert {rule["onExitCodes"]["containerName"] for rule in rules} == {"stage-inputs", "commit-outputs"}
    assert all(rule["action"] == "FailJob" for rule in rules)
    assert all(rule["onExitCodes"]["values"] == [EXIT_PERMANENT, EXIT_CONFIG] for rule in rules)
    assert list(RUNNER_PERMANENT_EXIT_CODES) == [EXIT_PERMANENT, EXIT_CONFIG]


def test_commit_outputs_is_a_regular_container():
    pod = pod_of()

    assert [entry["name"] for entry in pod["initContainers"]] == ["stage-inputs"]
    assert [entry["name"] for entry in pod["containers"]] == ["transform", "commit-outputs"]
    assert container(pod, "commit-outputs")["command"] == ["python", "-m", "processors.k8s_runner", "commit-outputs"]
    assert container(pod, "stage-inputs")["command"] == ["python", "-m", "processors.k8s_runner", "stage-in"]


def test_runner_gets_worker_kafka_and_prefix():
    settings = Settings(topic_prefix="staging.", kafka=KafkaSettings(bootstrap_servers="kafka.custody.svc:9092"))
    job = build_job(make_request(), SETTINGS, runner_env=runner_connection_env(settings))

    for name in ("stage-inputs", "commit-outputs"):
        env = {entry["name"]: entry.get("value") for entry in container(job["spec"]["template"]["spec"], name)["env"]}
        assert env["CUSTODY_TOPIC_PREFIX"] == "staging."
        assert env["CUSTODY_KAFKA_BOOTSTRAP_SERVERS"] == "kafka.custody.svc:9092"


def test_transform_env_follows_runner_contract():
    request = make_request(env={"MODE": "fast"})
    pod = build_job(request, SETTINGS)["spec"]["template"]["spec"]

    env = {entry["name"]: entry.get("value") for entry in container(pod, "transform")["env"]}
    assert env["CUSTODY_JOB_ID"] == request.job_id
    assert env["CUSTODY_PIPELINE_VERSION"] == request.pipeline_version
    assert env["CUSTODY_INPUT_REPOS"] == "Train_Model.V2"
    assert env["CUSTODY_OUTPUT_REPO"] == "model-artifacts"
    assert env["MODE"] == "fast"
    assert "CUSTODY_ATTEMPT" not in env
    assert not any("SECRET" in name or "KAFKA" in name for name in env)


def test_commit_step_skips_failed_transform(tmp_path: Path):
    request_file = tmp_path / "request.json"
    request_file.write_text(make_request().model_dump_json())
    status = tmp_path / "status"
    status.mkdir()
    (status / "exit-code").write_text("3\n")
    termination = tmp_path / "termination-log"
    env = {
        "CUSTODY_JOB_REQUEST": str(request_file),
        "CUSTODY_INPUTS": str(tmp_path / "inputs"),
        "CUSTODY_OUTPUTS": str(tmp_path / "outputs"),
        "CUSTODY_STATUS_DIR": str(status),
        "CUSTODY_TERMINATION_LOG": str(termination),
        # Nothing listens here: the step must not contact S3 or Kafka after a failed transform.
        "CUSTODY_S3_ENDPOINT_URL": "http://127.0.0.1:9",
        "CUSTODY_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
    }

    process = run_runner("commit-outputs", env)

    assert process.returncode == 0, process.stderr
    assert termination.read_text() == "transform exited with code 3; outputs not committed"


def test_missing_request_is_a_usage_error(tmp_path: Path):
    termination = tmp_path / "termination-log"
    env = {
        "CUSTODY_JOB_REQUEST": str(tmp_path / "absent.json"),
        "CUSTODY_INPUTS": str(tmp_path / "inputs"),
        "CUSTODY_OUTPUTS": str(tmp_path / "outputs"),
        "CUSTODY_STATUS_DIR": str(tmp_path / "status"),
        "CUSTODY_TERMINATION_LOG": str(termination),
    }

    process = run_runner("stage-in", env)

    assert process.returncode == EXIT_CONFIG
    assert "CUSTODY_JOB_REQUEST" in termination.read_text()


def test_missing_variable_is_named():
    process = run_runner("stage-in", {})

    assert process.returncode == EXIT_CONFIG
    assert "CUSTODY_JOB_REQUEST" in process.stderr
    assert "CUSTODY_STATUS_DIR" in process.stderr


def test_help_lists_both_steps():
    process = subprocess.run([sys.executable, "-m", "processors.k8s_runner", "--help"], capture_output=True, text=True, timeout=60)

    assert process.returncode == 0
    assert "stage-in" in process.stdout
    assert "commit-outputs" in process.stdout
