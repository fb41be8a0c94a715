"""The `kubernetes` executor: one batch/v1 Job per job id, reported by a Job watcher.

- `submit` creates the Job suspended, then the ConfigMap holding the request
  (owned by the Job). The Job name is derived from the job id, so a second
  submit gets 409 AlreadyExists, which means "submitted before"
  (`created=False`). A Job the API server rejects as invalid (400/422) is
  remembered, and `release` reports it as a final `JobFailed` with the
  server's message, after `JobScheduled` is on Kafka.
- `release` clears `spec.suspend`; the Job controller starts the first pod.
- `start` connects, reconciles every Job of the namespace (reporting what
  finished while no worker ran) and starts the watcher
  (processors.k8s_watching), which publishes `JobStarted`, `JobSucceeded` and
  `JobFailed` with the same payloads and ids as the local executor.

A pipeline whose name matches a job-like custom kind
(CUSTODY_KUBERNETES_CUSTOM_KINDS_FILE, see processors.k8s_custom) gets that
custom object instead of a batch Job, with the same submit, release and
reporting. Settings are `CUSTODY_KUBERNETES_*` (processors.k8s_settings).
"""

from __future__ import annotations

import asyncio
import logging
import os

from custody.errors import CustodyError, TransientError
from custody.settings import Settings
from processors import jobevents
from processors.executors.base import ExecutorKind, JobRequest, SubmitResult
from processors.k8s_api import AlreadyExists, KubeApi, Rejected
from processors.k8s_custom import CustomKind, build_custom_object, kind_for, load_custom_kinds, suspend_patch
from processors.k8s_jobs import build_job, job_selector, name_for, request_config_map, runner_connection_env
from processors.k8s_settings import KubernetesSettings, load_kubernetes_settings
from processors.k8s_watching import JobReporter, JobWatcher, Workload, batch_jobs, custom_objects
from processors.publishing import EventPublisher
from processors.settings import ProcessorSettings

log = logging.getLogger(__name__)

CONNECT_RETRY_S = 5.0
MAX_CONNECT_RETRY_S = 60.0
NOT_CONFIGURED = (
    "no Kubernetes cluster is configured for this worker: set CUSTODY_KUBERNETES_KUBECONFIG, "
    "or run the worker inside a cluster"
)


class KubernetesExecutor:
    """Runs jobs as Kubernetes Jobs in `CUSTODY_KUBERNETES_NAMESPACE`."""

    kind: ExecutorKind = "kubernetes"

    def __init__(
        self,
        settings: Settings,
        processor_settings: ProcessorSettings,
        publisher: EventPublisher,
        *,
        kube_settings: KubernetesSettings | None = None,
    ) -> None:
        self.settings = settings
        self.processor_settings = processor_settings
        self.publisher = publisher
        self.kube_settings = kube_settings or load_kubernetes_settings()
        self.custom_kinds: list[CustomKind] = load_custom_kinds(self.kube_settings.custom_kinds_file)
        self._api: KubeApi | None = None
        self._watchers: list[JobWatcher] = []
        # Requests the API server refused, reported as failed at release.
        self._rejected: dict[str, tuple[JobRequest, str]] = {}
        self._connecting: asyncio.Task[None] | None = None
        # Object names (and custom kind) of this worker's submits, so release patches without a lookup.
        self._names: dict[str, tuple[str, CustomKind | None]] = {}

    @property
    def configured(self) -> bool:
        """True when a kubeconfig is set or the worker runs inside a cluster."""
        return self.kube_settings.kubeconfig is not None or bool(os.environ.get("KUBERNETES_SERVICE_HOST"))

    @property
    def api(self) -> KubeApi:
        """The API client, built on first use (reading the kubeconfig makes no request)."""
        if self._api is None:
            self._api = KubeApi(self.kube_settings)
        return self._api

    @property
    def watcher(self) -> JobWatcher | None:
        """The running watcher of batch Jobs, once `start` returned."""
        return self._watchers[0] if self._watchers else None

    @property
    def watchers(self) -> list[JobWatcher]:
        """Every running watcher: batch Jobs first, then one per custom kind."""
        return list(self._watchers)

    async def start(self) -> None:
        """Probe the API server, report Jobs that changed while no worker ran, and start watching.

        Without a configured cluster the executor stays idle and fails the jobs
        sent to it. An unreachable API server is retried in the background, so
        the other executors of the worker start regardless.
        """
        if not self.configured:
            log.info("kubernetes executor idle: %s", NOT_CONFIGURED)
            return
        try:
            await self._connect()
        # Policy: a temporary failure is retried in the background; anything else is a configuration error to raise.
        except TransientError as error:
            log.warning("kubernetes executor cannot reach the API server yet (%s); retrying in the background", error)
            self._connecting = asyncio.create_task(self._connect_until_done(), name="kubernetes-executor-connect")

    async def _connect(self) -> None:
        version = await asyncio.to_thread(self.api.probe)
        workloads: list[Workload] = [batch_jobs(self.api)] + [custom_objects(self.api, kind) for kind in self.custom_kinds]
        for workload in workloads:
            reporter = JobReporter(
                self.api, self.publisher.publish, log_tail_chars=self.processor_settings.log_tail_chars, workload=workload
            )
            watcher = JobWatcher(self.api, reporter)
            await asyncio.to_thread(watcher.start)
            self._watchers.append(watcher)
        log.info(
            "kubernetes executor started server=%s version=%s namespace=%s",
            self.api.server,
            version,
            self.kube_settings.namespace,
        )

    async def _connect_until_done(self) -> None:
        delay = CONNECT_RETRY_S
        while True:
            await asyncio.sleep(delay)
            try:
                await self._connect()
                return
            except TransientError as error:
                delay = min(MAX_CONNECT_RETRY_S, delay * 2)
                log.warning("kubernetes executor still cannot reach the API server (%s); retrying in %.0fs", error, delay)

    async def submit(self, request: JobRequest) -> SubmitResult:
        """Create the suspended Job and its request ConfigMap; idempotent by job id."""
        return await asyncio.to_thread(self._submit, request)

    async def release(self, job_id: str) -> None:
        """Unsuspend the Job, or report the rejection of a refused one; idempotent."""
        rejected = self._rejected.pop(job_id, None)
        if rejected is not None:
            request, reason = rejected
            event = jobevents.failed(request, attempt=1, reason=reason, final=True)
            await self.publisher.publish_async([event])
            log.warning("job=%s pipeline=%s reported as failed: %s", job_id, request.pipeline, reason)
            return
        await asyncio.to_thread(self._release, job_id)

    async def stop(self) -> None:
        """Stop the watcher; Jobs keep running in the cluster and the next start reports them."""
        if self._connecting is not None:
            self._connecting.cancel()
            self._connecting = None
        for watcher in self._watchers:
            await asyncio.to_thread(watcher.stop)
        self._watchers = []
        if self._api is not None:
            self._api.close()
            self._api = None

    # Blocking parts, run in a worker thread

    def _submit(self, request: JobRequest) -> SubmitResult:
        namespace = self.kube_settings.namespace
        name = name_for(request, self.kube_settings)
        where = f"{namespace}/{name}"
        if not self.configured:
            self._rejected[request.job_id] = (request, NOT_CONFIGURED)
            return SubmitResult(request.job_id, True, "rejected:no-cluster")
        kind = kind_for(request.pipeline, self.custom_kinds)
        # Built first so that an invalid or oversized request is refused before any object exists.
        request_config_map(request, self.kube_settings)
        create, read, api_version, kind_name = self._object_calls(request, kind, name)

        created = True
        try:
            result = self.api.call(f"CREATE {kind_name} {where}", create)
        # 409: this job id was submitted before (a retry after a timeout, or a restart).
        except AlreadyExists:
            created = False
            result = self.api.call(f"GET {kind_name} {where}", read)
        # 400/422, or an admission refusal: no retry can fix the object; release reports it as failed.
        except Rejected as error:
            self._rejected[request.job_id] = (request, f"the Kubernetes API rejected {kind_name} {where}: {error.message}")
            log.error("job=%s pipeline=%s %s %s rejected by the API server: %s", request.job_id, request.pipeline, kind_name, where, error.message)
            return SubmitResult(request.job_id, True, f"rejected:{where}")

        uid = result["metadata"]["uid"] if isinstance(result, dict) else result.metadata.uid
        config_map = request_config_map(
            request, self.kube_settings, owner_uid=uid, owner_api_version=api_version, owner_kind=kind_name
        )
        try:
            self.api.call(f"CREATE configmap {where}", self.api.core.create_namespaced_config_map, namespace, config_map)
        except AlreadyExists:
            pass
        self._names[request.job_id] = (name, kind)
        log.info("job=%s pipeline=%s submitted as %s %s (new: %s)", request.job_id, request.pipeline, kind_name, where, created)
        return SubmitResult(request.job_id, created, where)

    def _object_calls(self, request: JobRequest, kind: CustomKind | None, name: str):  # type: ignore[no-untyped-def]
        """Return (create, read, apiVersion, kind) for the request's object: a batch Job or a custom object."""
        namespace = self.kube_settings.namespace
        if kind is None:
            job = build_job(request, self.kube_settings, runner_env=runner_connection_env(self.settings))
            return (
                lambda **options: self.api.batch.create_namespaced_job(namespace, job, **options),
                lambda **options: self.api.batch.read_namespaced_job(name, namespace, **options),
                "batch/v1",
                "Job",
            )
        document = build_custom_object(request, self.kube_settings, kind, runner_env=runner_connection_env(self.settings))
        custom = self.api.custom
        return (
            lambda **options: custom.create_namespaced_custom_object(kind.group, kind.version, namespace, kind.plural, document, **options),
            lambda **options: custom.get_namespaced_custom_object(kind.group, kind.version, namespace, kind.plural, name, **options),
            kind.api_version,
            kind.kind,
        )

    def _release(self, job_id: str) -> None:
        namespace = self.kube_settings.namespace
        known = self._names.pop(job_id, None)
        if known is not None and known[1] is not None:
            name, kind = known
            self.api.call(
                f"PATCH {kind.plural} {namespace}/{name}",
                self.api.custom.patch_namespaced_custom_object,
                kind.group, kind.version, namespace, kind.plural, name, suspend_patch(kind, False),
            )
            log.info("job=%s released %s %s/%s", job_id, kind.kind, namespace, name)
            return
        if known is not None:
            name = known[0]
            # Clearing `suspend` is idempotent, so no read is needed first.
            self.api.call(
                f"PATCH job {namespace}/{name}", self.api.batch.patch_namespaced_job, name, namespace, {"spec": {"suspend": False}}
            )
            log.info("job=%s released Job %s/%s", job_id, namespace, name)
            return

        # Submitted by an earlier run of the worker: find the Job by its job-id label.
        listing = self.api.call(
            f"LIST jobs job={job_id}", self.api.batch.list_namespaced_job, namespace, label_selector=job_selector(job_id)
        )
        if not listing.items:
            self._release_custom(job_id)
            return
        job = listing.items[0]
        if not job.spec.suspend:
            return
        self.api.call(
            f"PATCH job {namespace}/{job.metadata.name}",
            self.api.batch.patch_namespaced_job,
            job.metadata.name,
            namespace,
            {"spec": {"suspend": False}},
        )
        log.info("job=%s released Job %s/%s", job_id, namespace, job.metadata.name)

    def _release_custom(self, job_id: str) -> None:
        namespace = self.kube_settings.namespace
        for kind in self.custom_kinds:
            listing = self.api.call(
                f"LIST {kind.plural} job={job_id}",
                self.api.custom.list_namespaced_custom_object,
                kind.group, kind.version, namespace, kind.plural, label_selector=job_selector(job_id),
            )
            for item in listing.get("items") or []:
                name = item["metadata"]["name"]
                self.api.call(
                    f"PATCH {kind.plural} {namespace}/{name}",
                    self.api.custom.patch_namespaced_custom_object,
                    kind.group, kind.version, namespace, kind.plural, name, suspend_patch(kind, False),
                )
                log.info("job=%s released %s %s/%s", job_id, kind.kind, namespace, name)
                return
        raise CustodyError(f"job={job_id}: no Job or custom object in namespace {namespace} to release; submit it first.")
