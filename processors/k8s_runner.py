"""The runner inside the pod of a Kubernetes Job: `python -m processors.k8s_runner STEP`.

The Job built by processors.k8s_jobs runs the same runner contract as the local
executor, using the same functions (processors.runner), split over three
containers that share the emptyDir `/work`:

1. `stage-in` (init container `stage-inputs`, Custody image) downloads every
   input file at its exact S3 version into `$CUSTODY_INPUTS/<repo>/<path>`,
   checking its SHA-256, and creates the empty `$CUSTODY_OUTPUTS` and
   `$CUSTODY_STATUS_DIR`.
2. The transform (container `transform`, the pipeline's own image) runs under
   a `/bin/sh` wrapper that writes the command's exit code and a newline to
   `$CUSTODY_STATUS_DIR/exit-code` before exiting with that code.
3. `commit-outputs` (container `commit-outputs`, Custody image) runs beside
   the transform and waits for that file. After exit code 0 it commits
   `$CUSTODY_OUTPUTS` to the output repo with a `JobOrigin` and writes
   `{"output_commit_id": ...}` as its termination message, which the job
   watcher copies into `JobSucceeded`. After any other code it commits
   nothing, and the transform's exit code fails the pod.

The transform keeps its image, so the code identity on Kubernetes stays the
image digest that the watcher reads from the `transform` container's status.

Exit codes of both steps: 0 done, 1 a temporary failure (the Job controller
retries the pod), 65 a permanent failure such as an input whose SHA-256
differs from its commit, 78 an invalid setting or request. The Job's
podFailurePolicy fails the whole Job on 65 and 78 instead of retrying.

Settings come from the environment the Job gives the containers:
`CUSTODY_JOB_REQUEST`, `CUSTODY_INPUTS`, `CUSTODY_OUTPUTS`,
`CUSTODY_STATUS_DIR`, and the core `CUSTODY_S3_*`, `CUSTODY_KAFKA_*` and
`CUSTODY_TOPIC_PREFIX` (see `RunnerSettings`).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from custody.errors import ConfigurationError, CustodyError, PermanentError
from custody.s3 import make_s3_client
from custody.settings import Settings, load_settings
from processors.executors.base import JobRequest
from processors.k8s_jobs import COMMIT_STEP, EXIT_CODE_FILE, RUNNER_EXIT_CONFIG, RUNNER_EXIT_PERMANENT, STAGE_STEP
from processors.runner import commit_outputs, stage_inputs

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_TRANSIENT = 1
EXIT_PERMANENT = RUNNER_EXIT_PERMANENT
EXIT_CONFIG = RUNNER_EXIT_CONFIG
# The kubelet keeps at most 4096 bytes of a termination message.
MAX_MESSAGE_CHARS = 4000


class RunnerSettings(BaseSettings):
    """Paths of the request and the shared directories, and the polling interval; each field names its variable."""

    model_config = SettingsConfigDict(env_prefix="CUSTODY_", frozen=True, extra="ignore")

    job_request: Path = Field(description="JSON file holding the job request (CUSTODY_JOB_REQUEST).")
    inputs: Path = Field(description="Directory the inputs are staged into (CUSTODY_INPUTS).")
    outputs: Path = Field(description="Directory the transform writes its outputs to (CUSTODY_OUTPUTS).")
    status_dir: Path = Field(description="Directory where the transform wrapper writes `exit-code` (CUSTODY_STATUS_DIR).")
    termination_log: Path = Field(
        Path("/dev/termination-log"),
        description="File whose text the kubelet reports as the container's termination message (CUSTODY_TERMINATION_LOG).",
    )
    exit_code_poll_s: float = Field(
        0.5, gt=0, description="Seconds between checks for the transform's exit code (CUSTODY_EXIT_CODE_POLL_S)."
    )


def load_runner_settings() -> RunnerSettings:
    """Read the runner settings; raise ConfigurationError naming each missing or invalid variable."""
    try:
        return RunnerSettings()  # type: ignore[call-arg]
    except ValidationError as exc:
        problems = [
            f"CUSTODY_{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors(include_url=False)
        ]
        raise ConfigurationError("invalid runner settings: " + "; ".join(problems) + ". The Job manifest sets these.") from None


def read_request(path: Path) -> JobRequest:
    """Read the job request the executor stored in the Job's ConfigMap."""
    try:
        return JobRequest.model_validate_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read the job request {path}: {exc}; check CUSTODY_JOB_REQUEST and the request volume") from exc
    except ValidationError as exc:
        raise ConfigurationError(f"invalid job request in {path}: {exc}") from exc


def stage_in(config: RunnerSettings, settings: Settings) -> int:
    """Stage the request's inputs and create the empty output and status directories; return the number of files."""
    request = read_request(config.job_request)

    # Each attempt is a new pod with a new emptyDir, so these start empty.
    config.outputs.mkdir(parents=True, exist_ok=True)
    config.status_dir.mkdir(parents=True, exist_ok=True)

    client = make_s3_client(settings.s3)
    count = stage_inputs(client, request, config.inputs)
    write_termination_message(config.termination_log, f"staged {count} input files")
    return count


def wait_for_exit_code(path: Path, *, poll_s: float) -> int:
    """Wait until the transform wrapper has written its exit code, and return it.

    The wrapper writes the code and a newline; text without the newline is
    still being written. There is no timeout here, because the pod's
    activeDeadlineSeconds ends the whole attempt.
    """
    while True:
        try:
            text = path.read_text(encoding="ascii", errors="replace")
        except FileNotFoundError:
            text = ""
        if text.endswith("\n"):
            break
        time.sleep(poll_s)

    try:
        return int(text.strip())
    except ValueError:
        raise PermanentError(f"{path} holds {text.strip()[:40]!r} instead of an exit code; the transform overwrote it") from None


def commit_step(config: RunnerSettings, settings: Settings) -> str | None:
    """Wait for the transform, and commit its outputs when it exited 0; return the output commit id."""
    request = read_request(config.job_request)
    log.info("job=%s waiting for the transform's exit code in %s", request.job_id, config.status_dir)
    exit_code = wait_for_exit_code(config.status_dir / EXIT_CODE_FILE, poll_s=config.exit_code_poll_s)

    if exit_code != 0:
        # The transform container's own exit code fails the pod; this step only must not commit.
        log.info("job=%s transform exited with code %d; outputs are not committed", request.job_id, exit_code)
        write_termination_message(config.termination_log, f"transform exited with code {exit_code}; outputs not committed")
        return None

    commit_id = commit_outputs(settings, request, config.outputs)
    write_termination_message(config.termination_log, json.dumps({"output_commit_id": commit_id}))
    return commit_id


def write_termination_message(path: Path, message: str) -> None:
    """Write the container's termination message; a failure to write it is logged, never raised."""
    try:
        path.write_text(message[-MAX_MESSAGE_CHARS:], encoding="utf-8")
    except OSError as exc:
        log.warning("cannot write the termination message to %s (%s)", path, exc)


def exit_code_for(error: CustodyError) -> int:
    """Return the runner's exit code for an error, which decides whether the Job retries the pod."""
    if isinstance(error, ConfigurationError):
        return EXIT_CONFIG
    if isinstance(error, PermanentError):
        return EXIT_PERMANENT
    return EXIT_TRANSIENT


STEPS = {
    STAGE_STEP: (stage_in, "Download the inputs at their exact versions into $CUSTODY_INPUTS."),
    COMMIT_STEP: (commit_step, "Wait for the transform's exit code; after 0, commit $CUSTODY_OUTPUTS to the output repo."),
}


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m processors.k8s_runner",
        description="Run one step of the Custody runner contract inside the pod of a Kubernetes Job.",
        epilog="Exit codes: 0 done, 1 temporary failure (retried), 65 permanent failure, 78 invalid setting or request.",
    )
    steps = parser.add_subparsers(dest="step", required=True, metavar="STEP")
    for name, (_, help_text) in STEPS.items():
        steps.add_parser(name, help=help_text, description=help_text)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the step named on the command line; return the process exit code."""
    arguments = parse_arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr, force=True)
    step, _ = STEPS[arguments.step]

    termination_log: Path | None = None
    try:
        config = load_runner_settings()
        termination_log = config.termination_log
        settings = load_settings()
        step(config, settings)
    # Policy: every Custody error ends the step with the exit code of its kind, and its
    # message becomes the termination message, so the pod's status shows the cause.
    except CustodyError as error:
        log.error("step=%s failed: %s", arguments.step, error)
        if termination_log is not None:
            write_termination_message(termination_log, f"{arguments.step} failed: {error}")
        return exit_code_for(error)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
