"""A watch cut off, and resumed after its resourceVersion expired (410 Gone), loses no transition.

The test cluster serves Job watches from etcd (kube-apiserver runs with
`--watch-cache-sizes=jobs.batch#0`), so compacting etcd expires every older
resourceVersion at once, as a long outage would with the watch cache.
"""

from __future__ import annotations

import base64

import httpx

from custody.settings import Settings
from processors.k8s_api import Expired, KubeApi
from processors.k8s_jobs import name_for
from processors.k8s_watching import JobReporter, JobWatcher
from processors.publishing import EventPublisher
from tests.integration.kube.support import JobEventReader, make_executor, run, summary, wait_job
from tests.unit.kube.support import make_request


def compact_etcd(etcd_url: str) -> int:
    """Compact etcd to its current revision through its HTTP gateway; return the revision."""
    revision = int(httpx.post(f"{etcd_url}/v3/kv/range", json={"key": base64.b64encode(b"/").decode()}, timeout=10).json()["header"]["revision"])
    response = httpx.post(f"{etcd_url}/v3/kv/compaction", json={"revision": revision, "physical": True}, timeout=30)
    response.raise_for_status()
    return revision


def release_held_pod(api: KubeApi, namespace: str, job_name: str) -> None:
    pods = api.core.list_namespaced_pod(namespace, label_selector=f"batch.kubernetes.io/job-name={job_name}")
    for pod in pods.items:
        api.core.patch_namespaced_pod(pod.metadata.name, namespace, {"metadata": {"annotations": {"custody.io/simulate": "succeed"}}})


def test_watch_resumed_after_expiry_reports_every_missed_transition_once(
    kafka_settings, unique, kube_stack, kube_settings, kube_api, tmp_path
):
    prefix = f"k8s-{unique}."
    held = kube_settings.model_copy(update={"pod_annotations": {"custody.io/simulate": "hold"}})
    request = make_request(seed=unique)
    name = name_for(request, held)
    reader = JobEventReader(kafka_settings, prefix, f"k8s-reader-{unique}")

    # Step 1: a watcher sees the attempt start, then goes away with its resourceVersion.
    executor = make_executor(kafka_settings, prefix, held, tmp_path)
    run(executor.start())
    run(executor.submit(request))
    run(executor.release(request.job_id))
    started = reader.wait_for(request.job_id, lambda found: len(found) >= 1)
    stored_version = executor.watcher.resource_version
    run(executor.stop())

    # Step 2: while no watcher runs, the job finishes and etcd compacts past the stored version.
    release_held_pod(kube_api, held.namespace, name)
    wait_job(kube_api, held.namespace, name, "Complete")
    compact_etcd(kube_stack.etcd_url)

    # Step 3: a new watcher resumes from the stored version, gets 410 and relists.
    publisher = EventPublisher(Settings(kafka=kafka_settings, topic_prefix=prefix))
    watcher = JobWatcher(KubeApi(held), JobReporter(KubeApi(held), publisher.publish))
    watcher.start(resource_version=stored_version)
    try:
        events = reader.wait_for(request.job_id, lambda found: any(e.type.endswith("succeeded.v1") for e in found))
        reader.drain(2.0)
    finally:
        watcher.stop()
        reader.close()

    assert summary(started) == [("started", 1, None)]
    assert watcher.relists == 1
    assert summary(reader.of(request.job_id)) == [("started", 1, None), ("succeeded", 1, None)]
    assert events[-1].data.attempt == 1


def test_watch_from_a_compacted_version_is_expired(kube_stack, kube_settings):
    api = KubeApi(kube_settings.model_copy(update={"watch_timeout_s": 10}))
    version = api.batch.list_namespaced_job(kube_settings.namespace).metadata.resource_version
    # A watch from V starts at revision V+1, so two writes put it below the compaction point.
    for index in range(2):
        api.core.create_namespaced_config_map(kube_settings.namespace, {"metadata": {"name": f"bump-{index}"}})
    compact_etcd(kube_stack.etcd_url)
    watcher = JobWatcher(api, JobReporter(api, lambda events: None))

    try:
        watcher._watch_once(version)
        raised = None
    except Expired as error:
        raised = error

    assert raised is not None and raised.status == 410
