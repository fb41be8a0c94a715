"""Helpers shared by the local-stack services: build commands, install locks, Java, addresses."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from custody.errors import StackError

WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "[::]"})


def run_logged(
    command: list[str],
    log_file: Path,
    *,
    timeout_s: float,
    cwd: Path,
    env: dict[str, str] | None = None,
    append: bool = False,
    hint: str = "",
) -> None:
    """Run a command to completion with its output in `log_file`; raise StackError if it fails."""
    printable = " ".join(command)
    with log_file.open("ab" if append else "wb") as log_stream:
        log_stream.write(f"\n--- running at {time.strftime('%Y-%m-%dT%H:%M:%S')}: {printable}\n".encode())
        log_stream.flush()
        try:
            result = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_stream,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise StackError(f"Timed out after {timeout_s:.0f}s: {printable}. Output is in {log_file}.") from error

    if result.returncode != 0:
        raise StackError(
            f"Command failed with exit code {result.returncode}: {printable}. Output is in {log_file}. {hint}".rstrip()
        )


@contextmanager
def exclusive_lock(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive flock on `lock_file`, so two processes never install the same version at once."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def java_tool(tool: str, *, purpose: str) -> str:
    """Return the path of `java` or `javac`, from JAVA_HOME when it is set, otherwise from PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        path = Path(java_home) / "bin" / tool
        if not path.exists():
            raise StackError(f"JAVA_HOME is {java_home}, but {path} does not exist. Fix or unset JAVA_HOME.")
        return str(path)

    on_path = shutil.which(tool)
    if on_path is None:
        raise StackError(
            f"{tool} not found on PATH and JAVA_HOME is unset. Install a Java 17 JDK "
            f"(Debian: apt-get install openjdk-17-jdk-headless) to run {purpose}."
        )
    return on_path


def client_host(host: str) -> str:
    """Return the address clients dial for a bind address; a wildcard becomes the loopback address."""
    return "127.0.0.1" if host in WILDCARD_HOSTS else host


def join_host_port(host: str, port: int) -> str:
    """Return `host:port`, with an IPv6 literal in brackets as Kafka, Go and URLs expect."""
    if ":" in host:
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def fetch_maven_jars(
    install_dir: Path,
    lib_dir: Path,
    pom_text: str,
    *,
    expected_jar: str,
    product: str,
    timeout_s: float,
    hint: str = "",
) -> int:
    """Copy a pom's runtime dependencies from Maven Central into `lib_dir`; return the jar count.

    The jars land in a staging directory that is renamed at the end, so an
    interrupted download never leaves a partial `lib_dir` behind.
    """
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError(f"mvn not found on PATH. Install Maven (Debian: apt-get install maven) to fetch {product}.")

    pom_file = install_dir / "pom.xml"
    pom_file.write_text(pom_text)
    staging_dir = install_dir / "lib.partial"
    shutil.rmtree(staging_dir, ignore_errors=True)
    mvn_log = install_dir / "mvn.log"
    command = [
        mvn,
        "-B",
        "-q",
        "-f",
        str(pom_file),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={staging_dir}",
        "-Dmdep.useRepositoryLayout=false",
        "-DincludeScope=runtime",
    ]
    run_logged(command, mvn_log, timeout_s=timeout_s, cwd=install_dir, hint=hint)

    if not (staging_dir / expected_jar).exists():
        raise StackError(
            f"mvn finished but {expected_jar} is missing from {staging_dir}. "
            f"Check that {product} exists on Maven Central and read {mvn_log}."
        )

    shutil.rmtree(lib_dir, ignore_errors=True)
    staging_dir.rename(lib_dir)
    return len(list(lib_dir.glob("*.jar")))
