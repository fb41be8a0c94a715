"""Watch the executor's Jobs and report their attempts as job events, exactly as the local executor does.

Loop (in one daemon thread, because the official client blocks):

1. list every Job with the executor's label and report what each one's status
   implies but its `custody.io/reported-transitions` annotation does not yet
   count (this is the start-up reconciliation: jobs that finished while no
   watcher ran are reported now);
2. watch from the list's resourceVersion, with bookmarks, reporting each ADDED,
   MODIFIED or DELETED Job the same way, and renew the watch from the last
   resourceVersion when the server closes it;
3. on 410 Gone (the resourceVersion expired) go back to step 1; the relist
   sees every Job's current status, and the annotation says what is missing,
   so no transition is lost and none is reported twice.

Reporting one Job publishes the missing events to Kafka and waits for the
acknowledgement, then raises the annotation. A crash between the two repeats
those events on the next start with the same event ids (derived from the job
id, the attempt and the kind), which consumers drop as duplicates.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from custody.errors import CustodyError, ServiceUnavailableError
from custody.events import CloudEvent
from custody.events.models import CodeIdentity
from processors import jobevents
from processors.executors.base import JobRequest
from processors.k8s_api import Expired, KubeApi, NotFound, convert
from processors.k8s_custom import CustomKind, custom_transitions
from processors.k8s_jobs import ANNOTATION_JOB_ID, LABEL_JOB_ID, REQUEST_KEY, managed_selector
from processors.k8s_transitions import REPORTED_ANNOTATION, Transition, duration_s, reported_count, transitions

log = logging.getLogger(__name__)

Publish = Callable[[list[CloudEvent]], None]
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
RECONNECT_DELAY_S = 2.0
MAX_RECONNECT_DELAY_S = 30.0


@dataclass(frozen=True)
class Workload:
    """How to list, watch and annotate one kind of job object, and read its history.

    `lister` is called as `lister(namespace, **query)` and returns the raw HTTP
    response; a plain function without a client docstring makes the client's
    watch hand out dictionaries too.
    """

    resource: str
    lister: Callable[..., Any]
    patch: Callable[..., Any]
    history: Callable[[dict[str, Any]], list[Transition]]
    pod_selector: Callable[[dict[str, Any]], str]


def batch_jobs(api: KubeApi) -> Workload:
    """Return the workload of the executor's batch/v1 Jobs."""

    def list_jobs(namespace: str, **query: Any) -> Any:
        return api.batch.list_namespaced_job(namespace, _preload_content=False, **query)

    return Workload(
        resource="jobs",
        lister=list_jobs,
        patch=lambda name, namespace, body, **options: api.batch.patch_namespaced_job(
            name, namespace, body, _preload_content=False, **options
        ),
        history=transitions,
        pod_selector=lambda job: f"batch.kubernetes.io/job-name={job['metadata']['name']}",
    )


def custom_objects(api: KubeApi, kind: CustomKind) -> Workload:
    """Return the workload of one job-like custom kind, whose pods carry the job-id label."""

    def list_objects(namespace: str, **query: Any) -> Any:
        return api.custom.list_namespaced_custom_object(kind.group, kind.version, namespace, kind.plural, _preload_content=False, **query)

    def patch_object(name: str, namespace: str, body: dict[str, Any], **options: Any) -> Any:
        return api.custom.patch_namespaced_custom_object(
            kind.group, kind.version, namespace, kind.plural, name, body, _preload_content=False, **options
        )

    return Workload(
        resource=f"{kind.plural}.{kind.group}",
        lister=list_objects,
        patch=patch_object,
        history=lambda document: custom_transitions(kind, document),
        pod_selector=lambda document: f"{LABEL_JOB_ID}={(document['metadata'].get('labels') or {}).get(LABEL_JOB_ID, '')}",
    )


class JobReporter:
    """Turn one Job object into the job events it still owes, publish them, and record the count."""

    def __init__(self, api: KubeApi, publish: Publish, *, log_tail_chars: int = 4000, workload: Workload | None = None) -> None:
        self.api = api
        self.workload = workload or batch_jobs(api)
        self.publish = publish
        self.log_tail_chars = log_tail_chars
        self._requests: dict[str, JobRequest] = {}
        # Counts this process reported, by object uid. Watch events queued
        # before our annotation patch still carry the old count, so the
        # annotation alone would report those transitions twice.
        self._reported: dict[str, int] = {}

    def report(self, job: dict[str, Any], *, deleted: bool = False) -> int:
        """Publish the Job's unreported transitions; return how many were published."""
        metadata = job["metadata"]
        uid = metadata.get("uid", "")
        history = self.workload.history(job)
        done = max(reported_count(job), self._reported.get(uid, 0))
        if len(history) <= done:
            return 0

        name, namespace = metadata["name"], metadata["namespace"]
        job_id = (metadata.get("annotations") or {}).get(ANNOTATION_JOB_ID, name)
        request = self._request(job)
        if request is None:
            return 0

        pods = self._pods(namespace, name, self.workload.pod_selector(job))
        events = [self._event(request, job, transition, pods) for transition in history[done:]]
        self.publish(events)
        self._reported[uid] = len(history)
        for transition in history[done:]:
            log.info(
                "job=%s attempt=%d reported %s%s from namespace=%s job_name=%s",
                job_id, transition.attempt, transition.kind, " (final)" if transition.final else "", namespace, name,
            )

        if not deleted:
            self._record(namespace, name, len(history), job_id=job_id)
        return len(events)

    # Reading what the events need

    def _request(self, job: dict[str, Any]) -> JobRequest | None:
        metadata = job["metadata"]
        uid = metadata.get("uid", "")
        if uid in self._requests:
            return self._requests[uid]
        try:
            config_map = self.api.call(
                f"GET configmap {metadata['namespace']}/{metadata['name']}",
                self.api.core.read_namespaced_config_map,
                metadata["name"],
                metadata["namespace"],
            )
            request = JobRequest.model_validate_json(config_map.data[REQUEST_KEY])
        # Without its request no event can be built; the Job stays unreported
        # and is tried again on the next change or relist.
        except NotFound:
            log.error(
                "job_name=%s namespace=%s has no request ConfigMap; its events cannot be reported. "
                "It was not created by this executor, or the ConfigMap was deleted.",
                metadata["name"], metadata["namespace"],
            )
            return None
        except (KeyError, TypeError, ValueError) as error:
            log.error("job_name=%s namespace=%s request ConfigMap is unreadable (%s)", metadata["name"], metadata["namespace"], error)
            return None
        self._requests[uid] = request
        return request

    def _pods(self, namespace: str, name: str, selector: str) -> list[dict[str, Any]]:
        try:
            pods = self.api.call(
                f"LIST pods of job {namespace}/{name}",
                self.api.core.list_namespaced_pod,
                namespace,
                label_selector=selector,
            )
        # Pods are details (exit codes, messages); the events go out without them.
        except CustodyError as error:
            log.warning("job_name=%s namespace=%s pods unreadable (%s); reporting without exit codes", name, namespace, error)
            return []
        items = [self.api.api_client.sanitize_for_serialization(pod) for pod in pods.items]
        return sorted(items, key=lambda pod: pod["metadata"].get("creationTimestamp") or "")

    def _event(self, request: JobRequest, job: dict[str, Any], transition: Transition, pods: list[dict[str, Any]]) -> CloudEvent:
        metadata = job["metadata"]
        runner = f"kubernetes:{metadata['namespace']}/{metadata['name']}"
        if transition.kind == "started":
            return jobevents.started(request, attempt=transition.attempt, runner=runner)

        pod = pods[transition.attempt - 1] if len(pods) >= transition.attempt else None
        terminated = _transform_termination(pod)
        code = _code_identity(request, pod)
        tail = (terminated.get("message") or "")[-self.log_tail_chars :] if terminated else ""
        if transition.kind == "succeeded":
            return jobevents.succeeded(
                request,
                attempt=transition.attempt,
                duration_s=duration_s(job) or 0.0,
                output_commit_id=_output_commit_id(pod),
                code=code,
                log_tail=tail,
            )
        exit_code = terminated.get("exitCode") if terminated else None
        reason = transition.reason
        if terminated and terminated.get("reason"):
            reason = f"{reason} (container transform: {terminated['reason']}, exit code {exit_code})"
        return jobevents.failed(
            request,
            attempt=transition.attempt,
            reason=reason,
            final=transition.final,
            duration_s=duration_s(job) if transition.final else None,
            exit_code=exit_code,
            code=code,
            log_tail=tail,
        )

    def _record(self, namespace: str, name: str, count: int, *, job_id: str) -> None:
        patch = {"metadata": {"annotations": {REPORTED_ANNOTATION: str(count)}}}
        try:
            self.api.call(f"PATCH {self.workload.resource} {namespace}/{name}", self.workload.patch, name, namespace, patch)
        # A Job deleted meanwhile needs no count: it will not be listed again.
        except NotFound:
            log.info("job=%s job_name=%s was deleted before its report count was stored", job_id, name)


def _statuses(pod: dict[str, Any] | None) -> list[dict[str, Any]]:
    if pod is None:
        return []
    status = pod.get("status") or {}
    return list(status.get("containerStatuses") or []) + list(status.get("initContainerStatuses") or [])


def _transform_termination(pod: dict[str, Any] | None) -> dict[str, Any]:
    for container in _statuses(pod):
        if container.get("name") == "transform":
            return (container.get("state") or {}).get("terminated") or {}
    return {}


def _output_commit_id(pod: dict[str, Any] | None) -> str | None:
    # The commit-outputs sidecar writes {"output_commit_id": "<sha256>"} as its
    # termination message (docs/kubernetes.md); any other text is ignored.
    for container in _statuses(pod):
        message = ((container.get("state") or {}).get("terminated") or {}).get("message") or ""
        try:
            value = json.loads(message).get("output_commit_id")
        except (ValueError, AttributeError):
            continue
        if isinstance(value, str) and _SHA256.match(value):
            return value
    return None


def _code_identity(request: JobRequest, pod: dict[str, Any] | None) -> CodeIdentity:
    digest = None
    for container in _statuses(pod):
        image_id = container.get("imageID") or ""
        if container.get("name") == "transform" and "@sha256:" in image_id:
            digest = "sha256:" + image_id.split("@sha256:", 1)[1]
    transform = request.transform
    return CodeIdentity(
        image=transform.image,
        image_digest=digest,
        command=list(transform.command),
        args=list(transform.args),
        parameters=dict(transform.env),
    )


class JobWatcher:
    """List, watch and relist the executor's Jobs in one namespace, handing each to a reporter."""

    def __init__(self, api: KubeApi, reporter: JobReporter) -> None:
        self.api = api
        self.reporter = reporter
        self.workload = reporter.workload
        self.namespace = api.settings.namespace
        self.resource_version: str | None = None
        self.relists = 0
        self._stop = threading.Event()
        self._watch: Any = None
        self._thread: threading.Thread | None = None
        # Set when a report failed, so the end of the current watch relists.
        self._retry_reports = False

    def start(self, *, resource_version: str | None = None) -> None:
        """Reconcile once in the caller's thread (so start-up errors surface), then watch in a daemon thread.

        With `resource_version` (one the caller kept from an earlier run) the
        watch resumes from it without listing first; if it expired, the
        watcher relists on the server's 410.
        """
        self.resource_version = resource_version if resource_version is not None else self.relist()
        self._thread = threading.Thread(target=self._run, name=f"job-watcher-{self.namespace}", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop watching; an open watch connection is closed so the thread ends at once."""
        self._stop.set()
        watch = self._watch
        if watch is not None:
            watch.stop()
            response = getattr(watch, "_resp", None)
            if response is not None:
                response.close()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def relist(self) -> str:
        """Report every managed Job's missing transitions; return the list's resourceVersion."""
        response = self.api.call(
            f"LIST {self.workload.resource} in {self.namespace}", self.workload.lister, self.namespace, label_selector=managed_selector()
        )
        listing = json.loads(response.data)
        self.relists += 1
        self._retry_reports = False
        for item in listing.get("items") or []:
            self._report(item)
        version = str(listing["metadata"]["resourceVersion"])
        log.debug("namespace=%s listed %s=%d resource_version=%s", self.namespace, self.workload.resource, len(listing.get("items") or []), version)
        return version

    def _run(self) -> None:
        delay = RECONNECT_DELAY_S
        while not self._stop.is_set():
            try:
                self.resource_version = self._watch_once(self.resource_version)
                delay = RECONNECT_DELAY_S
                if self._retry_reports:
                    self._relist_until_done()
            # Policy: an expired resourceVersion means "relist", which reports
            # what changed meanwhile. A server that does not respond is retried.
            except Expired:
                log.info("namespace=%s watch expired at resource_version=%s; relisting", self.namespace, self.resource_version)
                self._relist_until_done()
            except (ServiceUnavailableError, OSError) as error:
                if self._stop.is_set():
                    return
                log.warning("namespace=%s watch failed (%s); reconnecting in %.0fs", self.namespace, error, delay)
                self._stop.wait(delay)
                delay = min(MAX_RECONNECT_DELAY_S, delay * 2)
            except Exception:
                if self._stop.is_set():
                    return
                # A bug must not end the watcher; the next relist repeats any missed report.
                log.exception("namespace=%s watcher failed; relisting in %.0fs", self.namespace, delay)
                self._stop.wait(delay)
                self._relist_until_done()

    def _relist_until_done(self) -> None:
        while not self._stop.is_set():
            try:
                self.resource_version = self.relist()
                return
            except CustodyError as error:
                log.warning("namespace=%s relist failed (%s); retrying", self.namespace, error)
                self._stop.wait(RECONNECT_DELAY_S)

    def _watch_once(self, resource_version: str | None) -> str | None:
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        self._watch = watch.Watch()
        timeout = self.api.settings.watch_timeout_s
        try:
            stream = self._watch.stream(
                self._watch_call,
                self.namespace,
                label_selector=managed_selector(),
                resource_version=resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=timeout,
                _request_timeout=timeout + 30,
            )
            for event in stream:
                if self._stop.is_set():
                    break
                if event["type"] == "BOOKMARK":
                    resource_version = self._watch.resource_version or resource_version
                    continue
                job = event["object"]
                resource_version = job["metadata"].get("resourceVersion") or resource_version
                self._report(job, deleted=event["type"] == "DELETED")
        except ApiException as error:
            raise convert(error, what=f"WATCH {self.workload.resource} in {self.namespace}") from error
        except HTTPError as error:
            raise ServiceUnavailableError(f"watch of {self.workload.resource} in {self.namespace} at {self.api.server} broke: {error}") from error
        finally:
            self._watch = None
        return resource_version

    def _watch_call(self, namespace: str, **query: Any) -> Any:
        # The client's watch passes watch=True and _preload_content=False itself
        # and, finding no return type in this function, yields dictionaries.
        query.pop("_preload_content", None)
        return self.workload.lister(namespace, **query)

    def _report(self, job: dict[str, Any], *, deleted: bool = False) -> None:
        try:
            self.reporter.report(job, deleted=deleted)
        # One Job that cannot be reported must not stop the others; it is retried
        # on its next change and on every relist.
        except CustodyError as error:
            self._retry_reports = True
            log.error(
                "job_name=%s report failed (%s); retried on its next change or at the end of the current watch",
                job["metadata"].get("name"),
                error,
            )
        except Exception:
            # A bug must not end the watcher either; the report is retried the same way.
            self._retry_reports = True
            log.exception("job_name=%s report failed unexpectedly; retried at the end of the current watch", job["metadata"].get("name"))
