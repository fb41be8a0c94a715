"""The Kubernetes API boundary: client construction, retries and error conversion.

Every call to the official client goes through `KubeApi.call`, which applies
one policy:

- 429 Too Many Requests and 5xx responses, and connection failures, are retried
  with exponential back-off (honouring `Retry-After`), then raised as
  `ServiceUnavailableError` (temporary);
- 409 Conflict becomes `AlreadyExists` and 404 becomes `NotFound`, which
  callers treat as results, not failures;
- 400 and 422 become `Rejected` (permanent) with the API server's message,
  which names the invalid field; so does a 403 from an admission controller
  (Pod Security, a policy or a webhook), whose message says what it refused;
- 401, and a 403 from RBAC ("User ... cannot create resource ..."), become
  `AccessDenied` (permanent) naming the fix;
- 410 Gone (an expired resourceVersion) becomes `Expired`, so a watcher relists.

The client is synchronous; async callers run it with `asyncio.to_thread`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from custody.errors import PermanentError, ServiceUnavailableError, TransientError
from processors.k8s_settings import KubernetesSettings

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_RETRY_AFTER_S = 30.0


class KubeError(Exception):
    """Mixin of the errors below; `status` is the HTTP status and `message` the API server's text."""

    status: int
    message: str


class AlreadyExists(PermanentError, KubeError):
    """409: an object of that name exists (for a create, the job was submitted before)."""


class NotFound(PermanentError, KubeError):
    """404: the object or the namespace does not exist."""


class Rejected(PermanentError, KubeError):
    """400 or 422: the API server refused the object as invalid; the message names the field."""


class AccessDenied(PermanentError, KubeError):
    """401 or 403: the credentials or their RBAC rules do not allow the request."""


class Expired(TransientError, KubeError):
    """410: the resourceVersion is older than the server keeps; relist and watch again."""


def _with_status(error: KubeError, status: int, message: str) -> KubeError:
    error.status = status
    error.message = message
    return error


def api_message(error: Any) -> str:
    """Return the API server's message of an ApiException, or its reason when the body has none."""
    body = getattr(error, "body", None)
    if body:
        try:
            return str(json.loads(body).get("message") or body)
        except (ValueError, AttributeError):
            return str(body)[:1000]
    return str(getattr(error, "reason", "") or error)


def convert(error: Any, *, what: str) -> Exception:
    """Convert an ApiException into Custody's error for its status; `what` names the request."""
    status = int(getattr(error, "status", 0) or 0)
    message = api_message(error)
    if status == 409:
        return _with_status(AlreadyExists(f"{what}: already exists ({message})"), status, message)
    if status == 404:
        return _with_status(NotFound(f"{what}: not found ({message})"), status, message)
    if status == 410:
        return _with_status(Expired(f"{what}: resource version expired ({message})", retry_after_s=0.0), status, message)
    if status in (400, 422) or (status == 403 and not _is_rbac_denial(message)):
        return _with_status(Rejected(f"{what}: the API server rejected it: {message}"), status, message)
    if status in (401, 403):
        return _with_status(
            AccessDenied(
                f"{what}: access denied ({message}). Grant the processor's service account this verb and resource "
                "in its Role (see k8s/base/rbac.yaml), or fix CUSTODY_KUBERNETES_KUBECONFIG."
            ),
            status,
            message,
        )
    return ServiceUnavailableError(f"{what}: the API server returned {status}: {message}")


def _is_rbac_denial(message: str) -> bool:
    # RBAC denials read `<resource> is forbidden: User "<name>" cannot <verb> resource ...`;
    # admission denials (`violates PodSecurity`, `admission webhook ... denied`) do not.
    return " cannot " in message


def is_retryable(error: Any) -> bool:
    """Return True for 429, 5xx and connection failures."""
    status = getattr(error, "status", None)
    if status is None:
        return True
    return int(status) == 429 or int(status) >= 500


def retry_after_s(error: Any, default: float) -> float:
    """Return the server's Retry-After in seconds when it sent one, else `default`."""
    headers = getattr(error, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return min(MAX_RETRY_AFTER_S, float(value)) if value is not None else default
    except ValueError:
        return default


class KubeApi:
    """The typed client groups Custody uses, built from a kubeconfig or the in-cluster account.

    Building reads files only; the first request is `probe`.
    """

    def __init__(self, settings: KubernetesSettings, *, sleep: Callable[[float], None] = time.sleep) -> None:
        from kubernetes import client, config

        self.settings = settings
        self._sleep = sleep
        if settings.kubeconfig is not None:
            if not settings.kubeconfig.is_file():
                from custody.errors import ConfigurationError

                raise ConfigurationError(
                    f"kubeconfig {settings.kubeconfig} does not exist; fix CUSTODY_KUBERNETES_KUBECONFIG "
                    "(for the local stack: ~/.local/state/custody/stack/kube/kubeconfig)."
                )
            self.api_client = config.new_client_from_config(config_file=str(settings.kubeconfig), context=settings.context)
        else:
            configuration = client.Configuration()
            config.load_incluster_config(client_configuration=configuration)
            self.api_client = client.ApiClient(configuration)
        self.batch = client.BatchV1Api(self.api_client)
        self.core = client.CoreV1Api(self.api_client)
        self.custom = client.CustomObjectsApi(self.api_client)
        self.version = client.VersionApi(self.api_client)

    @property
    def server(self) -> str:
        """The API server URL, for messages."""
        return str(self.api_client.configuration.host)

    def call(self, what: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call the client with the retry and conversion policy of the module docstring."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        kwargs.setdefault("_request_timeout", self.settings.request_timeout_s)
        delay = self.settings.retry_backoff_s
        attempts = self.settings.request_attempts
        for attempt in range(1, attempts + 1):
            try:
                return function(*args, **kwargs)
            # 429, 5xx and lost connections may pass on a later try. Other statuses are final.
            except ApiException as error:
                if not is_retryable(error):
                    raise convert(error, what=what) from error
                if attempt == attempts:
                    raise convert(error, what=what) from error
                wait = retry_after_s(error, delay)
                log.warning("%s: API server returned %s, retry %d/%d in %.1fs", what, error.status, attempt, attempts - 1, wait)
            except (HTTPError, OSError) as error:
                if attempt == attempts:
                    raise ServiceUnavailableError(
                        f"{what}: kube-apiserver at {self.server} did not respond ({error}). "
                        "Check that it runs (local stack: `custody dev up kube`) and CUSTODY_KUBERNETES_KUBECONFIG."
                    ) from error
                wait = delay
                log.warning("%s: connection to %s failed (%s); retry %d/%d in %.1fs", what, self.server, error, attempt, attempts - 1, wait)
            self._sleep(wait)
            delay *= 2
        raise AssertionError("unreachable: the loop returns or raises")

    def probe(self) -> str:
        """Return the server's version; raise ServiceUnavailableError naming the endpoint when it does not respond."""
        info = self.call("GET /version", self.version.get_code)
        return str(info.git_version)

    def close(self) -> None:
        """Release the connection pool."""
        self.api_client.close()
