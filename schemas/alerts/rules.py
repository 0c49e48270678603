"""Alert rules as events (shared DOMAIN.md "Alert lifecycle"): what a rule watches (its params), how it raises and
clears, and the definition events on alerts.rules."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, model_validator

from schemas.analytics.series import check_matcher
from schemas.envelope import JsonFloat, JsonInt, Payload, json_number
from schemas.images.health import HEALTH_KINDS, HealthKind

NAME = Annotated[str, Field(min_length=1, max_length=200)]
LABEL_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,99}$"
# additionalProperties false: patternProperties alone would let a document's reader send keys of any other name
Labels = Annotated[dict[Annotated[str, Field(pattern=LABEL_NAME)], Annotated[str, Field(max_length=500)]],
                   Field(json_schema_extra={"additionalProperties": False})]
# An integer an event can carry: orjson, and every Kafka client in other languages, stops at 64 bits (a larger
# number is read as a float instead, as JSON parsers do).
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
Scalar = str | Int64 | float | bool | None
# bounds before the validator: on `X | None`, or after it, the document would lose them or misspell them
# at most a year: an unbounded number was a 500 (past 64 bits orjson cannot encode it) or a timedelta overflow in the
# alert engine (Schemathesis, auto_resolve_s = 1.5e30)
Seconds = Annotated[int, Field(ge=1, le=366 * 86_400), BeforeValidator(json_number)]
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


def _kind_required(schema: dict[str, Any]) -> None:
    # `kind` has a default (so code can build params without it) but the discriminated union needs it in the JSON
    schema["required"] = [*schema.get("required", []), "kind"]


class Params(Payload):
    """The base of a rule's params: the document says what the server requires, `kind` included."""

    model_config = ConfigDict(json_schema_extra=_kind_required)


class MetricThreshold(Params):
    """High side: raise above `raise_above`, clear below `clear_below`; low side: raise_below / clear_above.
    Between the two thresholds the alert keeps its state (hysteresis). No clear threshold: it equals the raise one."""

    kind: Literal["metric_threshold"] = "metric_threshold"
    metric: Metric
    raise_above: JsonFloat | None = None
    clear_below: JsonFloat | None = None
    raise_below: JsonFloat | None = None
    clear_above: JsonFloat | None = None
    for_s: JsonInt = Field(default=0, ge=0, le=86_400)
    keep_firing_for_s: JsonInt = Field(default=0, ge=0, le=86_400)

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


class DeviceUnreachable(Params):
    kind: Literal["device_unreachable"] = "device_unreachable"
    for_s: JsonInt = Field(default=0, ge=0, le=86_400)


class CameraDown(Params):
    kind: Literal["camera_down"] = "camera_down"
    for_s: JsonInt = Field(default=0, ge=0, le=86_400)


class CameraImage(Params):
    """Raised by CameraImageDegraded of one of `kinds`, cleared by CameraImageRecovered of that kind: one alert per
    camera and kind (black or blank, frozen, out of focus or covered, moved)."""

    kind: Literal["camera_image"] = "camera_image"
    kinds: tuple[HealthKind, ...] = Field(default=HEALTH_KINDS, min_length=1)
    for_s: JsonInt = Field(default=0, ge=0, le=86_400)


class IngressOverLimit(Params):
    """Raised by IngressLimitExceeded for a node; resolved by a clear event type or after auto_resolve_s."""

    kind: Literal["ingress_over_limit"] = "ingress_over_limit"
    clear_event_types: tuple[NAME, ...] = ()
    auto_resolve_s: Seconds | None = 86_400


class CylinderEvents(Params):
    kind: Literal["cylinder"] = "cylinder"
    event_types: tuple[CylinderAlertEvent, ...] = Field(min_length=1)
    clear_event_types: tuple[NAME, ...] = ()
    auto_resolve_s: Seconds | None = None


class GenericEvent(Params):
    """Any event type whose payload fields equal `match` raises; `clear_event_type` (+ `clear_match`) resolves."""

    kind: Literal["generic"] = "generic"
    event_type: NAME
    match: dict[NAME, Scalar] = Field(default_factory=dict)
    clear_event_type: NAME | None = None
    clear_match: dict[NAME, Scalar] = Field(default_factory=dict)
    auto_resolve_s: Seconds | None = None


class AnomalyRule(Params):
    """A dynamic threshold: raised when a series matching `series` (`*` one key segment, `**` any) is flagged by its
    detector (AnomalyDetected) with a score of at least `min_score`, held for `for_s`; cleared by AnomalyCleared."""

    kind: Literal["anomaly"] = "anomaly"
    series: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(check_matcher)]
    min_score: JsonFloat = Field(default=0.5, ge=0, le=1)
    for_s: JsonInt = Field(default=0, ge=0, le=86_400)
    keep_firing_for_s: JsonInt = Field(default=0, ge=0, le=86_400)


RuleParams = Annotated[
    MetricThreshold | DeviceUnreachable | CameraDown | CameraImage | IngressOverLimit | CylinderEvents | GenericEvent
    | AnomalyRule,
    Field(discriminator="kind"),
]


class FlapPolicy(Payload):
    """More than `max_changes` raise/resolve changes within `window_s` is flapping; stable after `stable_s` quiet."""

    max_changes: JsonInt = Field(default=4, ge=2, le=100)
    window_s: JsonInt = Field(default=900, ge=1, le=7 * 86_400)
    stable_s: JsonInt = Field(default=900, ge=1, le=7 * 86_400)


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


