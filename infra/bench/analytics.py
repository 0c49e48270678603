"""`opsledger bench analytics`: interface rates through the real processors and projections at a fixed rate of
points (issue 12: 1,000 48-port switches polled each minute, four series per port, is 3,200 points/s), with the
processors' lag sampled while it runs, and the bytes each level stores per interface per day, measured.

Event time runs faster than the wall clock: each interface is polled every `poll_s` wall seconds and each poll is a
minute of event time, as a minute's polling is. Every fold is then the work a real poll makes (a point per series,
the minute's bucket closing), on fewer interfaces than 48,000 at once.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from infra.bench.harness import bench_stack, drained, report
from infra.bench.pipeline import produce
from infra.kafka import group_lag
from infra.settings import Settings
from schemas.catalog import REGISTRY
from schemas.devices.events import InterfaceRateComputed
from schemas.topics import DEVICE_RATES

POINTS_PER_RATE = 4  # in_bps, out_bps, utilisation, errors_per_s (processors.analytics.points.interface_points)
PORTS = 48
SPEED_BPS = 1e9
# rows one interface adds per day at each level, polled once a minute (four series each)
ROWS_PER_DAY = {"metric_points": 4 * 1440, "metric_rollups_1m": 4 * 1440, "metric_rollups_5m": 4 * 288,
                "metric_rollups_1h": 4 * 24}
SIZE = """SELECT coalesce(sum(pg_total_relation_size(relid)), 0) FROM pg_partition_tree(%s::regclass)"""


def rates(interfaces: int, polls: int, seed: int = 12, prefix: str = "bench-sw") -> list[tuple[bytes, bytes]]:
    """Poll rounds in order: every interface once per round, a minute of event time apart, ending now."""
    rng = random.Random(seed)
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=polls)
    base = [rng.uniform(0.05, 0.6) for _ in range(interfaces)]
    out = []
    for poll in range(polls):
        at = start + timedelta(minutes=poll)
        daily = 0.5 + 0.4 * math.sin(2 * math.pi * (at.hour * 60 + at.minute) / 1440)
        for i in range(interfaces):
            load = min(1.0, base[i] * daily * rng.uniform(0.9, 1.1))
            device = f"{prefix}-{i // PORTS:04d}"
            data = InterfaceRateComputed(
                device_id=device, if_index=i % PORTS + 1, at=at, interval_s=60.0, in_bps=load * SPEED_BPS,
                out_bps=load * 0.4 * SPEED_BPS, in_utilisation=load, out_utilisation=load * 0.4,
                in_errors_per_s=0.0, out_errors_per_s=0.0)
            event = REGISTRY.event(data, subject=device, source="bench")
            out.append((device.encode(), REGISTRY.encode(event)))
    return out


async def sample_lag(settings: Settings, every_s: float, until: asyncio.Event) -> list[tuple[float, int]]:
    samples, started = [], time.perf_counter()
    while not until.is_set():
        lag = await group_lag(settings.kafka_bootstrap_servers, settings.processor_id, (DEVICE_RATES,))
        samples.append((round(time.perf_counter() - started, 1), lag))
        try:
            await asyncio.wait_for(until.wait(), every_s)
        except TimeoutError:
            pass
    return samples


async def feed(settings: Settings, items: list[tuple[bytes, bytes]], events_per_s: float
               ) -> tuple[float, list[tuple[float, int]]]:
    done = asyncio.Event()
    sampler = asyncio.create_task(sample_lag(settings, 2.0, done))
    started = time.perf_counter()
    await produce(settings.kafka_bootstrap_servers, DEVICE_RATES, items, rate=events_per_s)
    sent_s = time.perf_counter() - started
    done.set()
    return sent_s, await sampler


def slope(samples: list[tuple[float, int]]) -> float:
    """Least-squares growth of the lag (records/s) over the second half of the run: ~0 when it keeps up."""
    half = samples[len(samples) // 2:]
    if len(half) < 2:
        return 0.0
    mean_t = sum(t for t, _ in half) / len(half)
    mean_l = sum(lag for _, lag in half) / len(half)
    spread = sum((t - mean_t) ** 2 for t, _ in half)
    return sum((t - mean_t) * (lag - mean_l) for t, lag in half) / spread if spread else 0.0


async def stored(settings: Settings) -> dict[str, Any]:
    """Bytes per row of each level (heap, indexes, TOAST) as stored, and per interface per day at a poll a minute."""
    found: dict[str, Any] = {}
    async with await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as conn:
        for table, per_day in ROWS_PER_DAY.items():
            rows = (await (await conn.execute(f"SELECT count(*) FROM {table}")).fetchone() or (0,))[0]  # noqa: S608
            size = int((await (await conn.execute(SIZE, (table,))).fetchone() or (0,))[0])
            found[table] = {"rows": rows, "bytes": size,
                            "bytes_per_row": round(size / rows, 1) if rows else None,
                            "bytes_per_interface_per_day": round(size / rows * per_day) if rows else None}
    # the three rollup levels share one layout (0012_analytics.sql: LIKE metric_rollups_1m): a level with too few
    # rows for its pages to fill is priced at the 1-minute level's bytes per row
    per_row = found["metric_rollups_1m"]["bytes_per_row"]
    if per_row:
        for table in ("metric_rollups_5m", "metric_rollups_1h"):
            found[table]["bytes_per_interface_per_day_at_1m_density"] = round(per_row * ROWS_PER_DAY[table])
    return found


def run_analytics_bench(json_only: bool, points_per_s: float = 3200.0, seconds: float = 60.0,
                        poll_s: float = 5.0) -> dict[str, Any]:
    events_per_s = points_per_s / POINTS_PER_RATE
    interfaces = max(1, round(events_per_s * poll_s))
    polls = max(1, round(seconds / poll_s))
    items = rates(interfaces, polls)
    with bench_stack("analytics") as stack:
        settings = stack.settings
        stack.start("processors", "projections")
        warm_up = rates(8, 2, seed=1, prefix="warm-up")  # series of its own: the run's points are not late to them
        asyncio.run(produce(settings.kafka_bootstrap_servers, DEVICE_RATES, warm_up))
        asyncio.run(drained(settings))
        before, started = stack.cpu_seconds(), time.perf_counter()
        sent_s, lags = asyncio.run(feed(settings, items, events_per_s))
        asyncio.run(drained(settings, timeout=900))
        total_s = time.perf_counter() - started
        spent = {name: after - before[name] for name, after in stack.cpu_seconds().items()}
        points = len(items) * POINTS_PER_RATE
        result = {
            "offered_points_per_s": points_per_s,
            "interfaces": interfaces,
            "polls_per_interface": polls,
            "points": points,
            "sent_points_per_s": round(points / sent_s),
            "end_to_end_points_per_s": round(points / total_s),  # first send to every projection caught up
            "drain_after_last_send_s": round(total_s - sent_s, 1),
            "lag_samples": lags,  # (seconds since the first send, records of devices.rates not yet committed)
            "lag_growth_records_per_s": round(slope(lags), 1),
            "max_lag_records": max((lag for _, lag in lags), default=0),
            "cpu_us_per_point": {name: round(s / points * 1e6, 1) for name, s in spent.items()
                                 if name != "bench client"},
            "storage": asyncio.run(stored(settings)),
            "cpus": len(os.sched_getaffinity(0)),
        }
        return report(result, stack.root, json_only)
