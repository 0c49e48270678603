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
    from processors.alerts.decisions import nothing_due, tick_step
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
    for r, skipped in ((plain, True), (expiring, False)):
        state, _ = evaluate(r, initial_state(r.rule_id, "s"), event, t0)
        stored = state.model_dump(mode="json")
        assert nothing_due(book, stored) is skipped
        step = tick_step(book, state, t0 + timedelta(days=2))
        assert step is not None and (step[0] == state) is skipped  # skipped => a tick would change nothing
        acked = state.model_copy(update={"ack": Ack(by="a", note="", until=t0 + timedelta(minutes=1))})
        assert not nothing_due(book, acked.model_dump(mode="json"))
    gone = rule(3, {"kind": "generic", "event_type": "AuditRecorded"})
    state, _ = evaluate(gone, initial_state(gone.rule_id, "s"), event, t0)
    assert not nothing_due(book, state.model_dump(mode="json"))  # a rule unknown here: the full path decides
