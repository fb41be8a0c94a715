"""Jobs per second through the kubernetes executor, against the local control plane.

    .venv/bin/python bench/kube_jobs.py --jobs 200

Starts the `kube` group of the local stack if it is not running (the build is
cached), then in a fresh namespace:

1. baseline: creates N ConfigMaps one after another (one API write each);
2. submits and releases N jobs through KubernetesExecutor (a Job create, a
   ConfigMap create and a patch per job), one after another, then N more with
   `--concurrency` in flight;
3. waits until the Job controller, the scheduler and kwok have completed all 2N.

Prints the rates and the ratio of step 2 to step 1, measured in the same run,
then deletes the namespace. Nothing is asserted: these are figures for
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from custody.devstack import stack
from custody.devstack.config import StackSettings
from custody.devstack.kube import kubeconfig_path
from custody.settings import Settings
from processors.executors.kubernetes import KubernetesExecutor
from processors.k8s_api import KubeApi
from processors.k8s_jobs import managed_selector
from processors.k8s_settings import KubernetesSettings
from processors.publishing import EventPublisher
from processors.settings import ProcessorSettings
from tests.unit.kube.support import make_request


def prepare(api: KubeApi, namespace: str) -> None:
    api.core.create_namespace({"metadata": {"name": namespace}})
    api.core.create_namespaced_service_account(namespace, {"metadata": {"name": "custody-runner"}})


def baseline(api: KubeApi, namespace: str, count: int) -> float:
    started = time.monotonic()
    for index in range(count):
        api.core.create_namespaced_config_map(namespace, {"metadata": {"name": f"baseline-{index}"}, "data": {"k": "v"}})
    return count / (time.monotonic() - started)


async def submit_all(executor: KubernetesExecutor, count: int, run_id: str, *, concurrency: int) -> float:
    requests = [make_request(seed=f"{run_id}-{concurrency}-{index}") for index in range(count)]
    slots = asyncio.Semaphore(concurrency)

    async def one(request) -> None:  # type: ignore[no-untyped-def]
        async with slots:
            await executor.submit(request)
            await executor.release(request.job_id)

    started = time.monotonic()
    await asyncio.gather(*(one(request) for request in requests))
    return count / (time.monotonic() - started)


def wait_complete(api: KubeApi, namespace: str, count: int, timeout_s: float) -> tuple[int, float]:
    started = time.monotonic()
    done = 0
    while time.monotonic() - started < timeout_s:
        jobs = api.batch.list_namespaced_job(namespace, label_selector=managed_selector()).items
        done = sum(1 for job in jobs if (job.status.succeeded or 0) >= 1)
        if done >= count:
            break
        time.sleep(0.5)
    return done, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200, help="Jobs to submit (default 200).")
    parser.add_argument("--concurrency", type=int, default=8, help="Jobs in flight in the second run (default 8).")
    parser.add_argument("--timeout-s", type=float, default=600.0, help="Seconds to wait for completion (default 600).")
    arguments = parser.parse_args()

    stack_settings = StackSettings()
    stack.up(stack_settings, ["kube"])
    run_id = uuid.uuid4().hex[:8]
    namespace = f"bench-{run_id}"
    kube = KubernetesSettings(kubeconfig=kubeconfig_path(stack_settings), namespace=namespace)
    api = KubeApi(kube)
    prepare(api, namespace)
    settings = Settings()
    executor = KubernetesExecutor(settings, ProcessorSettings(), EventPublisher(settings), kube_settings=kube)
    try:
        configmaps_per_s = baseline(api, namespace, arguments.jobs)
        jobs_per_s = asyncio.run(submit_all(executor, arguments.jobs, run_id, concurrency=1))
        parallel_per_s = asyncio.run(submit_all(executor, arguments.jobs, run_id, concurrency=arguments.concurrency))
        done, seconds = wait_complete(api, namespace, 2 * arguments.jobs, arguments.timeout_s)
    finally:
        api.core.delete_namespace(namespace, propagation_policy="Background")
        api.close()

    print(f"jobs: {arguments.jobs}")
    print(f"baseline ConfigMap creates: {configmaps_per_s:.1f}/s")
    print(f"executor submit+release, one at a time: {jobs_per_s:.1f} jobs/s")
    print(f"executor submit+release, {arguments.concurrency} in flight: {parallel_per_s:.1f} jobs/s")
    print(f"ratio submit+release (one at a time) / ConfigMap create: {jobs_per_s / configmaps_per_s:.2f}")
    print(f"completed by the Job controller and kwok: {done}/{2 * arguments.jobs}, the last {seconds:.1f}s after the last release")


if __name__ == "__main__":
    main()
