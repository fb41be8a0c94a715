"""Crash points for tests of the exactly-once design.

Setting `CUSTODY_PROCESSORS_FAILPOINT=after-submit` makes the worker kill
itself with SIGKILL right after an executor accepted a new job and before the
job is announced, which is the hardest moment for exactly-once. Unset, the
check costs one dictionary lookup.
"""

from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger(__name__)

VARIABLE = "CUSTODY_PROCESSORS_FAILPOINT"


def crash_if_set(point: str, **ids: str) -> None:
    """Kill this process with SIGKILL when the failpoint variable names `point`."""
    if os.environ.get(VARIABLE) != point:
        return
    log.critical("failpoint=%s reached %s; killing this worker with SIGKILL", point, " ".join(f"{k}={v}" for k, v in ids.items()))
    for handler in logging.getLogger().handlers:
        handler.flush()
    os.kill(os.getpid(), signal.SIGKILL)
