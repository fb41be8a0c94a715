"""Find claims whose announcement never finished and ask their partition's owner to finish them.

A claim normally goes from `claimed` to `announced` within one request. It stays
`claimed` only when the worker died mid-way and the request that made it was
already committed, or when the table was restored on another worker during a
rebalance. The resume request travels through the trigger topic, so it is
handled in order by whichever worker owns the pipeline's partition then.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from custody.events.envelope import utc_now
from processors.requests import TriggerRequest
from processors.triggering import ANNOUNCED

log = logging.getLogger(__name__)


def stale_claims(claims: Mapping[str, Any], *, older_than_s: float, now: datetime | None = None) -> list[TriggerRequest]:
    """Return one resume request per claim left unannounced for more than `older_than_s` seconds."""
    cutoff = (now or utc_now()) - timedelta(seconds=older_than_s)
    requests = []
    for job_id, claim in list(claims.items()):
        if claim is None or claim.get("state") == ANNOUNCED:
            continue
        if datetime.fromisoformat(claim["claimed_at"]) > cutoff:
            continue
        log.warning("job=%s pipeline=%s claim is still unannounced; asking its partition to finish it", job_id, claim["pipeline"])
        requests.append(TriggerRequest(request_id=str(uuid.uuid4()), kind="resume", pipeline=claim["pipeline"], job_id=job_id))
    return requests
