"""Handlers loaded by `custody processors run --handlers` in the subscriber test.

One handler always raises, to show that the others still run; the other writes
one file per final job failure into $CUSTODY_TEST_RECORD_DIR.
"""

from __future__ import annotations

import os
from pathlib import Path

from processors.alerts.subscribers import subscriber


@subscriber("io.custody.job.failed.v1")
def broken_handler(event):
    raise RuntimeError(f"deliberate failure for event {event.id}")


@subscriber("io.custody.job.failed.v1", where={"data.final": True})
def record_final_failure(event):
    record_dir = Path(os.environ["CUSTODY_TEST_RECORD_DIR"])
    (record_dir / event.data.job_id).write_text(event.data.reason)
