"""Alerts (shared DOMAIN.md "Alert lifecycle"): rules as events, the lifecycle of one alert, and silences.

Raised -> (Acknowledged{by, note, until} -> Unacknowledged when the ack expires while still firing) -> Resolved;
Flapping/Stable mark a fingerprint (rule + subject) whose notifications are held. A rule-less AlertRaised is a
manual or system-wide alert.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, time
from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from schemas.envelope import Payload

NAME = Annotated[str, Field(min_length=1, max_length=200)]
LABEL_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,99}$"
Labels = dict[Annotated[str, Field(pattern=LABEL_NAME)], Annotated[str, Field(max_length=500)]]
Scalar = str | int | float | bool | None
ResolveReason = Literal["cleared", "auto_resolved", "rule_deleted", "manual"]


class Severity(StrEnum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"
    info = "info"


class Metric(StrEnum):
    utilisation = "utilisation"
    in_bps = "in_bps"
    out_bps = "out_bps"
    error_rate = "error_rate"


class CylinderAlertEvent(StrEnum):
    ScanRejected = "ScanRejected"
    CylinderOverdue = "CylinderOverdue"
    RetestDueSoon = "RetestDueSoon"


class MetricThreshold(Payload):
    """High side: raise above `raise_above`, clear below `clear_below`; low side: raise_below / clear_above.
    Between the two thresholds the alert keeps its state (hysteresis). No clear threshold: it equals the raise one."""

    kind: Literal["metric_threshold"] = "metric_threshold"
    metric: Metric
    raise_above: float | None = None
    clear_below: float | None = None
    raise_below: float | None = None
    clear_above: float | None = None
    for_s: int = Field(default=0, ge=0, le=86_400)
    keep_firing_for_s: int = Field(default=0, ge=0, le=86_400)

    @model_validator(mode="after")
    def _one_side(self) -> MetricThreshold:
        high, low = self.raise_above is not None, self.raise_below is not None
        if high == low:
            raise ValueError("give exactly one of raise_above (high side) or raise_below (low side)")
        if high and (self.raise_below, self.clear_above) != (None, None):
            raise ValueError("a high-side rule takes raise_above and clear_below only")
        if low and (self.raise_above, self.clear_below) != (None, None):
            raise ValueError("a low-side rule takes raise_below and clear_above only")
        if self.raise_above is not None and self.clear_below is not None and self.clear_below > self.raise_above:
            raise ValueError("clear_below must not be above raise_above")
        if self.raise_below is not None and self.clear_above is not None and self.clear_above < self.raise_below:
            raise ValueError("clear_above must not be below raise_below")
        return self


class DeviceUnreachable(Payload):
    kind: Literal["device_unreachable"] = "device_unreachable"
    for_s: int = Field(default=0, ge=0, le=86_400)


class CameraDown(Payload):
    kind: Literal["camera_down"] = "camera_down"
    for_s: int = Field(default=0, ge=0, le=86_400)


class IngressOverLimit(Payload):
    """Raised by IngressLimitExceeded for a node; resolved by a clear event type or after auto_resolve_s."""

    kind: Literal["ingress_over_limit"] = "ingress_over_limit"
    clear_event_types: tuple[NAME, ...] = ()
    auto_resolve_s: int | None = Field(default=86_400, ge=1)


class CylinderEvents(Payload):
    kind: Literal["cylinder"] = "cylinder"
    event_types: tuple[CylinderAlertEvent, ...] = Field(min_length=1)
    clear_event_types: tuple[NAME, ...] = ()
    auto_resolve_s: int | None = Field(default=None, ge=1)


class GenericEvent(Payload):
    """Any event type whose payload fields equal `match` raises; `clear_event_type` (+ `clear_match`) resolves."""

    kind: Literal["generic"] = "generic"
    event_type: NAME
    match: dict[NAME, Scalar] = Field(default_factory=dict)
    clear_event_type: NAME | None = None
    clear_match: dict[NAME, Scalar] = Field(default_factory=dict)
    auto_resolve_s: int | None = Field(default=None, ge=1)


RuleParams = Annotated[
    MetricThreshold | DeviceUnreachable | CameraDown | IngressOverLimit | CylinderEvents | GenericEvent,
    Field(discriminator="kind"),
]


class FlapPolicy(Payload):
    """More than `max_changes` raise/resolve changes within `window_s` is flapping; stable after `stable_s` quiet."""

    max_changes: int = Field(default=4, ge=2, le=100)
    window_s: int = Field(default=900, ge=1)
    stable_s: int = Field(default=900, ge=1)


class AlertRule(Payload):
    """The definition of a rule, as AlertRuleCreated and AlertRuleUpdated carry it."""

    rule_id: NAME
    version: int = Field(ge=1)
    name: NAME
    severity: Severity
    labels: Labels = Field(default_factory=dict)
    params: RuleParams
    flapping: FlapPolicy | None = Field(default_factory=FlapPolicy)


class AlertRuleCreated(AlertRule):
    """A new alert rule (version 1)."""

    version: int = Field(default=1, ge=1, le=1)


class AlertRuleUpdated(AlertRule):
    """A rule replaced by a new definition; `version` is its new version."""

    version: int = Field(ge=2)


class AlertRuleDeleted(Payload):
    """A rule is gone; its firing alerts are resolved."""

    rule_id: NAME
    version: int = Field(ge=2)


class AlertEvent(Payload):
    """What every lifecycle event carries. `rule_id` is None for a manual or system-wide alert."""

    alert_id: uuid.UUID | None
    rule_id: str | None
    fingerprint: str = Field(pattern=r"^[0-9a-f]{32}$")
    subject: NAME
    at: datetime


class AlertRaised(AlertEvent):
    """An alert began firing. `flapping` true: its notifications are held."""

    alert_id: uuid.UUID
    severity: Severity
    summary: str = Field(max_length=1000)
    labels: Labels
    value: float | None = None
    flapping: bool = False
    silenced_by: uuid.UUID | None = Field(default=None, description="a mute silence covering it when raised")


class AlertAcknowledged(AlertEvent):
    """Someone has seen the alert; it is hidden from the active view until `until` (or until it resolves)."""

    alert_id: uuid.UUID
    by: NAME
    note: str = Field(default="", max_length=2000)
    until: datetime


class AlertUnacknowledged(AlertEvent):
    """The acknowledgement expired while the alert was still firing: it is shown (and notified) again."""

    alert_id: uuid.UUID
    acknowledged_by: str


class AlertResolved(AlertEvent):
    """The alert stopped firing; `reason` is cleared, auto_resolved, rule_deleted or manual."""

    alert_id: uuid.UUID
    reason: ResolveReason = "cleared"
    value: float | None = None
    flapping: bool = False


class AlertFlapping(AlertEvent):
    """Too many raise/resolve changes within the window: notifications for the fingerprint are held."""

    changes: int = Field(ge=1)
    window_s: int = Field(ge=1)


class AlertStable(AlertEvent):
    """Quiet for the stable window after flapping; `firing` is the state notifications resume from."""

    firing: bool


class AlertSilenced(AlertEvent):
    """A mute silence now covers the firing alert: it stays visible, marked silenced, and is not notified."""

    alert_id: uuid.UUID
    silence_id: uuid.UUID
    until: datetime


class AlertUnsilenced(AlertEvent):
    """No mute silence covers the firing alert any more (the silence ended, was deleted, or its window closed)."""

    alert_id: uuid.UUID
    silence_id: uuid.UUID


class AlertCommand(Payload):
    """What every request about an alert carries; the processor decides it against the alert's state."""

    fingerprint: str = Field(pattern=r"^[0-9a-f]{32}$")
    at: datetime
    by: NAME


class AlertAcknowledgeRequested(AlertCommand):
    """Someone asked to acknowledge `alert_id`; refused (AlertCommandRefused) when it is no longer firing."""

    alert_id: uuid.UUID
    note: str = Field(default="", max_length=2000)
    until: datetime


class AlertResolveRequested(AlertCommand):
    """Someone asked to resolve `alert_id` by hand (manual alerts have no rule to clear them)."""

    alert_id: uuid.UUID


class AlertRaiseRequested(AlertCommand):
    """A manual or system-wide alert (no rule); refused while one is already firing for the same subject."""

    subject: NAME
    severity: Severity
    summary: str = Field(min_length=1, max_length=1000)
    labels: Labels = Field(default_factory=dict)


class AlertCommandRefused(Payload):
    """The processor refused a request (e.g. acknowledging an alert that has resolved); `command_id` is its event."""

    command_id: uuid.UUID
    command_type: NAME
    fingerprint: str = Field(pattern=r"^[0-9a-f]{32}$")
    alert_id: uuid.UUID | None = None
    reason: str = Field(max_length=500)
    at: datetime


class MatchOp(StrEnum):
    eq = "="
    ne = "!="
    re = "=~"
    not_re = "!~"


class Matcher(Payload):
    label: Annotated[str, Field(pattern=LABEL_NAME)]
    op: MatchOp = MatchOp.eq
    value: str = Field(max_length=500)

    @model_validator(mode="after")
    def _regex_compiles(self) -> Matcher:
        if self.op in (MatchOp.re, MatchOp.not_re):
            try:
                re.compile(self.value)
            except re.error as e:
                raise ValueError(f"not a valid regular expression: {e}") from e
        return self


class Recurrence(Payload):
    """A wall-clock window in `timezone`, every day or on `weekdays` (0 Monday .. 6 Sunday); `end` <= `start`
    means the window runs past midnight. Its weekday is the one it starts on."""

    every: Literal["daily", "weekly"]
    timezone: str = Field(min_length=1, max_length=64)
    start: time
    end: time
    weekdays: tuple[Annotated[int, Field(ge=0, le=6)], ...] = ()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown IANA time zone {name!r}") from e
        return name

    @model_validator(mode="after")
    def _sane(self) -> Recurrence:
        if self.start == self.end:
            raise ValueError("start and end must differ")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("start and end are wall-clock times in `timezone`, without an offset")
        if self.every == "weekly" and not self.weekdays:
            raise ValueError("a weekly recurrence needs weekdays")
        return self


class SilenceCreated(Payload):
    """Alerts whose labels match every matcher are silenced between starts_at and ends_at (within the recurring
    window, if any). mute: evaluated and shown, not notified; skip_evaluation: not evaluated at all."""

    silence_id: uuid.UUID
    matchers: tuple[Matcher, ...] = Field(min_length=1, max_length=20)
    starts_at: datetime
    ends_at: datetime
    recurrence: Recurrence | None = None
    mode: Literal["mute", "skip_evaluation"] = "mute"
    created_by: NAME
    comment: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _bounded(self) -> SilenceCreated:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("starts_at and ends_at need a UTC offset")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if all(_matches_empty(m) for m in self.matchers):
            raise ValueError("at least one matcher must not match an empty label (it would silence everything)")
        return self


def _matches_empty(matcher: Matcher) -> bool:
    if matcher.op is MatchOp.eq:
        return matcher.value == ""
    if matcher.op is MatchOp.ne:
        return matcher.value != ""
    found = re.fullmatch(matcher.value, "") is not None
    return found if matcher.op is MatchOp.re else not found


class SilenceExpired(Payload):
    """The silence reached its end."""

    silence_id: uuid.UUID
    at: datetime


class SilenceDeleted(Payload):
    """The silence was withdrawn before its end."""

    silence_id: uuid.UUID
    by: NAME
    at: datetime
