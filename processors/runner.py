"""The runner contract every executor follows.

1. Stage inputs: each input file is downloaded at its exact S3 version to
   `$CUSTODY_INPUTS/<repo>/<path>` and its SHA-256 is checked against the commit.
2. Run the transform with the job metadata in its environment (see
   `job_environment`); it writes its results under `$CUSTODY_OUTPUTS`.
3. After exit code 0 only, commit everything under `$CUSTODY_OUTPUTS` to the
   output repo as one commit whose origin names the job, the pipeline version
   and the input commits.

The code identity of a local run is a SHA-256 over the command and the
arguments. It also covers the bytes of every file among them given by
absolute path, which are the scripts the command runs. For an image, the
identity is the image reference.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path, PurePath

from botocore.client import BaseClient
from botocore.exceptions import BotoCoreError, ClientError

from custody.errors import PermanentError, ServiceUnavailableError
from custody.events.models import CodeIdentity, JobOrigin
from custody.settings import Settings
from processors.executors.base import JobRequest
from processors.spec import Transform

log = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024
# Variables of the worker's own environment that a transform gets; secrets such
# as CUSTODY_S3_SECRET_ACCESS_KEY are never passed on.
INHERITED_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "PYTHONPATH", "VIRTUAL_ENV")


class InputMismatch(PermanentError):
    """A downloaded input does not have the SHA-256 its commit recorded."""


def stage_inputs(client: BaseClient, request: JobRequest, inputs_dir: Path) -> int:
    """Download every input file at its recorded version; return the number of files staged."""
    count = 0
    for commit in request.inputs:
        for file in commit.files:
            target = staged_path(inputs_dir, commit.repo, file.path)
            key = f"{commit.prefix}{file.path}"
            _download(client, commit.bucket, key, file.version_id, target, expected_sha256=file.sha256)
            count += 1
    log.info("job=%s staged files=%d into %s", request.job_id, count, inputs_dir)
    return count


def staged_path(inputs_dir: Path, repo: str, path: str) -> Path:
    """Return where an input file is staged; raise PermanentError for a path that would leave the directory."""
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise PermanentError(f"input path {path!r} of repo {repo} cannot be staged safely; it must be relative without `.` or `..`")
    return inputs_dir.joinpath(repo, *parts)


def job_environment(request: JobRequest, *, attempt: int, inputs_dir: Path, outputs_dir: Path, scratch_dir: Path) -> dict[str, str]:
    """Return the environment of the transform: a few worker variables, the spec's env and the job metadata."""
    env = {name: os.environ[name] for name in INHERITED_ENV if name in os.environ}
    env["HOME"] = str(scratch_dir)
    env["TMPDIR"] = str(scratch_dir)
    env.update(request.transform.env)
    env.update(contract_environment(request, inputs_dir=inputs_dir, outputs_dir=outputs_dir, attempt=attempt))
    return env


def contract_environment(
    request: JobRequest, *, inputs_dir: PurePath, outputs_dir: PurePath, attempt: int | None = None
) -> dict[str, str]:
    """Return the `CUSTODY_*` variables the runner contract gives every transform.

    `attempt` is None where the executor cannot know it when it builds the
    environment (a Kubernetes Job's pod template serves every attempt), and
    `CUSTODY_ATTEMPT` is then left out.
    """
    env = {
        "CUSTODY_INPUTS": str(inputs_dir),
        "CUSTODY_OUTPUTS": str(outputs_dir),
        "CUSTODY_JOB_ID": request.job_id,
        "CUSTODY_PIPELINE": request.pipeline,
        "CUSTODY_PIPELINE_VERSION": request.pipeline_version,
        "CUSTODY_OUTPUT_REPO": request.output_repo,
        "CUSTODY_INPUT_REPOS": ",".join(commit.repo for commit in request.inputs),
        "CUSTODY_INPUT_COMMITS": json.dumps({commit.repo: commit.commit_id for commit in request.inputs}, sort_keys=True),
        "CUSTODY_SERVICE_ACCOUNT": request.service_account,
    }
    if attempt is not None:
        env["CUSTODY_ATTEMPT"] = str(attempt)
    return env


def code_identity(transform: Transform) -> CodeIdentity:
    """Return the identity of the code a transform runs (see the module docstring)."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"command": transform.command, "args": transform.args}, sort_keys=True).encode("utf-8"))
    for entry in [*transform.command, *transform.args]:
        path = Path(entry)
        if path.is_absolute() and path.is_file():
            digest.update(b"\0file\0" + entry.encode("utf-8") + b"\0")
            digest.update(_file_sha256(path).encode("ascii"))
    return CodeIdentity(
        image=transform.image,
        code_hash=digest.hexdigest(),
        command=list(transform.command),
        args=list(transform.args),
        parameters=dict(transform.env),
    )


def commit_outputs(settings: Settings, request: JobRequest, outputs_dir: Path) -> str | None:
    """Commit the outputs as one commit of the output repo; return its id, or None when there are no outputs."""
    if not any(path.is_file() for path in outputs_dir.rglob("*")):
        log.info("job=%s wrote no outputs; nothing to commit", request.job_id)
        return None

    # Imported here so that the worker starts, and unit tests run, without the
    # repos package being loaded until a job really commits.
    from custody.repos import commit_files

    origin = JobOrigin(
        job_id=request.job_id,
        pipeline=request.pipeline,
        pipeline_version=request.pipeline_version,
        input_commits=[commit.commit_id for commit in request.inputs],
    )
    result = commit_files(
        settings,
        request.output_repo,
        [outputs_dir],
        author=request.agent,
        message=f"outputs of job {request.job_id} of pipeline {request.pipeline}",
        origin=origin,
        causationid=request.scheduled_event_id,
    )
    log.info("job=%s repo=%s commit=%s committed outputs (no-op: %s)", request.job_id, request.output_repo, result.commit_id[:12], result.no_op)
    return result.commit_id


def _download(client: BaseClient, bucket: str, key: str, version_id: str | None, target: Path, *, expected_sha256: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    arguments = {"Bucket": bucket, "Key": key}
    if version_id:
        arguments["VersionId"] = version_id
    digest = hashlib.sha256()

    try:
        body = client.get_object(**arguments)["Body"]
        with open(target, "wb") as handle:
            for chunk in body.iter_chunks(CHUNK_BYTES):
                digest.update(chunk)
                handle.write(chunk)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "unknown")
        if code in ("NoSuchKey", "NoSuchVersion", "NoSuchBucket", "AccessDenied"):
            raise PermanentError(f"input s3://{bucket}/{key} version {version_id} cannot be read: {code}") from exc
        raise ServiceUnavailableError(f"downloading s3://{bucket}/{key} failed: {code}") from exc
    except BotoCoreError as exc:
        raise ServiceUnavailableError(f"downloading s3://{bucket}/{key} failed: {exc}") from exc

    if digest.hexdigest() != expected_sha256:
        raise InputMismatch(
            f"input s3://{bucket}/{key} version {version_id} has sha256 {digest.hexdigest()}, "
            f"but its commit recorded {expected_sha256}; the object was changed outside Custody"
        )


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
