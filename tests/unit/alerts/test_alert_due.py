"""The alert timer's due-time heap (processors/alerts/due.py) finds exactly the states a look at every alert would:
those whose due time (decisions.due_at) has come, through writes by the agents, rule changes, silences, a recovery's
refill and time passing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.alerts.book import RuleBook
from processors.alerts.decisions import due_at
from processors.alerts.due import DueTimes
from processors.alerts.machine import AlertState, evaluate, initial_state
from processors.alerts.rules import MetricSample, SourceEvent
from schemas.alerts.rules import AlertRule, AlertRuleCreated, AlertRuleUpdated, Metric, Severity
from schemas.alerts.silences import Matcher, SilenceCreated, SilenceDeleted
from schemas.catalog import REGISTRY

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
RULES = {
    "expiring": {"kind": "generic", "event_type": "AuditRecorded", "auto_resolve_s": 60, "clear_event_type": "Other"},
    "plain": {"kind": "generic", "event_type": "AuditRecorded", "clear_event_type": "Other"},
    "pending": {"kind": "metric_threshold", "metric": "utilisation", "raise_above": 80.0, "clear_below": 60.0,
                "for_s": 30, "keep_firing_for_s": 45},
}


def define(book: RuleBook, rule_id: str, version: int, params: dict[str, Any]) -> AlertRule:
    rule = AlertRule.model_validate({"rule_id": rule_id, "version": version, "name": rule_id,
                                     "severity": Severity.low, "params": params})
    kind = AlertRuleCreated if version == 1 else AlertRuleUpdated
    book.apply(REGISTRY.event(kind.model_validate(rule.model_dump()), source="t", subject=rule_id))
    return rule


def observed(rule: AlertRule, problem: bool, n: int, subject: str = "s") -> Any:
    if rule.params.kind == "metric_threshold":
        return MetricSample(observation_id=str(n), subject=subject, metric=Metric.utilisation,
                            value=90.0 if problem else 10.0)
    return SourceEvent(observation_id=str(n), subject=subject, event_type="AuditRecorded" if problem else "Other")


OPS = st.lists(st.tuples(st.sampled_from(["problem", "ok", "refill", "rule", "silence", "wait", "pass"]),
                         st.integers(0, 5), st.sampled_from(sorted(RULES)), st.integers(1, 90)),
               min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(ops=OPS)
def test_a_pass_finds_exactly_the_states_whose_time_has_come(ops: list[tuple[str, int, str, int]]) -> None:
    book, due = RuleBook(), DueTimes()
    versions = dict.fromkeys(RULES, 1)
    rules = {name: define(book, name, 1, params) for name, params in RULES.items()}
    table: dict[str, Any] = {}
    now, generation, silence = T0, 1, None

    def evaluated(key: str, name: str, problem: bool, n: int) -> dict[str, Any]:
        raw = table.get(key)
        state = AlertState.model_validate(raw["state"]) if raw else initial_state(name, key)
        rule = rules[state.rule_id or name]
        return {"state": evaluate(rule, state, observed(rule, problem, n, key), now)[0].model_dump(mode="json")}

    for n, (op, k, name, gap) in enumerate(ops):
        key = f"k{k}"
        if op in ("problem", "ok"):  # an agent's write
            table[key] = evaluated(key, name, op == "problem", n)
            due.wrote(key)
        elif op == "refill":  # a recovery: states replaced without the agents, then the table's callback
            table[key] = evaluated(key, name, True, n)
            due.forget()
        elif op == "rule":  # a new version of a rule (its timings change)
            versions[name] += 1
            params = {**RULES[name], **({"auto_resolve_s": gap} if name == "expiring" else {})}
            rules[name] = define(book, name, versions[name], params)
        elif op == "silence":  # silences come and go: every firing alert is then looked at each tick
            if silence is None:
                silence = SilenceCreated(silence_id=uuid.uuid4(), matchers=(Matcher(label="x", value="y"),),
                                         starts_at=now, ends_at=now + timedelta(hours=1), created_by="t", comment="")
                book.apply(REGISTRY.event(silence, source="t", subject="s"))
            else:
                book.apply(REGISTRY.event(SilenceDeleted(silence_id=silence.silence_id, by="t", at=now), source="t",
                                          subject="s"))
                silence = None
        elif op == "wait":
            now += timedelta(seconds=gap)
            generation += gap % 7 == 0  # now and then a rebalance
        found = due.due(table, book, now, generation)
        expected = {key for key, raw in table.items() if (at := due_at(book, raw["state"])) is not None and at <= now}
        assert {key for key, _ in found} == expected
        assert len(found) == len(expected)
        assert all(stored is table[key]["state"] for key, stored in found)


def test_a_state_replaced_without_the_agents_is_looked_at_when_its_old_time_comes() -> None:
    """A standby's changelog replaces a state without a callback: the pass must not tick the state it kept."""
    book, due = RuleBook(), DueTimes()
    rule = define(book, "expiring", 1, RULES["expiring"])
    firing = evaluate(rule, initial_state("expiring", "s"), observed(rule, True, 1), T0)[0]
    table: dict[str, Any] = {"k": {"state": firing.model_dump(mode="json")}}
    assert due.due(table, book, T0, 1) == []
    later = evaluate(rule, firing, observed(rule, True, 2), T0 + timedelta(seconds=50))[0]  # a problem again: later
    table["k"] = {"state": later.model_dump(mode="json")}
    assert due.due(table, book, T0 + timedelta(seconds=61), 1) == []  # the old time came: the new state is not due
    found = due.due(table, book, T0 + timedelta(seconds=111), 1)
    assert found == [("k", table["k"]["state"])] and due.full_looks == 1


def test_stale_entries_do_not_pile_up() -> None:
    """Each write pushes an entry; entries of replaced states are dropped once they outnumber the live ones."""
    book, due = RuleBook(), DueTimes()
    rule = define(book, "expiring", 1, RULES["expiring"])
    state = initial_state("expiring", "s")
    table: dict[str, Any] = {}
    for n in range(20_000):
        state = evaluate(rule, state, observed(rule, True, n), T0 + timedelta(seconds=n))[0]
        table["k"] = {"state": state.model_dump(mode="json")}
        due.wrote("k")
        assert due.due(table, book, T0, 1) == []
    assert len(due.heap) <= 2 + 1024 + 1
