"""Settings of the processors worker (`CUSTODY_PROCESSORS_*`).

Kafka, S3 and the topic prefix come from the core settings; this group contains
what only the worker needs: where it keeps state, how it joins its consumer
group and how many local jobs it runs at once.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from custody.errors import ConfigurationError


def _default_state_dir() -> Path:
    return Path.home() / ".local" / "state" / "custody" / "processors"


class ProcessorSettings(BaseSettings):
    """Worker settings; every field names its environment variable."""

    model_config = SettingsConfigDict(env_prefix="CUSTODY_PROCESSORS_", frozen=True, extra="ignore", hide_input_in_errors=True)

    app_id: str = Field(
        "custody-processors",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="Faust app id, also the consumer group and the stem of internal topic names; "
        "the topic prefix is put in front of it (CUSTODY_PROCESSORS_APP_ID).",
    )
    state_dir: Path = Field(
        default_factory=_default_state_dir,
        description="Directory for the faust data dir and the local executor's job directories (CUSTODY_PROCESSORS_STATE_DIR).",
    )
    web_enabled: bool = Field(False, description="Serve faust's web views (CUSTODY_PROCESSORS_WEB_ENABLED).")
    web_port: int = Field(6066, ge=1, le=65535, description="Port of the web views, bound to 127.0.0.1 (CUSTODY_PROCESSORS_WEB_PORT).")
    local_concurrency: int = Field(2, ge=1, description="Local jobs run at the same time by one worker (CUSTODY_PROCESSORS_LOCAL_CONCURRENCY).")
    session_timeout_s: float = Field(
        30.0,
        ge=6.0,
        description="Seconds after which the group coordinator drops a silent worker and moves its partitions "
        "(CUSTODY_PROCESSORS_SESSION_TIMEOUT_S).",
    )
    replication_factor: int = Field(1, ge=1, description="Replication factor of the worker's internal topics (CUSTODY_PROCESSORS_REPLICATION_FACTOR).")
    service_account: str = Field(
        "custody-runner",
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="Service account that jobs run as unless their spec names one (CUSTODY_PROCESSORS_SERVICE_ACCOUNT).",
    )
    resume_interval_s: float = Field(
        5.0,
        gt=0,
        description="Seconds between scans for claimed jobs whose announcement did not finish (CUSTODY_PROCESSORS_RESUME_INTERVAL_S).",
    )
    log_tail_chars: int = Field(4000, ge=0, description="Characters of job output kept in JobSucceeded/JobFailed (CUSTODY_PROCESSORS_LOG_TAIL_CHARS).")

    @model_validator(mode="after")
    def _state_dir_absolute(self) -> ProcessorSettings:
        if not self.state_dir.is_absolute():
            raise ValueError(f"state_dir must be an absolute path, not {str(self.state_dir)!r}")
        return self

    @property
    def faust_dir(self) -> Path:
        """Directory faust keeps its own files in."""
        return self.state_dir / "faust"

    @property
    def local_jobs_dir(self) -> Path:
        """Directory holding one sub-directory per job submitted to the local executor."""
        return self.state_dir / "local-jobs"


def load_processor_settings() -> ProcessorSettings:
    """Read the worker settings from the environment; raise ConfigurationError naming the variable."""
    try:
        return ProcessorSettings()
    except ValidationError as exc:
        problems = [
            f"CUSTODY_PROCESSORS_{'_'.join(str(part) for part in error['loc']).upper() or 'STATE_DIR'}: {error['msg']}"
            for error in exc.errors(include_url=False)
        ]
        raise ConfigurationError("invalid processor settings: " + "; ".join(problems)) from None
