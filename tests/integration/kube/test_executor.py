"""The kubernetes executor and its watcher against the real control plane and Kafka.

Pods are simulated by kwok, but the Job, its pods' scheduling, retries and
completion are the real scheduler's and Job controller's.
"""

from __future__ import annotations

import json

import pytest

from processors.k8s_jobs import job_selector, name_for
from processors.k8s_settings import KubernetesSettings
from tests.integration.kube.support import JobEventReader, make_executor, run, summary, wait_job
from tests.unit.kube.support import make_request, sha


@pytest.fixture
def reader(kafka_settings, unique):
    events = JobEventReader(kafka_settings, f"k8s-{unique}.", f"k8s-reader-{unique}")
    yield events
    events.close()


def settings_with(kube_settings: KubernetesSettings, **annotations: str) -> KubernetesSettings:
    return kube_settings.model_copy(update={"pod_annotations": annotations})


def test_executor_job_succeeds(kafka_settings, unique, kube_settings, kube_api, reader, tmp_path):
    output_commit = sha("output")
    kube = settings_with(kube_settings, **{"custody.io/simulate-message": json.dumps({"output_commit_id": output_commit})})
    executor = make_executor(kafka_settings, f"k8s-{unique}.", kube, tmp_path)
    request = make_request(pipeline="p" * 80, seed=unique)
    run(executor.start())
    try:
        first = run(executor.submit(request))
        again = run(executor.submit(request))
        suspended = kube_api.batch.read_namespaced_job(name_for(request, kube), kube.namespace)
        run(executor.release(request.job_id))
        run(executor.release(request.job_id))

        events = reader.wait_for(request.job_id, lambda found: any(e.type.endswith("succeeded.v1") for e in found))
        reader.drain(2.0)
    finally:
        run(executor.stop())

    assert (first.created, again.created) == (True, False)
    assert first.where == again.where == f"{kube.namespace}/{name_for(request, kube)}"
    assert suspended.spec.suspend is True
    assert summary(reader.of(request.job_id)) == [("started", 1, None), ("succeeded", 1, None)]
    succeeded = events[-1].data
    assert succeeded.output_commit_id == output_commit
    assert succeeded.code.image == request.transform.image
    assert events[0].data.runner == f"kubernetes:{first.where}"
    assert events[-1].causationid == request.scheduled_event_id


def test_executor_failing_job_retried(kafka_settings, unique, kube_settings, kube_api, reader, tmp_path):
    kube = settings_with(kube_settings, **{"custody.io/simulate": "fail", "custody.io/simulate-exit-code": "3"})
    executor = make_executor(kafka_settings, f"k8s-{unique}.", kube, tmp_path)
    request = make_request(seed=unique, retries=1)
    run(executor.start())
    try:
        run(executor.submit(request))
        run(executor.release(request.job_id))
        events = reader.wait_for(request.job_id, lambda found: any(getattr(e.data, "final", False) for e in found), timeout_s=120)
    finally:
        run(executor.stop())

    assert summary(events) == [("started", 1, None), ("failed", 1, False), ("started", 2, None), ("failed", 2, True)]
    assert [event.data.exit_code for event in events if event.type.endswith("failed.v1")] == [3, 3]
    assert "BackoffLimitExceeded" in events[-1].data.reason
    job = kube_api.batch.read_namespaced_job(name_for(request, kube), kube.namespace)
    assert job.status.failed == 2


def test_executor_rejected_job_fails(kafka_settings, unique, kube_settings, kube_api, reader, tmp_path):
    executor = make_executor(kafka_settings, f"k8s-{unique}.", kube_settings, tmp_path)
    request = make_request(seed=unique, resources={"requests": {"memory": "4Gi"}, "limits": {"memory": "1Gi"}})
    run(executor.start())
    try:
        result = run(executor.submit(request))
        run(executor.release(request.job_id))
        events = reader.wait_for(request.job_id, lambda found: len(found) >= 1)
    finally:
        run(executor.stop())

    assert result.where.startswith("rejected:")
    assert summary(events) == [("failed", 1, True)]
    assert "must be less than or equal to memory limit" in events[0].data.reason
    assert kube_api.batch.list_namespaced_job(kube_settings.namespace, label_selector=job_selector(request.job_id)).items == []


def test_executor_start_reconciles_finished_jobs(kafka_settings, unique, kube_settings, kube_api, reader, tmp_path):
    offline = make_executor(kafka_settings, f"k8s-{unique}.", kube_settings, tmp_path)
    request = make_request(seed=unique)
    run(offline.submit(request))
    run(offline.release(request.job_id))
    finished = wait_job(kube_api, kube_settings.namespace, name_for(request, kube_settings), "Complete")

    online = make_executor(kafka_settings, f"k8s-{unique}.", kube_settings, tmp_path)
    run(online.start())
    try:
        reader.wait_for(request.job_id, lambda found: len(found) >= 2)
        # A second start must not report the same attempts again.
        run(online.stop())
        run(online.start())
        reader.drain(3.0)
    finally:
        run(online.stop())

    assert finished["status"]["succeeded"] == 1
    assert summary(reader.of(request.job_id)) == [("started", 1, None), ("succeeded", 1, None)]
