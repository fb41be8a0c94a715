"""Settings of the producer services (`CUSTODY_PRODUCERS_*`)."""

from __future__ import annotations

import os

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from custody.errors import ConfigurationError
from producers.notifications import KeyEncoding


class ProducerSettings(BaseSettings):
    """Settings of the notification, webhook and watcher services."""

    model_config = SettingsConfigDict(env_prefix="CUSTODY_PRODUCERS_", frozen=True, extra="ignore", hide_input_in_errors=True)

    s3_events_topic: str | None = Field(
        None,
        description="Topic of raw S3 notifications; default `<CUSTODY_TOPIC_PREFIX>custody.storage.s3-events` "
        "(CUSTODY_PRODUCERS_S3_EVENTS_TOPIC).",
    )
    s3_events_group: str = Field(
        "custody-producers-s3-events", description="Consumer group of the notification service (CUSTODY_PRODUCERS_S3_EVENTS_GROUP)."
    )
    s3_events_key_encoding: KeyEncoding = Field(
        "url",
        description="`url` for senders that form-encode object keys as AWS, MinIO and Ceph do; `raw` for the Versity "
        "gateway, which sends keys unencoded (CUSTODY_PRODUCERS_S3_EVENTS_KEY_ENCODING).",
    )
    webhook_host: str = Field("127.0.0.1", description="Address the webhook listens on (CUSTODY_PRODUCERS_WEBHOOK_HOST).")
    webhook_port: int = Field(8470, ge=0, le=65535, description="Port of the webhook; 0 picks a free one (CUSTODY_PRODUCERS_WEBHOOK_PORT).")
    webhook_key_encoding: KeyEncoding = Field(
        "url", description="Key encoding of records posted to the webhook (CUSTODY_PRODUCERS_WEBHOOK_KEY_ENCODING)."
    )
    watch_interval_s: float = Field(30.0, gt=0, description="Seconds between two bucket listings (CUSTODY_PRODUCERS_WATCH_INTERVAL_S).")
    reconcile_grace_s: float = Field(
        300.0,
        ge=0,
        description="Seconds an object version may stay uncovered before the reconciler commits it and reports a "
        "notification gap (CUSTODY_PRODUCERS_RECONCILE_GRACE_S).",
    )
    registry_refresh_s: float = Field(
        30.0, gt=0, description="Seconds between two reads of the repo registry (CUSTODY_PRODUCERS_REGISTRY_REFRESH_S)."
    )
    pending_commit_timeout_s: float = Field(
        30.0,
        gt=0,
        description="Seconds after which a commit another writer claimed but did not finish is finished by this service "
        "(CUSTODY_PRODUCERS_PENDING_COMMIT_TIMEOUT_S).",
    )
    retry_delay_s: float = Field(
        2.0, gt=0, description="Seconds to wait before retrying after S3 or Kafka failed (CUSTODY_PRODUCERS_RETRY_DELAY_S)."
    )


def load_producer_settings() -> ProducerSettings:
    """Read the producer settings from the environment; raise ConfigurationError naming each invalid variable."""
    env_file = os.environ.get("CUSTODY_ENV_FILE") or None
    try:
        return ProducerSettings(_env_file=env_file)
    except ValidationError as exc:
        problems = "; ".join(
            f"CUSTODY_PRODUCERS_{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors(include_url=False)
        )
        raise ConfigurationError(f"invalid producer settings: {problems}. Fix the environment variable.") from None
