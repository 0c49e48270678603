"""What an alert rule makes of one observation (a problem, all clear, or no change), and the ids and labels of
its alerts. Pure: the agent turns incoming events into observations and passes them to alerts_machine.evaluate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from schemas.alerts.rules import (
    AlertRule,
    AnomalyRule,
    CameraDown,
    CameraImage,
    CylinderEvents,
    DeviceUnreachable,
    GenericEvent,
    IngressOverLimit,
    Metric,
    MetricThreshold,
    RuleParams,
)
from schemas.analytics.series import matches

INGRESS_EXCEEDED = "IngressLimitExceeded"


class Signal(StrEnum):
    problem = "problem"
    ok = "ok"
    hold = "hold"  # between the clear and raise thresholds: the alert keeps its state


@dataclass(frozen=True, kw_only=True)
class Observed:
    observation_id: str  # the source event's id: a repeat of a recently seen id changes nothing
    subject: str  # the device, camera, node or cylinder the alert is about
    labels: Mapping[str, str] = field(default_factory=dict)  # e.g. site, device: copied onto the alert


@dataclass(frozen=True, kw_only=True)
class MetricSample(Observed):
    metric: Metric
    value: float


@dataclass(frozen=True, kw_only=True)
class Reachability(Observed):
    target: Literal["device", "camera"]
    reachable: bool


@dataclass(frozen=True, kw_only=True)
class SourceEvent(Observed):
    event_type: str
    fields: Mapping[str, Any] = field(default_factory=dict)  # the event's payload


@dataclass(frozen=True, kw_only=True)
class ImageHealth(Observed):
    problem: str  # the health kind: black_or_blank, frozen, out_of_focus_or_covered, moved
    degraded: bool


@dataclass(frozen=True, kw_only=True)
class AnomalyObserved(Observed):
    """A series' detector flagged it (`active`, with the score that did) or found it calm again."""

    series: str
    active: bool
    score: float
    value: float


Observation = MetricSample | Reachability | ImageHealth | SourceEvent | AnomalyObserved


@dataclass(frozen=True)
class Timing:
    for_s: int = 0
    keep_firing_for_s: int = 0
    auto_resolve_s: int | None = None


def timing(params: RuleParams | None) -> Timing:
    match params:
        case MetricThreshold() | AnomalyRule():
            return Timing(params.for_s, params.keep_firing_for_s)
        case DeviceUnreachable() | CameraDown() | CameraImage():
            return Timing(params.for_s)
        case IngressOverLimit() | CylinderEvents() | GenericEvent():
            return Timing(auto_resolve_s=params.auto_resolve_s)
    return Timing()


def classify(params: RuleParams, observation: Observation) -> Signal | None:
    """The observation's meaning for the rule; None when the rule does not look at it."""
    match params, observation:
        case MetricThreshold(), MetricSample() if observation.metric == params.metric:
            return _threshold(params, observation.value)
        case AnomalyRule(), AnomalyObserved() if matches(params.series, observation.series):
            if not observation.active:
                return Signal.ok
            return Signal.problem if observation.score >= params.min_score else None
        case DeviceUnreachable(), Reachability(target="device"):
            return Signal.ok if observation.reachable else Signal.problem
        case CameraDown(), Reachability(target="camera"):
            return Signal.ok if observation.reachable else Signal.problem
        case CameraImage(), ImageHealth() if observation.problem in params.kinds:
            return Signal.problem if observation.degraded else Signal.ok
        case IngressOverLimit(), SourceEvent():
            return _by_type(observation.event_type, (INGRESS_EXCEEDED,), params.clear_event_types)
        case CylinderEvents(), SourceEvent():
            return _by_type(observation.event_type, tuple(params.event_types), params.clear_event_types)
        case GenericEvent(), SourceEvent():
            if observation.event_type == params.event_type and _fields_equal(observation.fields, params.match):
                return Signal.problem
            if observation.event_type == params.clear_event_type and _fields_equal(observation.fields,
                                                                                    params.clear_match):
                return Signal.ok
    return None


def _threshold(params: MetricThreshold, value: float) -> Signal:
    if math.isnan(value):
        return Signal.hold
    if params.raise_above is not None:
        clear = params.raise_above if params.clear_below is None else params.clear_below
        return Signal.problem if value > params.raise_above else Signal.ok if value < clear else Signal.hold
    assert params.raise_below is not None  # the schema insists on one side
    clear = params.raise_below if params.clear_above is None else params.clear_above
    return Signal.problem if value < params.raise_below else Signal.ok if value > clear else Signal.hold


def _by_type(event_type: str, raising: tuple[str, ...], clearing: tuple[str, ...]) -> Signal | None:
    if event_type in raising:
        return Signal.problem
    return Signal.ok if event_type in clearing else None


def _fields_equal(fields: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    missing = object()
    return all(fields.get(name, missing) == value for name, value in wanted.items())


def alert_labels(rule: AlertRule, subject: str, observed: Mapping[str, str]) -> dict[str, str]:
    """The labels silences and notification routes match on; the rule's own names win over observed ones."""
    return {**observed, **rule.labels, "alertname": rule.name, "rule_id": rule.rule_id,
            "severity": rule.severity.value, "subject": subject}


def summary(rule: AlertRule, subject: str, value: float | None) -> str:
    params = rule.params
    if isinstance(params, MetricThreshold) and value is not None:
        bound = params.raise_above if params.raise_above is not None else params.raise_below
        side = "above" if params.raise_above is not None else "below"
        return f"{rule.name}: {params.metric.value} of {subject} is {value:g} ({side} {bound:g})"[:1000]
    if isinstance(params, AnomalyRule) and value is not None:
        return f"{rule.name}: {subject} is {value:g}, outside what its history expects"[:1000]
    return f"{rule.name}: {subject}"[:1000]
