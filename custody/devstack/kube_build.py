"""Build the control-plane binaries from the Go module proxy into the cache, once per version.

The wrapper module `custody/devstack/go/kube` requires k8s.io/kubernetes,
sigs.k8s.io/kwok and the etcd server, pins every k8s.io staging module to the
matching v0.X.Y release, and lists the programs as `tool` lines. One
`go build` writes all six programs (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, kubectl, kwok) into
`~/.cache/custody/kube/<kubernetes version>/bin`. The marker file records a
hash of the module files, so an edited go.mod triggers a rebuild.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from custody.devstack.tools import exclusive_lock, run_logged
from custody.errors import StackError

log = logging.getLogger(__name__)

MODULE_DIR = Path(__file__).parent / "go" / "kube"
MODULE_FILES = ("go.mod", "go.sum", "cmd/etcd/main.go")

PROGRAMS = {
    "etcd": "./cmd/etcd",
    "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
    "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
    "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
    "kubectl": "k8s.io/kubernetes/cmd/kubectl",
    "kwok": "sigs.k8s.io/kwok/cmd/kwok",
}

# A cold build (module download and compile) took under 5 minutes on a 2-core
# VM; the limit leaves room for slower machines and networks.
GO_BUILD_TIMEOUT_S = 5400.0

_REQUIRE = re.compile(r"^\s*(?:require\s+)?(?P<module>[^/\s]\S*)\s+(?P<version>v\S+)(?:\s*//.*)?$")
_REPLACE = re.compile(r"^\s*(?P<module>k8s\.io/\S+)\s+=>\s+(?P<target>\S+)\s+(?P<version>v\S+)\s*$")


@dataclass(frozen=True)
class ModuleVersions:
    """Versions pinned by the wrapper module's go.mod."""

    kubernetes: str
    etcd: str
    kwok: str
    staging: dict[str, str]

    @property
    def staging_release(self) -> str:
        """Return the staging release that matches the Kubernetes version: v1.36.3 gives v0.36.3."""
        return "v0." + self.kubernetes.removeprefix("v1.")


def parse_go_mod(text: str) -> ModuleVersions:
    """Read the pinned versions from go.mod text; raise StackError when one is missing."""
    required: dict[str, str] = {}
    staging: dict[str, str] = {}
    for line in text.splitlines():
        replace = _REPLACE.match(line)
        if replace:
            staging[replace.group("module")] = replace.group("version")
            continue
        require = _REQUIRE.match(line)
        if require:
            required[require.group("module")] = require.group("version")

    names = {"kubernetes": "k8s.io/kubernetes", "etcd": "go.etcd.io/etcd/server/v3", "kwok": "sigs.k8s.io/kwok"}
    missing = [module for module in names.values() if module not in required]
    if missing:
        raise StackError(f"{MODULE_DIR / 'go.mod'} does not require {', '.join(missing)}; restore the require lines.")
    return ModuleVersions(**{field: required[module] for field, module in names.items()}, staging=staging)


def module_versions() -> ModuleVersions:
    """Return the versions pinned by the packaged wrapper module."""
    return parse_go_mod((MODULE_DIR / "go.mod").read_text())


def module_fingerprint() -> str:
    """Return a hash of the wrapper module's files; a change means the cached build is stale."""
    digest = hashlib.sha256()
    for name in MODULE_FILES:
        digest.update(name.encode() + b"\0" + (MODULE_DIR / name).read_bytes() + b"\0")
    return digest.hexdigest()


class KubeBuild:
    """The control-plane binaries of one Kubernetes version in the cache."""

    def __init__(self, cache_dir: Path) -> None:
        self.versions = module_versions()
        self.install_dir = cache_dir / "kube" / self.versions.kubernetes
        self.bin_dir = self.install_dir / "bin"
        self.marker = self.install_dir / ".installed"

    def binary(self, program: str) -> Path:
        """Return the path of one program, for example `kube-apiserver`."""
        return self.bin_dir / program

    def is_installed(self) -> bool:
        """Return True when every program is built from the current module files."""
        try:
            recorded = self.marker.read_text().splitlines()[0]
        except (FileNotFoundError, IndexError):
            return False
        return recorded == module_fingerprint() and all(self.binary(name).exists() for name in PROGRAMS)

    def install(self) -> None:
        """Build the programs unless they are cached; several services call this, one builds."""
        if self.is_installed():
            return
        self.install_dir.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(self.install_dir / ".install.lock"):
            # Another process may have finished the build while this one waited.
            if self.is_installed():
                return
            self._build()

    def _build(self) -> None:
        go = shutil.which("go")
        if go is None:
            raise StackError(
                "go not found on PATH. Install Go 1.26 or newer to build the Kubernetes control plane "
                f"(k8s.io/kubernetes {self.versions.kubernetes} requires it)."
            )

        # Step 1: copy the module files, so the build never writes next to the installed package.
        work_dir = self.install_dir / "module"
        shutil.rmtree(work_dir, ignore_errors=True)
        for name in MODULE_FILES:
            target = work_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(MODULE_DIR / name, target)

        # Step 2: build every program into a staging directory, renamed at the
        # end, so an interrupted build leaves no partial bin/ behind.
        staging = self.install_dir / "bin.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        build_log = self.install_dir / "go-build.log"
        command = [go, "build", "-trimpath", f"-ldflags={self._ldflags()}", "-o", f"{staging}/", *PROGRAMS.values()]
        log.info(
            "service=kube version=%s building %s with go build into %s (log %s); a cold build takes about 5 minutes",
            self.versions.kubernetes,
            ", ".join(PROGRAMS),
            self.bin_dir,
            build_log,
        )
        started = time.monotonic()
        run_logged(
            command,
            build_log,
            # -mod=readonly keeps the build from editing go.mod or go.sum; flags the caller set are kept.
            env={**os.environ, "GOFLAGS": f"{os.environ.get('GOFLAGS', '')} -mod=readonly".strip()},
            cwd=work_dir,
            timeout_s=GO_BUILD_TIMEOUT_S,
            hint="A module the build needs may be missing from the Go module proxy, or Go may be older than go.mod asks.",
        )

        missing = [name for name in PROGRAMS if not (staging / name).exists()]
        if missing:
            raise StackError(f"go build finished but {', '.join(missing)} is missing. Read {build_log}.")

        # Step 3: swap the new binaries in and record what they were built from.
        shutil.rmtree(self.bin_dir, ignore_errors=True)
        staging.rename(self.bin_dir)
        go_version = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=False).stdout.strip()
        self.marker.write_text(f"{module_fingerprint()}\nkubernetes {self.versions.kubernetes}\n{go_version}\n")
        log.info("service=kube version=%s built in %.0fs", self.versions.kubernetes, time.monotonic() - started)

    def _ldflags(self) -> str:
        # Without these, every component reports v0.0.0-master and kubectl
        # warns about version skew. `-s -w` drops symbol tables (about a third of the size).
        version = self.versions.kubernetes
        major, minor = version.removeprefix("v").split(".")[:2]
        flags = ["-s", "-w"]
        for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
            flags += [
                f"-X {package}.gitVersion={version}",
                f"-X {package}.gitMajor={major}",
                f"-X {package}.gitMinor={minor}",
                f"-X {package}.gitTreeState=clean",
            ]
        return " ".join(flags)
