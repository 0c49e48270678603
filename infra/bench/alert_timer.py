"""The alert timer's second-long pass over N firing alerts of a rule that auto-resolves after a day (the ingress
rule's default), none due: the heap's pass (processors/alerts/due.py, every tick), the first look (every time worked
out), and the full looks after a rebalance or a recovery and after a rule's new version (another rule's: the times
are kept; the alerts' own: worked out again). In process, no stack: the states are the JSON the alert table stores,
the collector tuned as in the processors."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from infra.entry.components import tune_gc
from processors.alerts.book import RuleBook
from processors.alerts.due import DueTimes
from processors.alerts.machine import evaluate, initial_state
from processors.alerts.rules import SourceEvent
from schemas.alerts.rules import AlertRuleCreated, AlertRuleUpdated
from schemas.catalog import REGISTRY


def rule(rule_id: str, version: int, auto_resolve_s: int) -> AlertRuleCreated | AlertRuleUpdated:
    kind = AlertRuleCreated if version == 1 else AlertRuleUpdated
    return kind.model_validate({"rule_id": rule_id, "version": version, "name": rule_id, "severity": "low",
                                "params": {"kind": "generic", "event_type": "AuditRecorded",
                                           "auto_resolve_s": auto_resolve_s}})


def firing_table(book: RuleBook, alerts: int) -> dict[str, Any]:
    created = rule("r", 1, 86_400)
    book.apply(REGISTRY.event(created, source="bench", subject="r"))
    raised_at = datetime.now(UTC) - timedelta(minutes=5)
    table = {}
    for i in range(alerts):
        seen = SourceEvent(observation_id=str(i), subject=f"s{i}", event_type="AuditRecorded")
        state, _ = evaluate(book.rules["r"], initial_state("r", f"s{i}"), seen, raised_at)
        table[f"k{i}"] = {"state": state.model_dump(mode="json"), "recent": []}
    return table


def median_us(runs: int, step: Any) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        step()
        times.append((time.perf_counter() - started) * 1e6)
    return round(statistics.median(times), 1)


def run_alert_timer_bench(alerts: int, runs: int = 7) -> dict[str, Any]:
    tune_gc()  # the collector as the processors run it (their table is built after start-up, as here)
    book = RuleBook()
    table = firing_table(book, alerts)
    due, found, versions = DueTimes(), [], {"r": 1, "other": 0}

    def first_look() -> None:  # at start, or when the alerts' own rule changes: every time worked out
        found.extend(DueTimes().due(table, book, datetime.now(UTC), 1))

    def changed(rule_id: str) -> None:  # a new version of a rule
        versions[rule_id] += 1
        book.apply(REGISTRY.event(rule(rule_id, versions[rule_id], 86_400), source="bench", subject=rule_id))
        found.extend(due.due(table, book, datetime.now(UTC), 1))

    first_us = median_us(runs, first_look)
    due.due(table, book, datetime.now(UTC), 1)
    heap_us = median_us(runs, lambda: found.extend(due.due(table, book, datetime.now(UTC), 1)))
    rebalance_us = median_us(runs, lambda: found.extend(due.due(table, book, datetime.now(UTC), None)))
    other_us = median_us(runs, lambda: changed("other"))
    own_us = median_us(runs, lambda: changed("r"))
    assert not found, "nothing is due in this bench"
    return {"firing_alerts": alerts, "heap_pass_us": heap_us, "first_look_us": first_us,
            "after_rebalance_us": rebalance_us, "after_another_rule_changed_us": other_us,
            "after_their_rule_changed_us": own_us}
