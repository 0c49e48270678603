"""The alert state machine by example: hysteresis, for, keep_firing_for, flapping, acknowledgement expiry,
redelivery, deterministic ids, event-kind rules and manual alerts."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import event as note_case
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from processors.alerts.machine import (
    AlertState,
    Phase,
    acknowledge,
    evaluate,
    initial_state,
    raise_manual,
    resolve,
    tick,
)
from processors.alerts.rules import MetricSample, Observation, Reachability, SourceEvent
from schemas.alerts.identity import ALERT_NAMESPACE, alert_id, fingerprint, lifecycle_event_id
from schemas.alerts.lifecycle import (
    AlertAcknowledged,
    AlertEvent,
    AlertFlapping,
    AlertRaised,
    AlertResolved,
    AlertStable,
    AlertUnacknowledged,
)
from schemas.alerts.rules import (
    AlertRule,
    AlertRuleCreated,
    AlertRuleUpdated,
    CameraDown,
    CylinderAlertEvent,
    CylinderEvents,
    DeviceUnreachable,
    FlapPolicy,
    GenericEvent,
    IngressOverLimit,
    Metric,
    MetricThreshold,
    RuleParams,
    Severity,
)

T0 = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
PORT = "sw-core-01/ge-0/0/1"
HOT = MetricThreshold(metric=Metric.utilisation, raise_above=80, clear_below=60)
_ids = itertools.count()
PROPERTY = settings(max_examples=300, deadline=None)


def at(second: float) -> datetime:
    return T0 + timedelta(seconds=second)


def make_rule(params: RuleParams, flapping: FlapPolicy | None = None, rule_id: str = "uplink-hot") -> AlertRule:
    return AlertRule(rule_id=rule_id, version=1, name="Uplink hot", severity=Severity.high, labels={"team": "noc"},
                     params=params, flapping=flapping)


def sample(value: float, metric: Metric = Metric.utilisation, subject: str = PORT) -> MetricSample:
    return MetricSample(observation_id=f"obs-{next(_ids)}", subject=subject, metric=metric, value=value,
                        labels={"site": "berlin-1", "device": "sw-core-01"})


def source(event_type: str, subject: str = "CYL-0000000000A1", **fields: Any) -> SourceEvent:
    return SourceEvent(observation_id=f"obs-{next(_ids)}", subject=subject, event_type=event_type, fields=fields)


def reach(target: str, reachable: bool, subject: str = "cam-7") -> Reachability:
    return Reachability(observation_id=f"obs-{next(_ids)}", subject=subject, target=target,  # type: ignore[arg-type]
                        reachable=reachable)


@dataclass
class Run:
    """One fingerprint driven through observations and ticks, keeping every event."""

    rule: AlertRule
    subject: str = PORT
    state: AlertState = field(init=False)
    events: list[AlertEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.state = initial_state(self.rule.rule_id, self.subject)

    def see(self, observation: Observation, second: float) -> list[AlertEvent]:
        self.state, found = evaluate(self.rule, self.state, observation, at(second))
        self.events += found
        return found

    def value(self, value: float, second: float) -> list[AlertEvent]:
        return self.see(sample(value, subject=self.subject), second)

    def tick(self, second: float) -> list[AlertEvent]:
        self.state, found = tick(self.rule, self.state, at(second))
        self.events += found
        return found


def kinds(events: list[AlertEvent]) -> list[str]:
    return [type(event).__name__ for event in events]


def test_hysteresis_raises_above_the_raise_threshold_and_clears_only_below_the_clear_one() -> None:
    run = Run(make_rule(HOT))
    assert run.value(75, 0) == []
    [raised] = run.value(85, 10)
    assert isinstance(raised, AlertRaised)
    assert (raised.value, raised.severity, raised.at, raised.rule_id) == (85, Severity.high, at(10), "uplink-hot")
    assert raised.labels == {"site": "berlin-1", "device": "sw-core-01", "team": "noc", "alertname": "Uplink hot",
                             "rule_id": "uplink-hot", "severity": "high", "subject": PORT}
    assert run.value(70, 20) == [] and run.value(95, 30) == [] and run.value(60, 40) == []  # between: still firing
    [resolved] = run.value(59.9, 50)
    assert isinstance(resolved, AlertResolved) and resolved.alert_id == raised.alert_id
    assert (resolved.reason, resolved.value) == ("cleared", 59.9)
    assert run.value(79, 60) == []  # between again, from below: stays clear
    [again] = run.value(81, 70)
    assert isinstance(again, AlertRaised) and again.alert_id != raised.alert_id


def test_a_low_side_rule_raises_below_and_clears_above() -> None:
    run = Run(make_rule(MetricThreshold(metric=Metric.in_bps, raise_below=1_000, clear_above=5_000)))
    metric = Metric.in_bps
    assert run.see(sample(2_000, metric), 0) == []
    assert kinds(run.see(sample(999, metric), 10)) == ["AlertRaised"]
    assert run.see(sample(4_000, metric), 20) == []
    assert kinds(run.see(sample(5_001, metric), 30)) == ["AlertResolved"]


def test_a_sample_of_another_metric_or_nan_changes_nothing() -> None:
    run = Run(make_rule(HOT))
    assert run.see(sample(99, Metric.error_rate), 0) == []
    assert run.state == initial_state("uplink-hot", PORT)
    run.value(90, 10)
    assert run.value(float("nan"), 20) == [] and run.state.phase is Phase.firing


def test_for_keeps_the_alert_pending_until_the_problem_held_long_enough() -> None:
    run = Run(make_rule(HOT.model_copy(update={"for_s": 60})))
    assert run.value(90, 0) == [] and run.state.phase is Phase.pending
    assert run.value(90, 59) == []
    [raised] = run.value(90, 60)
    assert isinstance(raised, AlertRaised) and raised.at == at(60)


def test_a_problem_that_clears_while_pending_never_raises() -> None:
    run = Run(make_rule(HOT.model_copy(update={"for_s": 60})))
    run.value(90, 0)
    assert run.value(50, 30) == [] and run.state.phase is Phase.inactive
    assert run.value(90, 40) == [] and run.tick(99) == []  # the clock starts again at 40
    assert kinds(run.tick(100)) == ["AlertRaised"]


def test_tick_raises_a_pending_problem_when_no_newer_sample_comes() -> None:
    run = Run(make_rule(DeviceUnreachable(for_s=120), rule_id="edge-down"), subject="sw-edge-3")
    assert run.see(reach("device", False, "sw-edge-3"), 0) == []
    assert run.tick(119) == []
    assert kinds(run.tick(120)) == ["AlertRaised"]
    assert kinds(run.see(reach("device", True, "sw-edge-3"), 130)) == ["AlertResolved"]


def test_keep_firing_for_holds_the_alert_after_the_condition_clears() -> None:
    run = Run(make_rule(HOT.model_copy(update={"keep_firing_for_s": 120})))
    run.value(90, 0)
    assert run.value(40, 10) == [] and run.state.phase is Phase.firing
    assert run.value(40, 100) == [] and run.tick(129) == []
    [resolved] = run.tick(130)
    assert isinstance(resolved, AlertResolved) and resolved.at == at(130)


def test_a_problem_during_keep_firing_for_starts_the_wait_again() -> None:
    run = Run(make_rule(HOT.model_copy(update={"keep_firing_for_s": 120})))
    run.value(90, 0)
    run.value(40, 10)
    run.value(90, 60)
    run.value(40, 100)
    assert run.tick(130) == [] and run.tick(219) == []
    assert kinds(run.tick(220)) == ["AlertResolved"]
    assert kinds(run.events) == ["AlertRaised", "AlertResolved"]


def test_flapping_holds_notifications_until_the_fingerprint_is_quiet_again() -> None:
    policy = FlapPolicy(max_changes=4, window_s=600, stable_s=300)
    run = Run(make_rule(HOT, flapping=policy))
    for n in range(4):  # four changes: raise, resolve, raise, resolve
        run.value(90 if n % 2 == 0 else 10, n * 30)
    assert not run.state.flapping and not any(getattr(e, "flapping", False) for e in run.events)
    fifth = run.value(90, 120)
    assert kinds(fifth) == ["AlertRaised", "AlertFlapping"]
    raised, flapping = fifth
    assert isinstance(raised, AlertRaised) and raised.flapping
    assert isinstance(flapping, AlertFlapping) and (flapping.changes, flapping.window_s) == (5, 600)
    [resolved] = run.value(10, 150)
    assert isinstance(resolved, AlertResolved) and resolved.flapping  # no second AlertFlapping
    assert run.value(90, 200) != [] and run.tick(499) == []
    [stable] = run.tick(500)
    assert isinstance(stable, AlertStable) and stable.firing and stable.alert_id == run.state.alert_id
    assert not run.state.flapping
    assert kinds(run.value(10, 510)) == ["AlertResolved"] and not run.events[-1].model_dump()["flapping"]


def test_changes_spread_wider_than_the_window_are_not_flapping() -> None:
    run = Run(make_rule(HOT, flapping=FlapPolicy(max_changes=4, window_s=600, stable_s=300)))
    for n in range(12):
        run.value(90 if n % 2 == 0 else 10, n * 200)
    assert "AlertFlapping" not in kinds(run.events)


def test_an_acknowledgement_expires_while_the_alert_still_fires() -> None:
    run = Run(make_rule(HOT))
    run.value(90, 0)
    firing = run.state.alert_id
    assert firing is not None
    run.state, [ack] = acknowledge(run.state, firing, "ann", "on it", at(3600), at(10))
    assert isinstance(ack, AlertAcknowledged) and (ack.by, ack.note, ack.until, ack.at) == ("ann", "on it",
                                                                                          at(3600), at(10))
    assert acknowledge(run.state, firing, "ann", "on it", at(3600), at(20))[1] == []  # the same ack again
    assert run.tick(3599) == []
    [unacked] = run.tick(3600)
    assert isinstance(unacked, AlertUnacknowledged) and unacked.acknowledged_by == "ann"
    assert run.state.ack is None and run.tick(7200) == []


def test_an_acknowledgement_ends_quietly_when_the_alert_resolves() -> None:
    run = Run(make_rule(HOT))
    run.value(90, 0)
    assert run.state.alert_id is not None
    run.state, _ = acknowledge(run.state, run.state.alert_id, "ann", "", at(3600), at(10))
    run.value(10, 20)
    assert run.tick(4000) == [] and kinds(run.events) == ["AlertRaised", "AlertResolved"]


def test_an_acknowledgement_of_an_old_alert_or_with_a_past_expiry_is_ignored() -> None:
    run = Run(make_rule(HOT))
    run.value(90, 0)
    old = run.state.alert_id
    run.value(10, 10)
    run.value(90, 20)
    assert old is not None and run.state.alert_id is not None
    assert acknowledge(run.state, old, "ann", "", at(3600), at(30))[1] == []
    assert acknowledge(run.state, run.state.alert_id, "ann", "", at(30), at(30))[1] == []


def test_a_redelivered_observation_changes_nothing() -> None:
    run = Run(make_rule(HOT))
    hot = sample(90)
    assert kinds(run.see(hot, 0)) == ["AlertRaised"]
    before = run.state
    assert run.see(hot, 0) == [] and run.state == before
    cold = sample(10)
    assert kinds(run.see(cold, 10)) == ["AlertResolved"]
    assert run.see(hot, 0) == [] and run.see(cold, 10) == []


def test_an_observation_older_than_the_newest_applied_is_ignored() -> None:
    run = Run(make_rule(HOT))
    run.value(90, 100)
    assert run.value(10, 50) == [] and run.state.phase is Phase.firing


def test_alert_ids_are_derived_from_the_fingerprint_and_the_raise_number() -> None:
    first, second = Run(make_rule(HOT)), Run(make_rule(HOT))
    for run in (first, second):
        run.see(MetricSample(observation_id="a", subject=PORT, metric=Metric.utilisation, value=90), 0)
        run.see(MetricSample(observation_id="b", subject=PORT, metric=Metric.utilisation, value=10), 10)
        run.see(MetricSample(observation_id="c", subject=PORT, metric=Metric.utilisation, value=90), 20)
    assert first.events == second.events
    port_hot = fingerprint("uplink-hot", PORT)
    assert [e.alert_id for e in first.events] == [alert_id(port_hot, 1), alert_id(port_hot, 1), alert_id(port_hot, 2)]
    assert alert_id(port_hot, 2) == uuid.uuid5(ALERT_NAMESPACE, f"{port_hot}#2")
    assert [lifecycle_event_id(e) for e in first.events] == [lifecycle_event_id(e) for e in second.events]
    assert len({lifecycle_event_id(e) for e in first.events}) == 3


def test_fingerprints_separate_rules_subjects_and_manual_alerts() -> None:
    prints = {fingerprint("a", "b:c"), fingerprint("a:b", "c"), fingerprint("a", "bc"), fingerprint(None, "a"),
              fingerprint("x", "a"), fingerprint(None, "a", {"k": "v"}), fingerprint(None, "a", {"k": "w"}),
              fingerprint(None, "a", {"k": "v", "l": "v"}), fingerprint(None, "a", {"kv": ""})}
    assert len(prints) == 9 and all(len(p) == 32 for p in prints)


def test_evaluate_refuses_the_state_of_another_fingerprint() -> None:
    with pytest.raises(ValueError, match="state of"):
        evaluate(make_rule(HOT), initial_state("uplink-hot", "other-port"), sample(90), T0)


CYLINDER_RULE = CylinderEvents(event_types=(CylinderAlertEvent.CylinderOverdue,),
                               clear_event_types=("CylinderReturned",), auto_resolve_s=3600)


def test_an_event_rule_raises_once_per_subject_and_resolves_on_its_clear_event() -> None:
    run = Run(make_rule(CYLINDER_RULE, rule_id="cyl-overdue"), subject="CYL-0000000000A1")
    assert kinds(run.see(source("CylinderOverdue"), 0)) == ["AlertRaised"]
    assert run.see(source("CylinderOverdue"), 10) == []
    assert run.see(source("ScanRejected"), 20) == []  # not one of the rule's types
    [resolved] = run.see(source("CylinderReturned"), 30)
    assert isinstance(resolved, AlertResolved) and resolved.reason == "cleared"


def test_an_event_rule_auto_resolves_after_the_last_matching_event() -> None:
    run = Run(make_rule(CYLINDER_RULE, rule_id="cyl-overdue"), subject="CYL-0000000000A1")
    run.see(source("CylinderOverdue"), 0)
    run.see(source("CylinderOverdue"), 1000)
    assert run.tick(3600) == []
    [resolved] = run.tick(4600)
    assert isinstance(resolved, AlertResolved) and resolved.reason == "auto_resolved"


def test_an_ingress_rule_raises_on_limit_exceeded_and_auto_resolves_after_a_day() -> None:
    run = Run(make_rule(IngressOverLimit(), rule_id="ingress"), subject="node-17")
    raised = run.see(source("IngressLimitExceeded", "node-17", level_dbmv=12.5), 0)
    assert kinds(raised) == ["AlertRaised"] and run.tick(86_399) == []
    assert kinds(run.tick(86_400)) == ["AlertResolved"]


def test_a_generic_rule_matches_on_field_equality() -> None:
    params = GenericEvent(event_type="BackupFinished", match={"ok": False, "kind": "nightly"},
                          clear_event_type="BackupFinished", clear_match={"ok": True})
    run = Run(make_rule(params, rule_id="backup"), subject="db-1")
    assert run.see(source("BackupFinished", "db-1", ok=False, kind="weekly"), 0) == []
    assert run.see(source("BackupFinished", "db-1", kind="nightly"), 1) == []  # a missing field is no match
    assert kinds(run.see(source("BackupFinished", "db-1", ok=False, kind="nightly", size=3), 2)) == ["AlertRaised"]
    assert kinds(run.see(source("BackupFinished", "db-1", ok=True, kind="nightly"), 3)) == ["AlertResolved"]


def test_a_camera_rule_ignores_device_reachability() -> None:
    run = Run(make_rule(CameraDown(), rule_id="cams"), subject="cam-7")
    assert run.see(reach("device", False), 0) == []
    assert kinds(run.see(reach("camera", False), 1)) == ["AlertRaised"]


def test_a_manual_alert_has_no_rule_and_is_resolved_by_hand() -> None:
    state = initial_state(None, "datacentre power")
    state, [raised] = raise_manual(state, Severity.critical, "UPS on battery", {"site": "berlin-1"}, T0)
    assert isinstance(raised, AlertRaised) and raised.rule_id is None
    assert raised.alert_id == alert_id(fingerprint(None, "datacentre power"), 1)
    assert raise_manual(state, Severity.critical, "UPS on battery", {}, at(5))[1] == []
    state, [resolved] = resolve(None, state, at(60))
    assert isinstance(resolved, AlertResolved) and resolved.reason == "manual"
    assert resolve(None, state, at(70))[1] == []


def test_deleting_a_rule_resolves_its_firing_alert() -> None:
    run = Run(make_rule(HOT))
    run.value(90, 0)
    _, [resolved] = resolve(run.rule, run.state, at(5), "rule_deleted")
    assert isinstance(resolved, AlertResolved) and resolved.reason == "rule_deleted"


def test_rule_params_parse_by_kind_and_refuse_contradictions() -> None:
    adapter: TypeAdapter[RuleParams] = TypeAdapter(RuleParams)
    parsed = adapter.validate_python({"kind": "metric_threshold", "metric": "error_rate", "raise_above": 0.01})
    assert isinstance(parsed, MetricThreshold)
    assert isinstance(adapter.validate_python({"kind": "camera_down", "for_s": 30}), CameraDown)
    with pytest.raises(ValidationError, match="exactly one"):
        MetricThreshold(metric=Metric.utilisation, raise_above=80, raise_below=10)
    with pytest.raises(ValidationError, match="clear_below"):
        MetricThreshold(metric=Metric.utilisation, raise_above=80, clear_below=90)
    with pytest.raises(ValidationError, match="high-side"):
        MetricThreshold(metric=Metric.utilisation, raise_above=80, clear_above=90)


@dataclass(frozen=True)
class Observe:
    value: float
    gap_s: int


@dataclass(frozen=True)
class Swing:
    gap_s: int  # observe the other extreme: cold while firing, hot otherwise


@dataclass(frozen=True)
class Wait:
    gap_s: int


@dataclass(frozen=True)
class Ack:
    for_s: int


@dataclass(frozen=True)
class Redeliver:
    pick: int  # which earlier observation arrives again (modulo the number so far), with its own time


Move = Observe | Swing | Wait | Ack | Redeliver
GAPS = st.one_of(st.integers(min_value=1, max_value=40), st.integers(min_value=1, max_value=400))
VALUES = st.one_of(st.sampled_from([10.0, 90.0]), st.sampled_from([10.0, 90.0, 70.0, 60.0, 80.0]), st.floats(0, 100))
OBSERVE = st.builds(Observe, VALUES, GAPS)
MOVES = st.lists(st.one_of(OBSERVE, st.builds(Swing, GAPS), st.builds(Wait, GAPS), st.builds(Ack, st.integers(1, 900)),
                           st.builds(Redeliver, st.integers(0, 1000))), min_size=10, max_size=80)
FLAP_QUICKLY = FlapPolicy(max_changes=3, window_s=1800, stable_s=600)
RULES = st.builds(
    lambda for_s, keep_s, flapping: make_rule(HOT.model_copy(update={"for_s": for_s, "keep_firing_for_s": keep_s}),
                                              flapping=flapping),
    st.sampled_from([0, 60, 300]), st.sampled_from([0, 120]),
    st.sampled_from([None, FLAP_QUICKLY, FLAP_QUICKLY]))


Played = tuple[AlertState, list[AlertEvent], list[tuple[MetricSample, float]]]


def play(rule: AlertRule, moves: Sequence[Move]) -> Played:
    run, clock, seen = Run(rule), 0.0, list[tuple[MetricSample, float]]()
    for move in moves:
        match move:
            case Observe() | Swing():
                clock += move.gap_s
                value = move.value if isinstance(move, Observe) else 10 if run.state.phase is Phase.firing else 90
                observation = MetricSample(observation_id=f"obs-{len(seen)}", subject=PORT,
                                           metric=Metric.utilisation, value=value)
                seen.append((observation, clock))
                run.see(observation, clock)
            case Wait():
                clock += move.gap_s
                run.tick(clock)
            case Ack() if run.state.alert_id is not None:
                run.state, found = acknowledge(run.state, run.state.alert_id, "ann", "", at(clock + move.for_s),
                                               at(clock))
                run.events += found
            case Redeliver() if seen:
                run.see(*seen[move.pick % len(seen)])
    return run.state, run.events, seen


@PROPERTY
@given(rule=RULES, moves=MOVES)
def test_lifecycle_events_of_a_fingerprint_follow_the_lifecycle(rule: AlertRule, moves: list[Move]) -> None:
    _, events, _ = play(rule, moves)
    for kind in sorted(set(kinds(events))):
        note_case(kind)
    the_fingerprint, firing, acked, flapping, raised = fingerprint(rule.rule_id, PORT), None, False, False, 0
    assert [e.at for e in events] == sorted(e.at for e in events)
    for event in events:
        assert event.fingerprint == the_fingerprint
        match event:
            case AlertRaised():
                assert firing is None, "raised twice without a resolve between"
                raised += 1
                firing, acked = event.alert_id, False
                assert event.alert_id == alert_id(the_fingerprint, raised)
            case AlertResolved():
                assert event.alert_id == firing
                firing = None
            case AlertAcknowledged():
                assert event.alert_id == firing
                acked = True
            case AlertUnacknowledged():
                assert event.alert_id == firing and acked
                acked = False
            case AlertFlapping():
                assert not flapping and rule.flapping is not None
                flapping = True
            case AlertStable():
                assert flapping and event.firing == (firing is not None)
                flapping = False


@PROPERTY
@given(rule=RULES, moves=MOVES)
def test_redelivery_and_replay_change_nothing(rule: AlertRule, moves: list[Move]) -> None:
    state, events, seen = play(rule, moves)
    assert play(rule, moves)[:2] == (state, events)  # replaying the same inputs decides the same, ids included
    without_redelivery = [move for move in moves if not isinstance(move, Redeliver)]
    assert play(rule, without_redelivery)[:2] == (state, events)
    for observation, second in seen:  # the whole stream again, after the fact
        assert evaluate(rule, state, observation, at(second)) == (state, [])


def test_rule_events_carry_the_rule_and_its_version() -> None:
    created = AlertRuleCreated.model_validate({"rule_id": "uplink-hot", "name": "Uplink hot", "severity": "high",
                                               "params": {"kind": "device_unreachable", "for_s": 60}})
    assert created.version == 1 and created.flapping == FlapPolicy() and isinstance(created.params, DeviceUnreachable)
    updated = AlertRuleUpdated(**{**created.model_dump(), "version": 2, "severity": Severity.critical})
    assert updated.severity is Severity.critical
    with pytest.raises(ValidationError):
        AlertRuleUpdated(**created.model_dump())  # an update names the new version
