"""One local job from its first attempt to its last, resumable after a worker restart."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import time
from pathlib import Path

from botocore.client import BaseClient

from custody.errors import PermanentError, TransientError
from custody.events import CloudEvent
from custody.events.models import CodeIdentity
from custody.settings import Settings
from processors import jobevents
from processors.executors.base import JobRequest
from processors.executors.outbox import Outbox, OutboxRecord, RecordName
from processors.executors.process import kill_leftover, run_process
from processors.publishing import EventPublisher
from processors.runner import code_identity, commit_outputs, job_environment, stage_inputs
from processors.settings import ProcessorSettings

log = logging.getLogger(__name__)

# Seconds between attempts to publish an outbox record while Kafka does not acknowledge.
PUBLISH_RETRY_S = 2.0
INTERRUPTED_REASON = "interrupted: the worker stopped during this attempt, so it runs again"


class AttemptFailure(Exception):
    """An attempt ended without outputs; `permanent` failures are not retried."""

    def __init__(self, reason: str, *, permanent: bool = False, exit_code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.exit_code = exit_code


class JobRun:
    """Run the attempts of one job, reporting each through the job's outbox."""

    def __init__(
        self,
        request: JobRequest,
        job_dir: Path,
        *,
        settings: Settings,
        processor_settings: ProcessorSettings,
        publisher: EventPublisher,
        runner: str,
        s3_client: BaseClient,
    ) -> None:
        self.request = request
        self.job_dir = job_dir
        self.settings = settings
        self.processor_settings = processor_settings
        self.publisher = publisher
        self.runner = runner
        self.s3_client = s3_client
        self.outbox = Outbox(job_dir)

    async def run(self) -> None:
        """Finish the job: resend unacknowledged events, settle an interrupted attempt, run the rest."""
        await self._send_unsent()
        state = self.outbox.state()
        if state.done:
            return

        attempt = state.last_attempt
        if state.interrupted and await self._settle_interrupted(attempt):
            return

        while True:
            attempt += 1
            await self._wait_before(attempt)
            if await self._attempt(attempt):
                return

    async def _settle_interrupted(self, attempt: int) -> bool:
        """Report an attempt cut short by a restart; return True when it had committed its outputs already."""
        attempt_dir = self._attempt_dir(attempt)
        kill_leftover(attempt_dir / "pid")
        committed = attempt_dir / "commit.json"
        if committed.exists():
            details = json.loads(committed.read_text(encoding="utf-8"))
            code = CodeIdentity.model_validate(details["code"])
            event = jobevents.succeeded(
                self.request, attempt=attempt, duration_s=details["duration_s"], output_commit_id=details["commit_id"],
                code=code, log_tail=self._log_tail(attempt),
            )
            await self._record("succeeded", event, attempt=attempt, final=True)
            return True

        log.warning("job=%s attempt=%d was interrupted by a worker restart; running it again", self.request.job_id, attempt)
        event = jobevents.failed(self.request, attempt=attempt, reason=INTERRUPTED_REASON, final=False, log_tail=self._log_tail(attempt))
        await self._record("failed", event, attempt=attempt, counts=False)
        return False

    async def _wait_before(self, attempt: int) -> None:
        failures = self.outbox.state().counted_failures
        delay = self.request.retries.delay_before(failures + 1) if failures else 0.0
        if delay > 0:
            log.info("job=%s attempt=%d waits %.1fs before retrying", self.request.job_id, attempt, delay)
            await asyncio.sleep(delay)

    async def _attempt(self, attempt: int) -> bool:
        """Run one attempt; return True when the job is finished (success or final failure)."""
        request = self.request
        directories = await asyncio.to_thread(self._fresh_directories, attempt)
        await self._record("started", jobevents.started(request, attempt=attempt, runner=self.runner), attempt=attempt)
        log.info("job=%s pipeline=%s attempt=%d started", request.job_id, request.pipeline, attempt)
        began = time.monotonic()
        code: CodeIdentity | None = None

        try:
            code = await asyncio.to_thread(code_identity, request.transform)
            output_commit = await self._execute(attempt, directories)
        except AttemptFailure as failure:
            return await self._report_failure(attempt, failure, duration_s=time.monotonic() - began, code=code)
        except Exception as exc:  # noqa: BLE001
            # An unexpected error in a step counts as a failed attempt, so the retry policy still applies.
            log.exception("job=%s attempt=%d hit an unexpected error", request.job_id, attempt)
            failure = AttemptFailure(f"unexpected error: {exc!r}")
            return await self._report_failure(attempt, failure, duration_s=time.monotonic() - began, code=code)

        duration = time.monotonic() - began
        details = {"commit_id": output_commit, "duration_s": duration, "code": code.model_dump(mode="json")}
        (self._attempt_dir(attempt) / "commit.json").write_text(json.dumps(details), encoding="utf-8")
        event = jobevents.succeeded(
            request, attempt=attempt, duration_s=duration, output_commit_id=output_commit, code=code, log_tail=self._log_tail(attempt)
        )
        await self._record("succeeded", event, attempt=attempt, final=True)
        log.info("job=%s attempt=%d succeeded output_commit=%s in %.1fs", request.job_id, attempt, output_commit, duration)
        await asyncio.to_thread(self._clean_up)
        return True

    async def _execute(self, attempt: int, directories: dict[str, Path]) -> str | None:
        """Stage, run and commit; raise AttemptFailure with the reason when any step fails."""
        request = self.request
        try:
            await asyncio.to_thread(stage_inputs, self.s3_client, request, directories["inputs"])
        except PermanentError as exc:
            raise AttemptFailure(f"staging inputs failed: {exc}", permanent=True) from exc
        except TransientError as exc:
            raise AttemptFailure(f"staging inputs failed: {exc}") from exc

        env = job_environment(
            request, attempt=attempt, inputs_dir=directories["inputs"], outputs_dir=directories["outputs"], scratch_dir=directories["work"]
        )
        cwd = Path(request.transform.working_dir) if request.transform.working_dir else directories["work"]
        argv = [*request.transform.command, *request.transform.args]
        try:
            result = await run_process(
                argv, cwd=cwd, env=env, log_path=self._attempt_dir(attempt) / "log.txt",
                pid_path=self._attempt_dir(attempt) / "pid", timeout_s=request.timeout_s,
            )
        except OSError as exc:
            raise AttemptFailure(f"command {argv[0]!r} could not be started: {exc}") from exc

        if result.timed_out:
            raise AttemptFailure(f"timed out after {request.timeout_s:g}s; the process group was killed")
        if result.exit_code != 0:
            raise AttemptFailure(f"command exited with code {result.exit_code}", exit_code=result.exit_code)

        try:
            return await asyncio.to_thread(commit_outputs, self.settings, request, directories["outputs"])
        except PermanentError as exc:
            raise AttemptFailure(f"committing outputs to repo {request.output_repo} failed: {exc}", permanent=True) from exc
        except TransientError as exc:
            raise AttemptFailure(f"committing outputs to repo {request.output_repo} failed: {exc}") from exc

    async def _report_failure(self, attempt: int, failure: AttemptFailure, *, duration_s: float, code: CodeIdentity | None) -> bool:
        failures = self.outbox.state().counted_failures + 1
        final = failure.permanent or failures >= self.request.retries.max_attempts
        event = jobevents.failed(
            self.request, attempt=attempt, reason=failure.reason, final=final, duration_s=duration_s,
            exit_code=failure.exit_code, code=code, log_tail=self._log_tail(attempt),
        )
        await self._record("failed", event, attempt=attempt, final=final)
        log.warning(
            "job=%s attempt=%d failed: %s; %s", self.request.job_id, attempt, failure.reason,
            "no retry follows" if final else "retrying",
        )
        if final:
            await asyncio.to_thread(self._clean_up)
        return final

    async def _record(self, name: RecordName, event: CloudEvent, *, attempt: int, final: bool = False, counts: bool = True) -> None:
        record = await asyncio.to_thread(self.outbox.add, name, event, attempt=attempt, final=final, counts=counts)
        await self._send(record)

    async def _send_unsent(self) -> None:
        for record in self.outbox.state().unsent:
            await self._send(record)

    async def _send(self, record: OutboxRecord) -> None:
        # Kafka being away must not lose the event: it is in the outbox, so keep trying.
        while True:
            try:
                await self.publisher.publish_async([record.event])
                break
            except TransientError as exc:
                log.warning("job=%s event=%s not acknowledged (%s); retrying in %.0fs", self.request.job_id, record.name, exc, PUBLISH_RETRY_S)
                await asyncio.sleep(PUBLISH_RETRY_S)
        await asyncio.to_thread(self.outbox.mark_sent, record)

    def _fresh_directories(self, attempt: int) -> dict[str, Path]:
        attempt_dir = self._attempt_dir(attempt)
        directories = {name: attempt_dir / name for name in ("inputs", "outputs", "work")}
        for path in directories.values():
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir(parents=True)
        return directories

    def _attempt_dir(self, attempt: int) -> Path:
        return self.job_dir / "attempts" / str(attempt)

    def _log_tail(self, attempt: int) -> str:
        limit = self.processor_settings.log_tail_chars
        path = self._attempt_dir(attempt) / "log.txt"
        if limit == 0 or not path.exists():
            return ""
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - limit * 4))
            text = handle.read().decode("utf-8", errors="replace")
        return text[-limit:]

    def _clean_up(self) -> None:
        # Inputs are in S3 and outputs in the output commit; logs and the outbox stay.
        attempts = self.job_dir / "attempts"
        if not attempts.is_dir():
            return
        for attempt_dir in attempts.iterdir():
            for name in ("inputs", "outputs", "work"):
                shutil.rmtree(attempt_dir / name, ignore_errors=True)
