"""`opsledger bench pipeline`: figures for the backbone, measured on embedded services in one process tree.

- raw_produce_eps: aiokafka producing the same encoded payloads to a plain topic (the ceiling);
- e2e_eps: producer -> Faust processor -> projections, until every reading and every verdict is committed;
- freshness_p50_ms / p99_ms: at a fixed 2,000 events/s, produce -> visible in the ingress read model;
- replay_eps: `opsledger replay ingress` rebuilding the ingress projection from the log (its own timing);
- records_per_reading: every record on the broker (derived events, changelogs, internal topics) per reading sent,
  once all is drained, with each topic's share: what one reading costs the broker and every consumer after it.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import statistics
import subprocess
import sys
import time
from typing import Any

import psycopg
from aiokafka.admin import NewTopic

from infra import kafka_clients
from infra.bench.harness import bench_stack, drained, percentile, report
from infra.kafka import end_offsets
from infra.settings import Settings
from infra.topics import internal_topics, platform_topics
from producers.ingress.commands import submit_reading
from schemas.catalog import REGISTRY
from schemas.ingress.events import IngressReading, InstallPhase, SplitPlan, TestPoint
from schemas.topics import INGRESS_EVALUATIONS, INGRESS_READINGS

APPLIED = "SELECT topic, partition, next_offset FROM projection_offsets WHERE projection = 'ingress'"


def payloads(count: int, seed: int = 3) -> list[tuple[bytes, bytes]]:
    """(key, value) of realistic readings; about one in five exceeds its limit line."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        reading = IngressReading(
            customer_name=f"Customer {i}", address=f"{i} Bench St", node_id=f"N-BENCH-{i % 40}",
            level_dbmv=round(rng.uniform(-45, -12), 1), freq_start_mhz=20.0, freq_end_mhz=30.0,
            split_plan=SplitPlan.sub, test_point=TestPoint.tap, home_connected=True,
            install_phase=InstallPhase.after, technician="bench",
        )
        event = submit_reading(reading, actor=None, correlation_id=None, source="bench")
        out.append((event.subject.encode(), REGISTRY.encode(event)))
    return out


async def produce(bootstrap: str, topic: str, items: list[tuple[bytes, bytes]], rate: float | None = None
                  ) -> list[tuple[int, int, float]]:
    """Send everything; returns (partition, offset, send time) per record."""
    producer = kafka_clients.producer(bootstrap, acks="all", linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    try:
        started = time.perf_counter()
        pending = []
        for i, (key, value) in enumerate(items):
            if rate is not None:
                delay = started + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            pending.append((time.perf_counter(), await producer.send(topic, value, key=key)))
        metas = await asyncio.gather(*(f for _, f in pending))
        return [(m.partition, m.offset, sent) for (sent, _), m in zip(pending, metas, strict=True)]
    finally:
        await producer.stop()


async def raw_ceiling(bootstrap: str, items: list[tuple[bytes, bytes]], partitions: int) -> float:
    admin = kafka_clients.admin(bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic("bench.raw", partitions, 1)])
    await admin.close()
    started = time.perf_counter()
    await produce(bootstrap, "bench.raw", items)
    return len(items) / (time.perf_counter() - started)


async def wait_committed(settings: Settings, timeout: float = 600) -> None:
    """Until the processor committed every reading and the ingress projection applied readings and verdicts.
    One consumer and one connection, polled every 20 ms, so the measuring costs little of the CPU it measures."""
    deadline = time.monotonic() + timeout
    bootstrap = settings.kafka_bootstrap_servers
    readings = await end_offsets(bootstrap, (INGRESS_READINGS,))  # the bench's only input
    consumer = kafka_clients.consumer(bootstrap, group_id=settings.processor_id, enable_auto_commit=False)
    await consumer.start()
    try:
        while sum([(await consumer.committed(tp)) or 0 for tp in readings]) < sum(readings.values()):
            if time.monotonic() > deadline:
                raise TimeoutError("the processor did not commit everything in time")
            await asyncio.sleep(0.02)
    finally:
        await consumer.stop()
    targets = {(tp.topic, tp.partition): end for tp, end in
               {**readings, **await end_offsets(bootstrap, (INGRESS_EVALUATIONS,))}.items()}
    async with await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as conn:
        while True:
            applied = {(t, p): o for t, p, o in await (await conn.execute(APPLIED)).fetchall()}
            if all(applied.get(key, 0) >= end for key, end in targets.items()):
                return
            if time.monotonic() > deadline:
                raise TimeoutError("the projection did not apply everything in time")
            await asyncio.sleep(0.02)


async def freshness(settings: Settings, items: list[tuple[bytes, bytes]], rate: float) -> list[float]:
    """Per record: seconds from send to visible in the ingress read model (offsets polled every 2 ms)."""
    seen: dict[int, list[tuple[int, float]]] = {}  # partition -> (next_offset, first seen at)
    done = asyncio.Event()

    async def watch() -> None:
        async with await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as conn:
            while not done.is_set():
                now = time.perf_counter()
                for topic, partition, offset in await (await conn.execute(APPLIED)).fetchall():
                    if topic == INGRESS_READINGS:
                        history = seen.setdefault(partition, [])
                        if not history or history[-1][0] != offset:
                            history.append((offset, now))
                await asyncio.sleep(0.002)

    watcher = asyncio.create_task(watch())
    sent = await produce(settings.kafka_bootstrap_servers, INGRESS_READINGS, items, rate=rate)
    await wait_committed(settings)
    await asyncio.sleep(0.05)
    done.set()
    await watcher
    latencies = []
    for partition, offset, at in sent:
        visible = next(t for o, t in seen[partition] if o > offset)
        latencies.append(max(0.0, visible - at))
    return latencies


ANSI = re.compile(r"\x1b\[[0-9;]*m")
REPLAYED = re.compile(r"replayed ([\d,]+) events in ([\d.]+) s")


def replay_command(env: dict[str, str], workers: int | None = None) -> tuple[int, float]:
    """`opsledger replay ingress` as an operator runs it: a process of its own, with the CLI's settings (the
    collector tuned as in every component; in the bench's process a replay ran at two thirds of its speed). Its own
    timing: from the rebuild's start to the swap, process start-up left out."""
    chosen = [] if workers is None else ["--workers", str(workers)]  # None: the command's default
    done = subprocess.run([sys.executable, "-m", "infra.entry.cli", "replay", "ingress", *chosen], env=env,
                          capture_output=True, text=True, timeout=1800, check=True)
    found = REPLAYED.search(ANSI.sub("", done.stderr))  # the CLI's console (stderr) colours its numbers
    if found is None:
        raise RuntimeError(f"opsledger replay said nothing of its result: {done.stdout[-500:]} {done.stderr[-500:]}")
    return int(found[1].replace(",", "")), float(found[2])


async def records_per_reading(settings: Settings, readings: int) -> dict[str, float]:
    """Records on each topic that has any, per reading sent (the raw ceiling's own topic left out)."""
    names = (*platform_topics(settings.processor_id), *internal_topics(settings.processor_id))
    counts: dict[str, int] = {}
    for tp, end in (await end_offsets(settings.kafka_bootstrap_servers, names)).items():
        counts[tp.topic] = counts.get(tp.topic, 0) + end
    return {topic: round(count / readings, 3) for topic, count in sorted(counts.items()) if count}


def run_pipeline_bench(events: int, json_only: bool, rate: float = 2000.0,
                       fresh_seconds: float = 10.0) -> dict[str, Any]:
    with bench_stack("pipeline") as stack:
        settings, bootstrap = stack.settings, stack.settings.kafka_bootstrap_servers
        items = payloads(events)
        raw_eps = asyncio.run(raw_ceiling(bootstrap, items, settings.topic_partitions))
        stack.start("processors", "projections")
        warm = payloads(200, seed=99)
        asyncio.run(produce(bootstrap, INGRESS_READINGS, warm))
        asyncio.run(wait_committed(settings))
        before, started = stack.cpu_seconds(), time.perf_counter()
        asyncio.run(produce(bootstrap, INGRESS_READINGS, items))
        asyncio.run(wait_committed(settings))
        e2e_eps = events / (time.perf_counter() - started)
        spent = {name: after - before[name] for name, after in stack.cpu_seconds().items()}
        latencies = asyncio.run(freshness(settings, payloads(int(rate * fresh_seconds), seed=5), rate))
        asyncio.run(drained(settings, timeout=900))  # the replay starts on a quiet stack: the analytics of the
        per_topic = asyncio.run(records_per_reading(settings, events + len(warm) + int(rate * fresh_seconds)))
        replayed_events, replay_seconds = replay_command(stack.env)  # freshness phase's readings drain first
        result = {
            "events": events,
            "raw_produce_eps": round(raw_eps),
            "e2e_eps": round(e2e_eps),
            "e2e_ratio_to_raw": round(e2e_eps / raw_eps, 3),
            # CPU of each process over the drain, per event: where the time goes, lever by lever
            "processor_cpu_us_per_event": round(spent["processors"] / events * 1e6, 1),
            "projection_cpu_us_per_event": round(spent["projections"] / events * 1e6, 1),
            "broker_cpu_us_per_event": round(spent["broker"] / events * 1e6, 1),
            "postgres_cpu_us_per_event": round(spent["postgres"] / events * 1e6, 1),
            "freshness_rate_eps": rate,
            "freshness_p50_ms": round(percentile(latencies, 50) * 1000, 1),
            "freshness_p99_ms": round(percentile(latencies, 99) * 1000, 1),
            "freshness_mean_ms": round(statistics.fmean(latencies) * 1000, 1),
            "replay_events": replayed_events,
            "replay_eps": round(replayed_events / replay_seconds),
            "records_per_reading": round(sum(per_topic.values()), 3),
            "records_per_reading_by_topic": per_topic,
            "cpus": os.cpu_count(),
        }
        return report(result, stack.root, json_only)
