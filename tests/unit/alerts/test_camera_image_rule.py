"""The camera_image rule kind: CameraImageDegraded raises one alert per camera and kind, the matching
CameraImageRecovered clears it, other kinds and other rules' events leave it alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import TypeAdapter, ValidationError

from processors.alerts.index import RuleIndex
from processors.alerts.machine import Phase, evaluate, initial_state
from processors.alerts.observations import from_wire, observations_of, to_wire
from processors.alerts.rules import ImageHealth, Signal, classify
from schemas.alerts.identity import fingerprint
from schemas.alerts.lifecycle import AlertRaised, AlertResolved
from schemas.alerts.rules import AlertRule, CameraImage, RuleParams, Severity
from schemas.catalog import REGISTRY
from schemas.images.health import HEALTH_KINDS, CameraImageDegraded, CameraImageRecovered

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
RULE = AlertRule(rule_id="picture", version=1, name="Camera picture", severity=Severity.high,
                 params=CameraImage(kinds=("black_or_blank", "frozen")))


def health(camera: str, kind: str, degraded: bool, at: datetime = T0) -> ImageHealth:
    data = (CameraImageDegraded(camera_id=camera, kind=kind, at=at, detail="brightness 0.010")  # type: ignore[arg-type]
            if degraded else CameraImageRecovered(camera_id=camera, kind=kind, at=at))  # type: ignore[arg-type]
    found = [o for o in observations_of(REGISTRY.event(data, source="t", subject=camera))
             if isinstance(o, ImageHealth)]
    assert len(found) == 1
    return found[0]


def test_the_rule_kind_parses_and_defaults_to_every_kind() -> None:
    params = TypeAdapter(RuleParams).validate_python({"kind": "camera_image"})
    assert isinstance(params, CameraImage) and params.kinds == HEALTH_KINDS
    with pytest.raises(ValidationError):
        TypeAdapter(RuleParams).validate_python({"kind": "camera_image", "kinds": ["sunburnt"]})
    with pytest.raises(ValidationError):
        TypeAdapter(RuleParams).validate_python({"kind": "camera_image", "kinds": []})


def test_degraded_and_recovered_are_about_the_camera_and_kind() -> None:
    black = health("cam-1", "black_or_blank", True)
    assert black.subject == "cam-1/black_or_blank" and black.labels == {
        "device": "cam-1", "camera": "cam-1", "kind": "black_or_blank"}
    assert from_wire(to_wire(black)) == black
    assert classify(RULE.params, black) is Signal.problem
    assert classify(RULE.params, health("cam-1", "black_or_blank", False)) is Signal.ok
    assert classify(RULE.params, health("cam-1", "moved", True)) is None  # not a kind this rule watches
    assert RuleIndex([RULE]).candidates(black) == [RULE]
    assert RuleIndex([RULE]).candidates(health("cam-1", "moved", True)) == []


def test_one_alert_per_camera_and_kind_raised_and_cleared() -> None:
    black, frozen = health("cam-1", "black_or_blank", True), health("cam-1", "frozen", True)
    assert fingerprint(RULE.rule_id, black.subject) != fingerprint(RULE.rule_id, frozen.subject)
    state, events = evaluate(RULE, initial_state(RULE.rule_id, black.subject), black, T0)
    assert state.phase is Phase.firing and isinstance(events[0], AlertRaised)
    assert events[0].labels["kind"] == "black_or_blank"
    state, events = evaluate(RULE, state, health("cam-1", "black_or_blank", False, T0 + timedelta(minutes=5)),
                             T0 + timedelta(minutes=5))
    assert state.phase is not Phase.firing and isinstance(events[0], AlertResolved)
