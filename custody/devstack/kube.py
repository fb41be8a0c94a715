"""A Kubernetes control plane on 127.0.0.1: etcd, API server, controller manager, scheduler and kwok.

The five services start in that order, each as a detached process with its
own state directory, like Kafka, Neo4j and the S3 server. They form the
`kube` group of the local stack, which `custody dev up` starts only when asked
(`custody dev up kube`) or when CUSTODY_STACK_KUBE=1, because most work needs no
Kubernetes and the first build takes about 5 minutes.

- The binaries come from one `go build` of the wrapper module in
  `custody/devstack/go/kube` (see kube_build.py).
- Certificates, service-account keys and kubeconfigs are generated once under
  `<state dir>/kube/` (see kube_pki.py). `<state dir>/kube/kubeconfig` is the
  administrator's kubeconfig; `custody dev status` prints its path.
- kwok simulates one node, `custody-kwok-node-0`, and the pods bound to it;
  pod annotations decide whether a pod succeeds or fails (see kube_stages.py).
- etcd listens on plain HTTP on loopback and skips fsync: the data is
  disposable, and speed matters more in tests than crash safety.
"""

from __future__ import annotations

import json
import logging
import ssl
import urllib.error
import urllib.request
from functools import cached_property
from pathlib import Path

from custody.devstack.config import StackSettings
from custody.devstack.kube_build import KubeBuild
from custody.devstack.kube_pki import KUBERNETES_SERVICE_IP, SERVICE_CLUSTER_IP_RANGE, Pki, ensure_pki
from custody.devstack.kube_stages import NODE_ANNOTATION, NODE_ANNOTATION_VALUE, NODE_NAME, kwok_config_text, node_manifest
from custody.devstack.service import Service
from custody.devstack.tools import client_host, join_host_port
from custody.errors import StackError

log = logging.getLogger(__name__)

KUBE_SERVICE_NAMES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
HEALTH_TIMEOUT_S = 2.0

# The Job controller and the executor's tests create many objects quickly;
# the client defaults (20 requests per second) would make them wait.
CONTROLLER_API_QPS = "200"
CONTROLLER_API_BURST = "400"


def kube_home(settings: StackSettings) -> Path:
    """Return the directory shared by the control-plane services: certificates and kubeconfigs."""
    return settings.state_dir / "kube"


def kubeconfig_path(settings: StackSettings) -> Path:
    """Return the administrator's kubeconfig of the local control plane."""
    return Pki(kube_home(settings) / "pki").kubeconfig("admin")


def kubectl_path(settings: StackSettings) -> Path:
    """Return the kubectl built with the control plane, of the same version."""
    return KubeBuild(settings.cache_dir).binary("kubectl")


def build_kube_services(settings: StackSettings) -> dict[str, Service]:
    """Return the control-plane services in start order."""
    build = KubeBuild(settings.cache_dir)
    services: list[KubeService] = [
        EtcdService(settings, build),
        KubeApiServerService(settings, build),
        KubeControllerManagerService(settings, build),
        KubeSchedulerService(settings, build),
        KwokService(settings, build),
    ]
    return {service.name: service for service in services}


class KubeService(Service):
    """A control-plane component: installed by the shared build, configured with the shared certificates."""

    def __init__(self, settings: StackSettings, build: KubeBuild) -> None:
        self.build = build
        super().__init__(settings)

    @property
    def install_dir(self) -> Path:
        """The shared build directory of the Kubernetes version, for every component."""
        return self.build.install_dir

    def install(self) -> None:
        """Build every control-plane program unless the cache has them."""
        self.build.install()

    @property
    def pki(self) -> Pki:
        """The certificates, keys and kubeconfigs shared by the components."""
        return Pki(kube_home(self.settings) / "pki")

    def prepare(self) -> None:
        """Create the data directory and the certificates, unless they exist."""
        super().prepare()
        ensure_pki(self.pki.directory, server_url=self.api_server_url)

    @property
    def host(self) -> str:
        """The address every component binds to."""
        return self.settings.host

    @property
    def api_server_url(self) -> str:
        """The URL clients use to reach the API server."""
        return f"https://{join_host_port(client_host(self.host), self.settings.kube_apiserver_port)}"

    def _serving_flags(self, port: int) -> list[str]:
        # The controller manager and the scheduler serve /healthz over TLS with
        # the shared serving certificate, so the health check can verify them.
        return [
            f"--bind-address={self.host}",
            f"--secure-port={port}",
            f"--tls-cert-file={self.pki.crt('serving')}",
            f"--tls-private-key-file={self.pki.key('serving')}",
            f"--client-ca-file={self.pki.crt('ca')}",
            f"--cert-dir={self.home / 'certs'}",
        ]

    def _tls_context(self, *, client: str | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki.crt("ca")))
        if client is not None:
            context.load_cert_chain(str(self.pki.crt(client)), str(self.pki.key(client)))
        return context

    def _https_ok(self, url: str, *, client: str | None = None) -> bool:
        # Verifying against our own authority means that another server on the
        # port never passes for ours.
        return _get_ok(url, context=self._tls_context(client=client), service=self.name)


class EtcdService(KubeService):
    """A single etcd member on `kube_etcd_port`, the API server's storage."""

    name = "etcd"

    def __init__(self, settings: StackSettings, build: KubeBuild) -> None:
        self.version = build.versions.etcd
        super().__init__(settings, build)

    @property
    def client_url(self) -> str:
        """The URL the API server stores its objects at."""
        return f"http://{join_host_port(client_host(self.host), self.settings.kube_etcd_port)}"

    def command(self) -> list[str]:
        """Return the etcd command line; the data directory carries the process marker."""
        peer_url = f"http://{join_host_port(client_host(self.host), self.settings.kube_etcd_peer_port)}"
        return [
            str(self.build.binary("etcd")),
            "--name=custody",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls=http://{join_host_port(self.host, self.settings.kube_etcd_port)}",
            f"--advertise-client-urls={self.client_url}",
            f"--listen-peer-urls=http://{join_host_port(self.host, self.settings.kube_etcd_peer_port)}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=custody={peer_url}",
            "--initial-cluster-state=new",
            # Disposable data: skipping fsync makes every write (and so every
            # Kubernetes object change) several times faster on a VM disk.
            "--unsafe-no-fsync",
            "--snapshot-count=10000",
            "--quota-backend-bytes=2147483648",
            "--log-level=warn",
        ]

    def is_healthy(self) -> bool:
        """Return True when etcd reports itself healthy at /health."""
        body = _get_body(f"{self.client_url}/health", service=self.name)
        try:
            return body is not None and json.loads(body).get("health") == "true"
        except (ValueError, AttributeError):
            return False

    def endpoint(self) -> str:
        """Return the client URL, for example `http://127.0.0.1:2379`."""
        return self.client_url

    def ports(self) -> dict[int, str]:
        """Return the listening ports, each with the setting that changes it."""
        return {
            self.settings.kube_etcd_port: "CUSTODY_STACK_KUBE_ETCD_PORT",
            self.settings.kube_etcd_peer_port: "CUSTODY_STACK_KUBE_ETCD_PEER_PORT",
        }


class KubeApiServerService(KubeService):
    """kube-apiserver on `kube_apiserver_port`, with RBAC and client-certificate authentication."""

    name = "kube-apiserver"

    def __init__(self, settings: StackSettings, build: KubeBuild) -> None:
        self.version = build.versions.kubernetes
        super().__init__(settings, build)

    def command(self) -> list[str]:
        """Return the API server command line; its certificate directory carries the process marker."""
        pki = self.pki
        etcd_url = f"http://{join_host_port(client_host(self.host), self.settings.kube_etcd_port)}"
        return [
            str(self.build.binary("kube-apiserver")),
            f"--etcd-servers={etcd_url}",
            f"--bind-address={self.host}",
            f"--secure-port={self.settings.kube_apiserver_port}",
            # The `kubernetes` Service would point at this address, and
            # Endpoints may not hold a loopback address, so the reconciler is off.
            "--advertise-address=127.0.0.1",
            "--endpoint-reconciler-type=none",
            f"--tls-cert-file={pki.crt('serving')}",
            f"--tls-private-key-file={pki.key('serving')}",
            f"--client-ca-file={pki.crt('ca')}",
            f"--service-account-key-file={pki.service_account_pub}",
            f"--service-account-signing-key-file={pki.service_account_key}",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            "--authorization-mode=RBAC",
            f"--cert-dir={self.home / 'certs'}",
            # Jobs bypass the watch cache, so their watches are served by etcd
            # and expire (410 Gone) as soon as etcd is compacted. Tests use this
            # to cut a job watcher off on demand. With the cache, a watch
            # expires only after thousands of changes.
            "--watch-cache-sizes=jobs.batch#0",
            "--profiling=false",
        ]

    def is_healthy(self) -> bool:
        """Return True when /readyz returns 200 for the administrator's certificate."""
        return self._https_ok(f"{self.api_server_url}/readyz", client="admin")

    def endpoint(self) -> str:
        """Return the API server URL, for example `https://127.0.0.1:6443`."""
        return self.api_server_url

    def ports(self) -> dict[int, str]:
        """Return the listening port with the setting that changes it."""
        return {self.settings.kube_apiserver_port: "CUSTODY_STACK_KUBE_APISERVER_PORT"}

    def check_ports_free(self) -> None:
        """Also check that etcd responds, because the API server exits at once without it."""
        super().check_ports_free()
        etcd = EtcdService(self.settings, self.build)
        if not etcd.is_healthy():
            raise StackError(
                f"cannot start kube-apiserver: etcd does not respond at {etcd.endpoint()}. "
                "Start the whole control plane with `custody dev up kube`."
            )


class KubeControllerManagerService(KubeService):
    """kube-controller-manager: the Job, garbage-collection, service-account and other controllers."""

    name = "kube-controller-manager"

    def __init__(self, settings: StackSettings, build: KubeBuild) -> None:
        self.version = build.versions.kubernetes
        super().__init__(settings, build)

    def command(self) -> list[str]:
        """Return the controller manager command line; its certificate directory carries the process marker."""
        pki = self.pki
        kubeconfig = pki.kubeconfig("controller-manager")
        return [
            str(self.build.binary("kube-controller-manager")),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            *self._serving_flags(self.settings.kube_controller_manager_port),
            f"--service-account-private-key-file={pki.service_account_key}",
            f"--root-ca-file={pki.crt('ca')}",
            f"--cluster-signing-cert-file={pki.crt('ca')}",
            f"--cluster-signing-key-file={pki.key('ca')}",
            "--use-service-account-credentials=true",
            # One instance, so leader election only delays the start.
            "--leader-elect=false",
            f"--kube-api-qps={CONTROLLER_API_QPS}",
            f"--kube-api-burst={CONTROLLER_API_BURST}",
            "--concurrent-job-syncs=20",
        ]

    def is_healthy(self) -> bool:
        """Return True when /healthz returns 200 over TLS verified by our authority."""
        return self._https_ok(self.endpoint() + "/healthz")

    def endpoint(self) -> str:
        """Return the health URL base, for example `https://127.0.0.1:10257`."""
        return f"https://{join_host_port(client_host(self.host), self.settings.kube_controller_manager_port)}"

    def ports(self) -> dict[int, str]:
        """Return the listening port with the setting that changes it."""
        return {self.settings.kube_controller_manager_port: "CUSTODY_STACK_KUBE_CONTROLLER_MANAGER_PORT"}


class KubeSchedulerService(KubeService):
    """kube-scheduler: binds pods to the simulated node."""

    name = "kube-scheduler"

    def __init__(self, settings: StackSettings, build: KubeBuild) -> None:
        self.version = build.versions.kubernetes
        super().__init__(settings, build)

    def command(self) -> list[str]:
        """Return the scheduler command line; its certificate directory carries the process marker."""
        kubeconfig = self.pki.kubeconfig("scheduler")
        return [
            str(self.build.binary("kube-scheduler")),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            *self._serving_flags(self.settings.kube_scheduler_port),
            "--leader-elect=false",
        ]

    def is_healthy(self) -> bool:
        """Return True when /healthz returns 200 over TLS verified by our authority."""
        return self._https_ok(self.endpoint() + "/healthz")

    def endpoint(self) -> str:
        """Return the health URL base, for example `https://127.0.0.1:10259`."""
        return f"https://{join_host_port(client_host(self.host), self.settings.kube_scheduler_port)}"

    def ports(self) -> dict[int, str]:
        """Return the listening port with the setting that changes it."""
        return {self.settings.kube_scheduler_port: "CUSTODY_STACK_KUBE_SCHEDULER_PORT"}


class KwokService(KubeService):
    """kwok: keeps the simulated node Ready and plays the pods bound to it through the stages."""

    name = "kwok"

    def __init__(self, settings: StackSettings, build: KubeBuild) -> None:
        self.version = build.versions.kwok
        super().__init__(settings, build)
        self.config_file = self.home / "kwok.yaml"

    def prepare(self) -> None:
        """Write the stages and register the simulated node with the API server."""
        super().prepare()
        self.config_file.write_text(kwok_config_text())
        self._ensure_node()

    def _ensure_node(self) -> None:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        start_first = "Start the whole control plane with `custody dev up kube`."
        try:
            self._core_api.read_node(NODE_NAME, _request_timeout=HEALTH_TIMEOUT_S)
            return
        # A missing node is the first start; anything else means the API server is not usable.
        except ApiException as error:
            if error.status != 404:
                raise StackError(f"cannot read node {NODE_NAME} at {self.api_server_url}: {error.reason}. {start_first}") from error
        except (HTTPError, OSError) as error:
            raise StackError(f"kube-apiserver does not respond at {self.api_server_url} ({error}). {start_first}") from error

        self._core_api.create_node(node_manifest(), _request_timeout=HEALTH_TIMEOUT_S)
        log.info("service=kwok registered node=%s", NODE_NAME)

    @cached_property
    def _core_api(self):  # type: ignore[no-untyped-def]
        # Imported here so that `custody dev` commands without Kubernetes do not load the client.
        from kubernetes import client, config

        return client.CoreV1Api(config.new_client_from_config(config_file=str(self.pki.kubeconfig("admin"))))

    def command(self) -> list[str]:
        """Return the kwok command line; its config path carries the process marker."""
        return [
            str(self.build.binary("kwok")),
            f"--kubeconfig={self.pki.kubeconfig('kwok')}",
            f"--config={self.config_file}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={NODE_ANNOTATION}={NODE_ANNOTATION_VALUE}",
            # Addresses written into node and pod status only; nothing dials
            # them. Loopback keeps every such address on this machine.
            "--node-ip=127.0.0.1",
            "--cidr=127.1.0.0/16",
            f"--server-address={join_host_port(self.host, self.settings.kwok_port)}",
        ]

    def is_healthy(self) -> bool:
        """Return True when kwok's /healthz returns 200 and the simulated node is Ready."""
        if not _get_ok(self.endpoint() + "/healthz", service=self.name):
            return False
        try:
            node = self._core_api.read_node(NODE_NAME, _request_timeout=HEALTH_TIMEOUT_S)
        except Exception as error:  # noqa: BLE001 - the contract of is_healthy is to never raise.
            log.debug("service=kwok health check failed: %s", error)
            return False
        conditions = node.status.conditions or []
        return any(condition.type == "Ready" and condition.status == "True" for condition in conditions)

    def endpoint(self) -> str:
        """Return kwok's own server, for example `http://127.0.0.1:10247`."""
        return f"http://{join_host_port(client_host(self.host), self.settings.kwok_port)}"

    def ports(self) -> dict[int, str]:
        """Return the listening port with the setting that changes it."""
        return {self.settings.kwok_port: "CUSTODY_STACK_KWOK_PORT"}


def _get_body(url: str, *, service: str, context: ssl.SSLContext | None = None) -> bytes | None:
    """Return the body of a 200 response to GET `url`, or None when the request fails."""
    try:
        with urllib.request.urlopen(url, timeout=HEALTH_TIMEOUT_S, context=context) as response:
            return response.read() if response.status == 200 else None
    except (urllib.error.URLError, OSError, ValueError) as error:
        log.debug("service=%s health check at %s failed: %s", service, url, error)
        return None


def _get_ok(url: str, *, service: str, context: ssl.SSLContext | None = None) -> bool:
    return _get_body(url, service=service, context=context) is not None


def describe(settings: StackSettings) -> dict[str, str]:
    """Return what a developer needs to use the control plane: kubeconfig, kubectl, API server."""
    return {
        "kubeconfig": str(kubeconfig_path(settings)),
        "kubectl": str(kubectl_path(settings)),
        "server": f"https://{join_host_port(client_host(settings.host), settings.kube_apiserver_port)}",
        "service_ip": KUBERNETES_SERVICE_IP,
        "node": NODE_NAME,
    }

