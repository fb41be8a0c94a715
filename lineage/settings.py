"""Settings of the lineage consumer and the audit commands (`CUSTODY_LINEAGE_*`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class LineageSettings(BaseSettings):
    """Consumer group, graph namespace, batching and retry policy of the lineage service."""

    model_config = SettingsConfigDict(env_prefix="CUSTODY_LINEAGE_", frozen=True, extra="ignore", hide_input_in_errors=True)

    group_id: str = Field("custody-lineage", min_length=1, description="Kafka consumer group (CUSTODY_LINEAGE_GROUP_ID).")
    namespace: str = Field(
        "",
        max_length=200,
        description=(
            "Graph namespace: the `ns` property every lineage node carries, so several graphs can share one "
            "Neo4j database; empty in a normal deployment (CUSTODY_LINEAGE_NAMESPACE)."
        ),
    )
    batch_size: int = Field(2000, ge=1, le=50_000, description="Records written per Neo4j transaction, at most (CUSTODY_LINEAGE_BATCH_SIZE).")
    session_timeout_s: float = Field(
        45.0,
        ge=1,
        le=300,
        description=(
            "Seconds without heartbeats after which Kafka hands a dead consumer's partitions to another member "
            "(CUSTODY_LINEAGE_SESSION_TIMEOUT_S)."
        ),
    )
    poll_timeout_s: float = Field(1.0, gt=0, description="Seconds to wait for the first record of a batch (CUSTODY_LINEAGE_POLL_TIMEOUT_S).")
    retry_initial_s: float = Field(1.0, gt=0, description="First wait after a failed write, doubled up to the maximum (CUSTODY_LINEAGE_RETRY_INITIAL_S).")
    retry_max_s: float = Field(30.0, gt=0, description="Maximum wait between two write attempts (CUSTODY_LINEAGE_RETRY_MAX_S).")
    max_depth: int = Field(
        25,
        ge=1,
        le=200,
        description="Default number of job stages that `custody audit trace` and `impact` follow (CUSTODY_LINEAGE_MAX_DEPTH).",
    )
    query_timeout_s: float = Field(60.0, gt=0, description="Server-side timeout of each audit query (CUSTODY_LINEAGE_QUERY_TIMEOUT_S).")


def load_lineage_settings(**overrides: object) -> LineageSettings:
    """Read the lineage settings from the environment; raise ConfigurationError naming each invalid variable."""
    from pydantic import ValidationError

    from custody.errors import ConfigurationError

    try:
        return LineageSettings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"CUSTODY_LINEAGE_{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors(include_url=False)
        )
        raise ConfigurationError(f"invalid lineage settings: {problems}. Fix the environment variable or the option.") from None
