"""`opsledger bench alerts`: source events -> the Faust alert engine -> the alerts read model, on embedded services
with the real `opsledger processors` and `opsledger projections` processes and 1,000 rules loaded.

Rules: 1,000 generic rules, rule i raising on `AuditRecorded` whose `action` is `BENCH /rule/<i>`. Source events:
`AuditRecorded` produced straight to the `audit` topic with aiokafka, each with its own subject and the action of
one rule (round robin), so every event raises exactly one alert (one AlertRaised) and is compared with every rule.

- event_to_alert_p99_ms: events produced at a steady rate (1,000/s by default); per event, from its send to its
  alert's row being committed in `alerts` (polled every 5 ms through the raised_at index: AlertRaised.at is the
  source event's occurred_at, set at send time).
- rules_eval_eps: a batch of events produced as fast as the producer goes; events / seconds from the first send to
  the last alert committed (drained, end to end).
- eval_ceiling_eps_per_core: the pure rule matching of the alert-sources stage (an event's observations, the rule
  index's candidates classified) per CPU second in this process; `_unindexed_` compares every event with every rule,
  as the stage did before the index.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import time
from datetime import datetime, timedelta
from typing import Any

import psycopg

from infra import kafka_clients
from infra.bench.harness import BenchStack, bench_stack, drained, percentile, report, shares
from schemas.alerts.rules import AlertRule, GenericEvent, Severity
from schemas.catalog import REGISTRY
from schemas.envelope import Envelope
from schemas.identity.events import AuditRecorded
from schemas.topics import ALERT_RULES, AUDIT

RULE_PREFIX = "bench-rule-"
SEEN = "SELECT subject FROM alerts WHERE raised_at >= %s AND rule_id LIKE 'bench-rule-%%'"
RAISED_SINCE = "SELECT count(*) FROM alerts WHERE raised_at >= %s AND rule_id LIKE 'bench-rule-%%'"
RULES_LOADED = "SELECT count(*) FROM alert_rules WHERE rule_id LIKE 'bench-rule-%%'"


def bench_rules(count: int) -> list[AlertRule]:
    return [AlertRule(rule_id=f"{RULE_PREFIX}{i}", version=1, name=f"Bench rule {i}", severity=Severity.low,
                      params=GenericEvent(event_type="AuditRecorded", match={"action": f"BENCH /rule/{i}"}),
                      flapping=None) for i in range(count)]


def source_event(subject: str, rule: int) -> Envelope:
    data = AuditRecorded(actor="bench", action=f"BENCH /rule/{rule}", subject=subject, outcome="failed", status=500)
    return REGISTRY.event(data, source="bench", subject=subject)


async def load_rules(bootstrap: str, database_url: str, rules: list[AlertRule]) -> None:
    from producers.alerts.commands import rule_event

    producer = kafka_clients.producer(bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        for rule in rules:
            await producer.send(ALERT_RULES, REGISTRY.encode(rule_event(rule, actor="bench", correlation_id=None)),
                                key=rule.rule_id.encode())
        await producer.flush()
    finally:
        await producer.stop()
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        deadline = time.monotonic() + 120
        while (await (await conn.execute(RULES_LOADED)).fetchone() or (0,))[0] < len(rules):
            if time.monotonic() > deadline:
                raise TimeoutError("the alerts projection did not apply the bench rules")
            await asyncio.sleep(0.1)


async def paced(bootstrap: str, database_url: str, run: str, rules: int, rate: float, seconds: float
                ) -> list[float]:
    """Open loop at `rate` events/s; seconds from send to the alert's row committed, per event."""
    total = int(rate * seconds)
    sent: dict[str, float] = {}
    sent_at: dict[str, datetime] = {}
    seen: dict[str, float] = {}
    finished = asyncio.Event()

    async def watch() -> None:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            while not finished.is_set() or len(seen) < len(sent):
                pending = [s for s in sent if s not in seen]
                if pending:
                    since = min(sent_at[s] for s in pending)
                    rows = await (await conn.execute(SEEN, (since,))).fetchall()
                    now = time.perf_counter()
                    for (subject,) in rows:
                        if subject in sent:
                            seen.setdefault(subject, now)
                await asyncio.sleep(0.005)

    producer = kafka_clients.producer(bootstrap, acks="all", linger_ms=2)
    await producer.start()
    watcher = asyncio.create_task(watch())
    try:
        started = time.perf_counter()
        for i in range(total):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            subject = f"{run}-p{i}"
            event = source_event(subject, i % rules)
            sent_at[subject] = event.occurred_at
            sent[subject] = time.perf_counter()
            await producer.send(AUDIT, REGISTRY.encode(event), key=subject.encode())
        await producer.flush()
        finished.set()
        await asyncio.wait_for(watcher, timeout=300)
    finally:
        watcher.cancel()
        await producer.stop()
    return [seen[s] - sent[s] for s in sent]


async def drained_rate(bootstrap: str, database_url: str, run: str, rules: int, events: int) -> tuple[float, float]:
    """(events per second from the first send to the last alert committed, seconds the producer took)."""
    encoded = [(f"{run}-t{i}".encode(), source_event(f"{run}-t{i}", i % rules)) for i in range(events)]
    since = min(e.occurred_at for _, e in encoded) - timedelta(milliseconds=1)
    values = [(k, REGISTRY.encode(e)) for k, e in encoded]
    producer = kafka_clients.producer(bootstrap, acks="all", linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    try:
        started = time.perf_counter()
        for key, value in values:
            await producer.send(AUDIT, value, key=key)
        await producer.flush()
        produced = time.perf_counter() - started
    finally:
        await producer.stop()
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        deadline = time.monotonic() + 900
        while (await (await conn.execute(RAISED_SINCE, (since,))).fetchone() or (0,))[0] < events:
            if time.monotonic() > deadline:
                raise TimeoutError("the alerts did not all arrive")
            await asyncio.sleep(0.05)
    return events / (time.perf_counter() - started), produced


def eval_ceiling(rules: list[AlertRule], events: int, indexed: bool = True) -> float:
    """Events/s of the alert-sources stage's pure part in this process: observations of an event, then every
    candidate rule classified (through the rule index, as the processor does, or every rule when not `indexed`)."""
    from processors.alerts.index import RuleIndex
    from processors.alerts.observations import observations_of
    from processors.alerts.rules import classify

    index = RuleIndex(rules)
    envelopes = [REGISTRY.decode(REGISTRY.encode(source_event(f"ceiling-{i}", i % len(rules))))
                 for i in range(events)]
    started = time.process_time()
    matched = 0
    for envelope in envelopes:
        for observation in observations_of(envelope):
            candidates = index.candidates(observation) if indexed else rules
            matched += sum(1 for rule in candidates if classify(rule.params, observation) is not None)
    assert matched == events
    return events / (time.process_time() - started)


async def drive(stack: BenchStack, rules: list[AlertRule], rate: float, seconds: float, events: int
                ) -> dict[str, Any]:
    settings = stack.settings
    bootstrap, url, run = settings.kafka_bootstrap_servers, settings.database_url, secrets.token_hex(3)
    await load_rules(bootstrap, url, rules)
    await paced(bootstrap, url, f"{run}-warm", len(rules), 200, 2)  # the processors joined and saw the rules
    await drained(settings)
    load_before = os.getloadavg()[0]
    before, started = stack.cpu_seconds(), time.perf_counter()
    latencies = await paced(bootstrap, url, run, len(rules), rate, seconds)
    paced_share = shares(before, stack.cpu_seconds(), time.perf_counter() - started)
    load_paced = os.getloadavg()[0]
    await drained(settings)
    before, started = stack.cpu_seconds(), time.perf_counter()
    eps, produced_s = await drained_rate(bootstrap, url, run, len(rules), events)
    drained_share = shares(before, stack.cpu_seconds(), time.perf_counter() - started)
    return {
        "rules": len(rules),
        "rate_per_s": rate,
        "paced_events": len(latencies),
        "event_to_alert_p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "event_to_alert_p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "event_to_alert_max_ms": round(max(latencies) * 1000, 1),
        "event_to_alert_mean_ms": round(statistics.fmean(latencies) * 1000, 1),
        "cpu_share_during_paced": paced_share,
        "drained_events": events,
        "rules_eval_eps": round(eps),
        "producer_finished_after_s": round(produced_s, 2),
        "cpu_share_during_drain": drained_share,
        "eval_ceiling_eps_per_core": round(eval_ceiling(rules, 5000)),
        "eval_ceiling_unindexed_eps_per_core": round(eval_ceiling(rules, 200, indexed=False)),
        "loadavg_1m_before_paced": round(load_before, 2),
        "loadavg_1m_after_paced": round(load_paced, 2),
        "loadavg_1m_after_drain": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }


def run_alerts_bench(rules: int, events: int, json_only: bool, rate: float = 1000.0,
                     seconds: float = 15.0) -> dict[str, Any]:
    with bench_stack("alerts") as stack:
        stack.start("processors", "projections")
        result = asyncio.run(drive(stack, bench_rules(rules), rate, seconds, events))
        return report(result, stack.root, json_only)
