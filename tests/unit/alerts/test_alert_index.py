"""The rule index only prunes: every rule that classifies an observation is among its candidates, in book order.
The alert timer's fast path skips only states that a tick would leave as they are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from processors.alerts.index import RuleIndex
from processors.alerts.rules import ImageHealth, MetricSample, Observation, Reachability, SourceEvent, classify
from schemas.alerts.rules import AlertRule, Metric, Severity
from schemas.images.health import HEALTH_KINDS

TYPES = ["AuditRecorded", "ScanRejected", "CylinderOverdue", "IngressLimitExceeded", "Other"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.sampled_from([0.0, 1.0, 2.5]),
                    st.sampled_from(["a", "b", "1"]))
field_maps = st.dictionaries(st.sampled_from(["action", "outcome", "status"]), scalars, max_size=2)


@st.composite
def params(draw: Any) -> dict[str, Any]:
    kind = draw(st.sampled_from(["generic", "metric_threshold", "device_unreachable", "camera_down", "cylinder",
                                 "ingress_over_limit", "camera_image"]))
    if kind == "generic":
        clear = draw(st.none() | st.sampled_from(TYPES))
        return {"kind": kind, "event_type": draw(st.sampled_from(TYPES)), "match": draw(field_maps),
                "clear_event_type": clear, "clear_match": draw(field_maps) if clear else {}}
    if kind == "metric_threshold":
        return {"kind": kind, "metric": draw(st.sampled_from(list(Metric))), "raise_above": 1.0}
    if kind == "cylinder":
        return {"kind": kind, "event_types": ["ScanRejected"], "clear_event_types": draw(
            st.lists(st.sampled_from(TYPES), max_size=2))}
    if kind == "camera_image":
        return {"kind": kind, "kinds": draw(st.lists(st.sampled_from(HEALTH_KINDS), min_size=1, max_size=4,
                                                      unique=True))}
    return {"kind": kind}


observations = st.one_of(
    st.builds(lambda t, f: SourceEvent(observation_id="o", subject="s", event_type=t, fields=f),
              st.sampled_from(TYPES), st.dictionaries(st.sampled_from(["action", "outcome", "status", "x"]),
                                                      scalars | st.lists(scalars, max_size=2), max_size=3)),
    st.builds(lambda m, v: MetricSample(observation_id="o", subject="s", metric=m, value=v),
              st.sampled_from(list(Metric)), st.floats(0, 5)),
    st.builds(lambda t, r: Reachability(observation_id="o", subject="s", target=t, reachable=r),
              st.sampled_from(["device", "camera"]), st.booleans()),
    st.builds(lambda k, d: ImageHealth(observation_id="o", subject="s", problem=k, degraded=d),
              st.sampled_from(HEALTH_KINDS), st.booleans()))


def rule(i: int, body: dict[str, Any]) -> AlertRule:
    return AlertRule.model_validate({"rule_id": f"r{i}", "version": 1, "name": "r", "severity": Severity.low,
                                     "params": body})


@given(st.lists(params(), max_size=12), st.lists(observations, min_size=1, max_size=5))
def test_candidates_hold_every_rule_that_classifies_the_observation(bodies: list[dict[str, Any]],
                                                                    seen: list[Observation]) -> None:
    rules = [rule(i, b) for i, b in enumerate(bodies)]
    index = RuleIndex(rules)
    for observation in seen:
        candidates = index.candidates(observation)
        wanted = [r for r in rules if classify(r.params, observation) is not None]
        assert [r for r in candidates if r in wanted] == wanted  # none missing, book order kept
        assert len({r.rule_id for r in candidates}) == len(candidates)


def test_a_thousand_generic_rules_leave_one_candidate() -> None:
    rules = [rule(i, {"kind": "generic", "event_type": "AuditRecorded", "match": {"action": f"A{i}", "status": 500}})
             for i in range(1000)]
    event = SourceEvent(observation_id="o", subject="s", event_type="AuditRecorded",
                        fields={"action": "A7", "status": 500, "outcome": "failed"})
    assert [r.rule_id for r in RuleIndex(rules).candidates(event)] == ["r7"]
    assert RuleIndex(rules).candidates(MetricSample(observation_id="o", subject="s", metric=Metric.utilisation,
                                                    value=3.0)) == []


def test_the_timer_skips_only_states_where_a_tick_changes_nothing() -> None:
    from processors.alerts.book import RuleBook
    from processors.alerts.decisions import EVERY_TICK, due_at, tick_step
    from processors.alerts.machine import Ack, evaluate, initial_state
    from schemas.alerts.rules import AlertRuleCreated
    from schemas.catalog import REGISTRY

    t0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    book = RuleBook()
    plain = rule(1, {"kind": "generic", "event_type": "AuditRecorded"})
    expiring = rule(2, {"kind": "generic", "event_type": "AuditRecorded", "auto_resolve_s": 60})
    for r in (plain, expiring):
        book.apply(REGISTRY.event(AlertRuleCreated.model_validate(r.model_dump()), source="t", subject=r.rule_id))
    event = SourceEvent(observation_id="o", subject="s", event_type="AuditRecorded")
    for r, due in ((plain, None), (expiring, t0 + timedelta(seconds=60))):
        state, _ = evaluate(r, initial_state(r.rule_id, "s"), event, t0)
        assert due_at(book, state.model_dump(mode="json")) == due
        step = tick_step(book, state, t0 + timedelta(days=2))
        assert step is not None and (step[0] == state) is (due is None)  # nothing due => a tick changes nothing
        acked = state.model_copy(update={"ack": Ack(by="a", note="", until=t0 + timedelta(seconds=30))})
        assert due_at(book, acked.model_dump(mode="json")) == t0 + timedelta(seconds=30)
    gone = rule(3, {"kind": "generic", "event_type": "AuditRecorded"})
    state, _ = evaluate(gone, initial_state(gone.rule_id, "s"), event, t0)
    assert due_at(book, state.model_dump(mode="json")) is EVERY_TICK  # a rule unknown here: the full path decides


RULE_BODIES = st.one_of(
    st.fixed_dictionaries({"kind": st.just("metric_threshold"), "metric": st.just("utilisation"),
                           "raise_above": st.just(80.0), "clear_below": st.just(60.0),
                           "for_s": st.sampled_from([0, 30]), "keep_firing_for_s": st.sampled_from([0, 45])}),
    st.fixed_dictionaries({"kind": st.just("generic"), "event_type": st.just("AuditRecorded"),
                           "auto_resolve_s": st.sampled_from([None, 60]), "clear_event_type": st.just("Other")}))
STEPS = st.lists(st.tuples(st.sampled_from(["problem", "ok", "ack", "tick"]), st.integers(1, 120)), max_size=14)


@given(body=RULE_BODIES, stable_s=st.sampled_from([20, 90]), steps=STEPS)
def test_no_timer_is_due_before_its_due_time_and_each_acts_at_it(body: dict[str, Any], stable_s: int,
                                                                  steps: list[tuple[str, int]]) -> None:
    """Through raises, clears, acks, flapping and ticks: before due_at a tick changes nothing (the timer may skip
    the state), and at due_at it changes something (the timer fires on time)."""
    from processors.alerts.book import RuleBook
    from processors.alerts.decisions import EVERY_TICK, due_at, tick_step
    from processors.alerts.machine import acknowledge, evaluate, initial_state
    from schemas.alerts.rules import AlertRuleCreated
    from schemas.catalog import REGISTRY

    r = AlertRule.model_validate({"rule_id": "r", "version": 1, "name": "r", "severity": Severity.low,
                                  "params": body, "flapping": {"max_changes": 2, "window_s": 600,
                                                               "stable_s": stable_s}})
    book = RuleBook()
    book.apply(REGISTRY.event(AlertRuleCreated.model_validate(r.model_dump()), source="t", subject="r"))
    now, state = datetime(2026, 11, 2, 8, 0, tzinfo=UTC), initial_state("r", "s")
    for n, (action, gap) in enumerate(steps):
        now += timedelta(seconds=gap)
        metric = body["kind"] == "metric_threshold"
        if action == "tick":
            step = tick_step(book, state, now)
            assert step is not None
            state = step[0]
        elif action == "ack":
            if state.alert_id is not None:
                state, _ = acknowledge(state, state.alert_id, "a", "", now + timedelta(seconds=gap), now)
        else:
            problem = action == "problem"
            seen = (MetricSample(observation_id=str(n), subject="s", metric=Metric.utilisation,
                                 value=90.0 if problem else 10.0) if metric else
                    SourceEvent(observation_id=str(n), subject="s", event_type="AuditRecorded" if problem else "Other"))
            state, _ = evaluate(r, state, seen, now)
        due = due_at(book, state.model_dump(mode="json"))
        if due is EVERY_TICK:
            continue
        later = [now + timedelta(seconds=s) for s in (0, 1, 59, 3600)] if due is None else \
            [t for t in (now, due - timedelta(microseconds=1)) if t < due]
        for t in later:
            step = tick_step(book, state, t)
            assert step is not None and step[0] == state and not step[1], (t, due, state)
        if due is not None:
            step = tick_step(book, state, max(due, now))
            assert step is not None and step[0] != state, (due, state)
