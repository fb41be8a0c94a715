"""The local executor: each job runs as a child process of the worker, in fresh directories.

Layout under `CUSTODY_PROCESSORS_STATE_DIR/local-jobs/<job id>/`:

    request.json              the JobRequest; the directory appears atomically (rename)
    released                  JobScheduled is on Kafka, so the job may run
    lock                      flock held by the worker running the job
    events/                   the job's outbox (see processors.executors.outbox)
    attempts/<n>/inputs       $CUSTODY_INPUTS of attempt n
    attempts/<n>/outputs      $CUSTODY_OUTPUTS of attempt n
    attempts/<n>/work         scratch directory, the command's working directory by default
    attempts/<n>/log.txt      stdout and stderr of the command
    attempts/<n>/commit.json  the output commit, written before JobSucceeded is sent
    done                      the job finished; its staged inputs and outputs are removed

The directory name is the job id, so a second submit of the same id finds it
and reports `created=False`: that is the executor half of exactly-once.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import logging
import os
import shutil
import socket
import uuid
from pathlib import Path

from custody.s3 import make_s3_client
from custody.settings import Settings
from processors.executors.base import JobRequest, SubmitResult
from processors.executors.localrun import JobRun
from processors.publishing import EventPublisher
from processors.settings import ProcessorSettings

log = logging.getLogger(__name__)

REQUEST_FILE = "request.json"
RELEASED_FILE = "released"
DONE_FILE = "done"


class LocalExecutor:
    """Run jobs as local processes, at most `local_concurrency` at a time."""

    kind = "local"

    def __init__(self, settings: Settings, processor_settings: ProcessorSettings, publisher: EventPublisher) -> None:
        self.settings = settings
        self.processor_settings = processor_settings
        self.publisher = publisher
        self.root = processor_settings.local_jobs_dir
        self.runner_name = f"local:{socket.gethostname()}:{os.getpid()}"
        # boto3 clients are thread-safe and costly to build, so all jobs share one.
        self.s3_client = make_s3_client(settings.s3)
        self._slots: asyncio.Semaphore | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def start(self) -> None:
        """Resume every released job that has not finished, such as those of a worker that was killed."""
        self.root.mkdir(parents=True, exist_ok=True)
        pending = [path.name for path in sorted(self.root.iterdir()) if _resumable(path)]
        for job_id in pending:
            self._schedule(job_id)
        if pending:
            log.info("local executor resumed jobs=%d from %s", len(pending), self.root)

    async def submit(self, request: JobRequest) -> SubmitResult:
        """Store the request under the job id; an existing directory means it was submitted before."""
        return await asyncio.to_thread(self._persist, request)

    async def release(self, job_id: str) -> None:
        """Mark the job runnable and start it unless it is running or done."""
        job_dir = self.root / job_id
        if not (job_dir / REQUEST_FILE).exists():
            raise FileNotFoundError(f"job {job_id} was never submitted to the local executor at {self.root}")
        (job_dir / RELEASED_FILE).touch()
        if not (job_dir / DONE_FILE).exists():
            self._schedule(job_id)

    async def stop(self) -> None:
        """Cancel running attempts; their processes are killed and the next start runs them again."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    def job_dir(self, job_id: str) -> Path:
        """Return the directory of one job."""
        return self.root / job_id

    def _persist(self, request: JobRequest) -> SubmitResult:
        self.root.mkdir(parents=True, exist_ok=True)
        target = self.root / request.job_id
        if target.exists():
            return SubmitResult(request.job_id, False, str(target))

        incoming = self.root / f".incoming-{uuid.uuid4().hex}"
        incoming.mkdir()
        _write_synced(incoming / REQUEST_FILE, request.model_dump_json(indent=2).encode("utf-8"))
        try:
            os.rename(incoming, target)
        except OSError as exc:
            shutil.rmtree(incoming, ignore_errors=True)
            # Another submit of the same id won the rename: it was submitted before.
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                return SubmitResult(request.job_id, False, str(target))
            raise
        _fsync_dir(self.root)
        log.info("job=%s pipeline=%s submitted to the local executor dir=%s", request.job_id, request.pipeline, target)
        return SubmitResult(request.job_id, True, str(target))

    def _schedule(self, job_id: str) -> None:
        if job_id in self._tasks and not self._tasks[job_id].done():
            return
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.processor_settings.local_concurrency)
        self._tasks[job_id] = asyncio.create_task(self._run(job_id), name=f"job-{job_id[:12]}")

    async def _run(self, job_id: str) -> None:
        job_dir = self.root / job_id
        assert self._slots is not None
        async with self._slots:
            lock = _try_lock(job_dir)
            if lock is None:
                log.info("job=%s is run by another worker on this machine; leaving it", job_id)
                return
            try:
                request = JobRequest.model_validate_json((job_dir / REQUEST_FILE).read_text(encoding="utf-8"))
                run = JobRun(request, job_dir, settings=self.settings, processor_settings=self.processor_settings,
                             publisher=self.publisher, runner=self.runner_name, s3_client=self.s3_client)
                await run.run()
                (job_dir / DONE_FILE).touch()
            except asyncio.CancelledError:
                log.info("job=%s stopped with the worker; the next start resumes it", job_id)
                raise
            except Exception:
                # A bug must not take the worker down; the job stays resumable on the next start.
                log.exception("job=%s failed inside the local executor; it is resumed on the next worker start", job_id)
            finally:
                os.close(lock)
                self._tasks.pop(job_id, None)


def _resumable(path: Path) -> bool:
    return (
        path.is_dir()
        and not path.name.startswith(".")
        and (path / REQUEST_FILE).exists()
        and (path / RELEASED_FILE).exists()
        and not (path / DONE_FILE).exists()
    )


def _try_lock(job_dir: Path) -> int | None:
    descriptor = os.open(job_dir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    return descriptor


def _write_synced(path: Path, content: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
