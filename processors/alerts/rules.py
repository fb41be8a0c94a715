"""The alert rules file: sinks, rules and built-in detector settings, validated by pydantic."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, model_validator

from custody.errors import ValidationFailed
from custody.events.codec import describe_errors

Severity = Literal["info", "warning", "error", "critical"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LogSinkSpec(_Strict):
    """Write alerts to the service log."""

    type: Literal["log"]


class KafkaSinkSpec(_Strict):
    """Publish alerts as `AlertRaised` events on `custody.alerts`."""

    type: Literal["kafka"]


class WebhookSinkSpec(_Strict):
    """POST each alert as JSON, signed with HMAC-SHA256 when a secret is set."""

    type: Literal["webhook"]
    url: HttpUrl
    secret_env: str | None = Field(None, description="Environment variable that contains the HMAC secret.")
    timeout_s: float = Field(5.0, gt=0, description="Seconds per request.")
    retries: int = Field(3, ge=0, description="Retries after the first attempt.")
    backoff_s: float = Field(0.5, ge=0, description="First retry delay in seconds; doubles per retry.")


class SlackSinkSpec(_Strict):
    """POST each alert to a Slack-compatible incoming webhook."""

    type: Literal["slack"]
    url: HttpUrl
    timeout_s: float = Field(5.0, gt=0)
    retries: int = Field(3, ge=0)
    backoff_s: float = Field(0.5, ge=0)


SinkSpec = Annotated[Union[LogSinkSpec, KafkaSinkSpec, WebhookSinkSpec, SlackSinkSpec], Field(discriminator="type")]


class AlertRule(_Strict):
    """One rule: which events match, how severe the alert is, and where it goes."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    event_type: str = Field(description="An event type such as `io.custody.job.failed.v1`; `*` matches any.")
    where: dict[str, Any] = Field(
        default_factory=dict,
        description="Field predicates on the event, by dotted path (`data.pipeline`): a value, a list of values, or {contains: X}.",
    )
    severity: Severity = "warning"
    summary: str = Field("{type} for {subject}", description="Python format string over type, subject, id and data fields.")
    dedupe_key: str = Field("{rule}:{subject}", description="Alerts with the same key inside the dedupe window are sent once.")
    dedupe_window_s: float = Field(300.0, ge=0)
    throttle_per_minute: int | None = Field(None, ge=1, description="Maximum alerts of this rule per minute; the rest are dropped and counted.")
    sinks: list[str] = Field(min_length=1)


class SlaDetectorSpec(_Strict):
    """Raise an alert when a commit to a repo with pipelines starts no job within `seconds`."""

    enabled: bool = True
    seconds: float = Field(300.0, gt=0)
    severity: Severity = "error"
    sinks: list[str] = Field(default_factory=list)


class BuiltinDetectorSpec(_Strict):
    """Switch a built-in detector on or off and choose its sinks."""

    enabled: bool = True
    severity: Severity = "error"
    sinks: list[str] = Field(default_factory=list)


class DetectorsSpec(_Strict):
    """Settings of the built-in detectors; their sinks default to every sink in the file."""

    job_failed: BuiltinDetectorSpec = Field(default_factory=BuiltinDetectorSpec)
    policy_refusal: BuiltinDetectorSpec = Field(default_factory=lambda: BuiltinDetectorSpec(severity="warning"))
    notification_gap: BuiltinDetectorSpec = Field(default_factory=lambda: BuiltinDetectorSpec(severity="warning"))
    lineage_gap: BuiltinDetectorSpec = Field(default_factory=BuiltinDetectorSpec)
    sla: SlaDetectorSpec = Field(default_factory=SlaDetectorSpec)


class RulesFile(_Strict):
    """The whole rules file."""

    sinks: dict[str, SinkSpec] = Field(default_factory=lambda: {"log": LogSinkSpec(type="log")})
    rules: list[AlertRule] = Field(default_factory=list)
    detectors: DetectorsSpec = Field(default_factory=DetectorsSpec)

    @model_validator(mode="after")
    def _sinks_exist(self) -> RulesFile:
        for rule in self.rules:
            missing = [name for name in rule.sinks if name not in self.sinks]
            if missing:
                raise ValueError(f"rule {rule.name!r} names unknown sink(s) {missing}; defined sinks: {sorted(self.sinks)}")
        names = [rule.name for rule in self.rules]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"rule names must be unique; repeated: {duplicates}")
        return self

    def detector_sinks(self, spec: BuiltinDetectorSpec | SlaDetectorSpec) -> list[str]:
        """Return the sinks of a detector: its own list, or every sink in the file."""
        return spec.sinks or list(self.sinks)


def load_rules(path: Path) -> RulesFile:
    """Read and validate a rules file; errors name the file, the field and the value."""
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ValidationFailed(f"rules file {path} not found") from None
    except yaml.YAMLError as exc:
        raise ValidationFailed(f"rules file {path} is not valid YAML: {exc}") from None

    try:
        return RulesFile.model_validate(document or {})
    except ValidationError as exc:
        raise ValidationFailed(f"{path}: {describe_errors(exc, 'alert rules')}") from None
