"""Pipelines with `executor: kubernetes`, end to end, and the in-pod runner on the real S3 and Kafka.

1. A commit triggers a pipeline through a `custody processors run` subprocess.
   The Job appears in the real API server with its name and labels. kwok
   plays its pods, held Running until the test sets the outcome, and the real
   Job controller completes or fails the Job. The watcher's JobStarted,
   JobSucceeded and JobFailed follow on the jobs topic.
2. kwok runs no containers, so no output commit can come from the cluster.
   The runner those containers would run (`python -m processors.k8s_runner`)
   is tested here as processes on this machine, with the environment the
   Job's manifest gives each container, against the real S3 and Kafka.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from processors.executors.base import JobRequest
from processors.k8s_api import KubeApi
from processors.k8s_jobs import build_job, job_selector, request_config_map, runner_connection_env
from processors.k8s_naming import job_name
from processors.k8s_runner import EXIT_PERMANENT
from processors.k8s_settings import KubernetesSettings
from processors.requests import CommitSummary
from processors.spec import RetryPolicy, Transform
from tests.integration.kube.conftest import RUNNER_ACCOUNT, KubeStack
from tests.integration.kube.support import wait_job
from tests.integration.processors.conftest import Bed, EventReader, make_bed
from tests.support.backends import Backend

HOLD = {"custody.io/simulate": "hold"}
IMAGE = "registry.example/clean:1.0"

UPPER = """
import os, pathlib
inputs, outputs = pathlib.Path(os.environ["CUSTODY_INPUTS"]), pathlib.Path(os.environ["CUSTODY_OUTPUTS"])
for source in sorted(inputs.rglob("*")):
    if source.is_file():
        (outputs / source.name.upper()).write_text(source.read_text().upper())
"""


# Part 1: the worker, the API server and kwok


@dataclass
class Cluster:
    bed: Bed
    api: KubeApi
    namespace: str
    reader: EventReader

    def job_of(self, job_id: str) -> dict[str, Any]:
        listing = self.api.batch.list_namespaced_job(self.namespace, label_selector=job_selector(job_id))
        assert len(listing.items) == 1, f"expected one Job for job {job_id}, found {len(listing.items)}"
        return self.api.api_client.sanitize_for_serialization(listing.items[0])

    def decide_pod(self, job_id: str, outcome: str, *, decided: set[str], timeout_s: float = 60.0) -> str:
        """Wait for a pod of the job that has no outcome yet, and set its kwok outcome; return its name."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            pods = self.api.core.list_namespaced_pod(self.namespace, label_selector=job_selector(job_id)).items
            for pod in pods:
                if pod.metadata.name not in decided and pod.status.phase == "Running":
                    patch = {"metadata": {"annotations": {"custody.io/simulate": outcome}}}
                    self.api.core.patch_namespaced_pod(pod.metadata.name, self.namespace, patch)
                    decided.add(pod.metadata.name)
                    return pod.metadata.name
            time.sleep(0.3)
        pytest.fail(f"no new Running pod of job {job_id} within {timeout_s:.0f}s\n{self.reader.on_timeout()}")


def create_namespace(api: KubeApi, name: str) -> None:
    labels = {"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}
    api.core.create_namespace({"metadata": {"name": name, "labels": labels}})
    api.core.create_namespaced_service_account(name, {"metadata": {"name": RUNNER_ACCOUNT}})
    secret = {"metadata": {"name": "custody-s3"}, "stringData": {"access-key-id": "custody", "secret-access-key": "not-a-real-secret"}}
    api.core.create_namespaced_secret(name, secret)


@pytest.fixture(scope="module")
def cluster(backend: Backend, kube_stack: KubeStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    namespace = f"custody-pipe-{uuid.uuid4().hex[:10]}"
    api = KubeApi(KubernetesSettings(kubeconfig=kube_stack.kubeconfig, namespace=namespace))
    create_namespace(api, namespace)
    beds = make_bed(backend, tmp_path_factory.mktemp("pipeline-kubernetes"))
    bed = next(beds)
    for repo in ("raw", "clean", "incoming", "rejected"):
        bed.register_repo(repo)

    bed.start_worker(
        "kube",
        CUSTODY_KUBERNETES_KUBECONFIG=str(kube_stack.kubeconfig),
        CUSTODY_KUBERNETES_NAMESPACE=namespace,
        # Every pod stays Running until a test sets its outcome.
        CUSTODY_KUBERNETES_POD_ANNOTATIONS=json.dumps(HOLD),
    )
    reader = bed.reader("custody.data.commits", "custody.decisions", "custody.jobs")
    specs = [
        spec("clean", "raw", "clean", retries=0),
        spec("vet-incoming", "incoming", "rejected", retries=1),
    ]
    for document in specs:
        result = bed.cli("pipeline", "apply", "-f", str(bed.write_spec(document)), "--as", "alice")
        assert result.exit_code == 0, result.output
    # The new versions find no commit yet; after these decisions a commit is what triggers them.
    reader.wait_for(lambda events: len(reader.of_type("trigger.decided", outcome="no_match")) == 2, "decisions on the new versions")

    yield Cluster(bed, api, namespace, reader)

    reader.close()
    for worker in bed.workers:
        worker.stop()
    next(beds, None)
    api.core.delete_namespace(namespace, propagation_policy="Background")
    api.close()


def spec(name: str, input_repo: str, output: str, *, retries: int) -> dict[str, Any]:
    return {
        "name": name,
        "owner": "data-team",
        "input": {"repo": input_repo, "glob": "**/*.csv"},
        "transform": {"image": IMAGE, "command": ["python3", "/app/clean.py"], "env": {"MODE": "strict"}},
        "output": output,
        "executor": "kubernetes",
        "retries": retries,
        "timeout": "5m",
    }


def test_commit_runs_kubernetes_job(cluster: Cluster):
    reader = cluster.reader

    raw = cluster.bed.commit("raw", {"2024/a.csv": "x,1\n"})
    scheduled = reader.wait_for(lambda events: reader.of_type("job.scheduled", pipeline="clean"), "JobScheduled of clean")[0]
    job_id = scheduled.data.job_id
    cluster.decide_pod(job_id, "hold", decided=set())
    started = reader.wait_for(lambda events: reader.of_type("job.started", job_id=job_id), "JobStarted while the pod is held")
    succeeded_while_held = reader.of_type("job.succeeded", job_id=job_id)
    cluster.decide_pod(job_id, "succeed", decided=set())
    succeeded = reader.wait_for(lambda events: reader.of_type("job.succeeded", job_id=job_id), "JobSucceeded of clean")

    job = cluster.job_of(job_id)
    labels = job["metadata"]["labels"]
    assert job["metadata"]["name"] == job_name("clean", job_id)
    assert labels["app.kubernetes.io/managed-by"] == "custody-processors"
    assert labels["custody.io/pipeline"] == "clean"
    assert labels["custody.io/input-repo"] == "raw"
    assert labels["custody.io/output-repo"] == "clean"
    assert job["metadata"]["annotations"]["custody.io/job-id"] == job_id
    assert json.loads(job["metadata"]["annotations"]["custody.io/inputs"]) == [{"repo": "raw", "commit_id": raw.commit_id}]
    assert scheduled.data.inputs[0].commit_id == raw.commit_id

    assert succeeded_while_held == []
    assert started[0].data.attempt == 1
    assert started[0].data.runner == f"kubernetes:{cluster.namespace}/{job['metadata']['name']}"
    assert started[0].causationid == scheduled.id
    assert len(succeeded) == 1
    assert succeeded[0].data.attempt == 1
    assert succeeded[0].data.code.image == IMAGE
    assert succeeded[0].data.code.parameters == {"MODE": "strict"}
    assert succeeded[0].causationid == scheduled.id
    # kwok ran no container, so no runner committed outputs (see the runner tests below).
    assert succeeded[0].data.output_commit_id is None
    assert "Complete" in [c["type"] for c in job["status"]["conditions"] if c["status"] == "True"]


def test_failing_job_fails_after_backoff_limit(cluster: Cluster):
    reader = cluster.reader

    cluster.bed.commit("incoming", {"batch.csv": "bad,row\n"})
    scheduled = reader.wait_for(lambda events: reader.of_type("job.scheduled", pipeline="vet-incoming"), "JobScheduled of vet-incoming")[0]
    job_id = scheduled.data.job_id
    decided: set[str] = set()
    cluster.decide_pod(job_id, "fail", decided=decided)
    # The Job controller waits about 10 s before it creates the second pod.
    cluster.decide_pod(job_id, "fail", decided=decided)
    failed = reader.wait_for(
        lambda events: [e for e in reader.of_type("job.failed", job_id=job_id) if e.data.final], "the final JobFailed of vet-incoming"
    )
    reader.drain(2.0)

    events = [e for e in reader.events if "job." in e.type and e.data.job_id == job_id and "scheduled" not in e.type]
    rows = [(e.type.split(".")[3], e.data.attempt, getattr(e.data, "final", None)) for e in events]
    assert rows == [("started", 1, None), ("failed", 1, False), ("started", 2, None), ("failed", 2, True)]
    assert len(failed) == 1
    assert "BackoffLimitExceeded" in failed[0].data.reason
    assert [e.data.exit_code for e in events if e.type.endswith("failed.v1")] == [1, 1]
    assert reader.of_type("job.succeeded", job_id=job_id) == []
    assert reader.of_type("data.committed", repo="rejected") == []
    job = wait_job(cluster.api, cluster.namespace, job_name("vet-incoming", job_id), "Failed")
    assert job["status"]["failed"] == 2


# Part 2: the in-pod runner, run here with the Job's container environment


@dataclass
class Pod:
    """One Job's pod, played by local processes: `/work` and `/etc/custody` are directories under `root`."""

    job: dict[str, Any]
    root: Path
    secrets: dict[tuple[str, str], str]

    @property
    def spec(self) -> dict[str, Any]:
        return self.job["spec"]["template"]["spec"]

    def container(self, name: str) -> dict[str, Any]:
        return next(c for c in self.spec["initContainers"] + self.spec["containers"] if c["name"] == name)

    def local(self, value: str) -> str:
        for mount in ("/work", "/etc/custody"):
            if value == mount or value.startswith(mount + "/"):
                return str(self.root) + value
        return value

    def env(self, name: str) -> dict[str, str]:
        """Return the container's environment as the kubelet would set it, with secrets resolved and paths moved under root."""
        env = {"PATH": os.environ["PATH"], "CUSTODY_TERMINATION_LOG": str(self.termination_log(name))}
        for entry in self.container(name)["env"]:
            if "valueFrom" in entry:
                reference = entry["valueFrom"]["secretKeyRef"]
                env[entry["name"]] = self.secrets[(reference["name"], reference["key"])]
            else:
                env[entry["name"]] = self.local(entry["value"])
        return env

    def argv(self, name: str) -> list[str]:
        container = self.container(name)
        argv = [*container["command"], *container.get("args", [])]
        # The Custody image's `python` is this interpreter here.
        return [sys.executable, *argv[1:]] if argv[0] == "python" else argv

    def termination_log(self, name: str) -> Path:
        return self.root / f"termination-{name}"

    def run(self, name: str) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(name), env=self.env(name), capture_output=True, text=True, timeout=120)

    def start(self, name: str) -> subprocess.Popen:
        return subprocess.Popen(self.argv(name), env=self.env(name), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture
def runner_bed(backend: Backend, tmp_path: Path) -> Iterator[Bed]:
    beds = make_bed(backend, tmp_path)
    bed = next(beds)
    for repo in ("raw", "clean"):
        bed.register_repo(repo)
    yield bed
    next(beds, None)


def make_pod(bed: Bed, request: JobRequest, root: Path) -> Pod:
    s3 = bed.settings.s3
    kube = KubernetesSettings(s3_endpoint_url=s3.endpoint_url, s3_region=s3.region)
    job = build_job(request, kube, runner_env=runner_connection_env(bed.settings))
    config_map = request_config_map(request, kube)
    (root / "etc" / "custody").mkdir(parents=True)
    (root / "etc" / "custody" / "request.json").write_text(config_map["data"]["request.json"])
    secrets = {
        ("custody-s3", "access-key-id"): s3.access_key_id or "",
        ("custody-s3", "secret-access-key"): s3.secret_access_key.get_secret_value() if s3.secret_access_key else "",
    }
    return Pod(job, root, secrets)


def request_for(bed: Bed, commit_event: Any, script: Path) -> JobRequest:
    summary = CommitSummary.from_event(commit_event.data, event_id=commit_event.id)
    return JobRequest(
        job_id=hashlib.sha256(uuid.uuid4().bytes).hexdigest(),
        pipeline="clean",
        pipeline_version=hashlib.sha256(b"clean v1").hexdigest(),
        executor="kubernetes",
        transform=Transform(image=IMAGE, command=["python3", str(script)]),
        inputs=[summary],
        output_repo="clean",
        retries=RetryPolicy(count=0),
        timeout_s=60,
        service_account=RUNNER_ACCOUNT,
        scheduled_event_id=str(uuid.uuid4()),
    )


def test_runner_stages_runs_and_commits(runner_bed: Bed, tmp_path: Path):
    bed = runner_bed
    raw = bed.commit("raw", {"2024/a.csv": "x,1\n", "b.csv": "y,2\n"})
    request = request_for(bed, raw.event, bed.script("upper.py", UPPER))
    pod = make_pod(bed, request, tmp_path / "pod")
    reader = bed.reader("custody.data.commits")

    staged = pod.run("stage-inputs")
    committer = pod.start("commit-outputs")
    transform = pod.run("transform")
    committed_log, _ = committer.communicate(timeout=120)
    commit = reader.wait_for(lambda events: reader.of_type("data.committed", repo="clean"), "the output commit")[0]
    reader.close()

    assert staged.returncode == 0, staged.stderr
    assert (tmp_path / "pod/work/inputs/raw/2024/a.csv").read_text() == "x,1\n"
    assert transform.returncode == 0, transform.stderr
    assert committer.returncode == 0, committed_log
    message = json.loads(pod.termination_log("commit-outputs").read_text())
    assert message == {"output_commit_id": commit.data.commit_id}
    assert sorted(f.path for f in commit.data.files) == ["A.CSV", "B.CSV"]
    assert commit.data.origin.kind == "job"
    assert commit.data.origin.job_id == request.job_id
    assert commit.data.origin.input_commits == [raw.commit_id]
    assert commit.data.author.agent_id == f"service_account:{RUNNER_ACCOUNT}"
    assert commit.causationid == request.scheduled_event_id


def test_runner_rejects_changed_input(runner_bed: Bed, tmp_path: Path):
    bed = runner_bed
    raw = bed.commit("raw", {"a.csv": "x,1\n"})
    request = request_for(bed, raw.event, bed.script("upper.py", UPPER))
    summary = request.inputs[0]
    changed = summary.model_copy(update={"files": [summary.files[0].model_copy(update={"sha256": "0" * 64})]})
    pod = make_pod(bed, request.model_copy(update={"inputs": [changed]}), tmp_path / "pod")

    staged = pod.run("stage-inputs")

    assert staged.returncode == EXIT_PERMANENT, staged.stderr
    assert "changed outside Custody" in pod.termination_log("stage-inputs").read_text()


def test_runner_commits_nothing_after_failed_transform(runner_bed: Bed, tmp_path: Path):
    bed = runner_bed
    raw = bed.commit("raw", {"a.csv": "x,1\n"})
    script = bed.script("half.py", UPPER + "\nraise SystemExit(4)\n")
    pod = make_pod(bed, request_for(bed, raw.event, script), tmp_path / "pod")

    staged = pod.run("stage-inputs")
    committer = pod.start("commit-outputs")
    transform = pod.run("transform")
    committed_log, _ = committer.communicate(timeout=120)
    reader = bed.reader("custody.data.commits")
    reader.drain(3.0)
    reader.close()

    assert staged.returncode == 0, staged.stderr
    assert transform.returncode == 4
    assert (tmp_path / "pod/work/outputs/A.CSV").exists()
    assert committer.returncode == 0, committed_log
    assert pod.termination_log("commit-outputs").read_text() == "transform exited with code 4; outputs not committed"
    assert reader.of_type("data.committed", repo="clean") == []
