"""`opsledger bench broker`: what the embedded broker spends answering one consumer's fetches of quiet partitions.

One consumer (infra.kafka_clients, no options of the platform's) assigned N empty partitions fetches with a given
fetch wait for a few seconds; the broker's CPU share over that time, from /proc. This is the cost that every
consumer fetching in its busy mode adds to the broker whether or not records come (Tansu holds a fetch for its whole
wait and polls every partition named, again and again, during it). Then the same partitions' end offsets asked
(ListOffsets) at a given interval: what a quiet consumer's held fetches cost instead (infra.fetch_gate)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition
from aiokafka.admin import NewTopic

from infra import kafka_clients
from infra.bench.harness import cpu_of, report
from infra.entry.embedded import start_broker

PLAIN = kafka_clients.KafkaSecurity()  # the embedded broker this bench starts listens in plain text
CASES = ((4, 20), (40, 20), (120, 20), (4, 100), (120, 100), (120, 500), (120, 2000))
PROBES = ((120, 500), (120, 250), (120, 100), (4, 500))


def quiet_partitions(count: int) -> list[TopicPartition]:
    return [TopicPartition(f"bench-quiet-{i // 4}", i % 4) for i in range(count)]


async def broker_cpu(broker_pid: int, seconds: float, step: Callable[[], Awaitable[Any]]
                     ) -> tuple[float, float, int]:
    """The broker's CPU seconds while `step` is awaited again and again for `seconds`, the seconds that took, and
    how many steps."""
    started, before, steps = time.perf_counter(), cpu_of(broker_pid), 0
    while time.perf_counter() - started < seconds:
        await step()
        steps += 1
    return cpu_of(broker_pid) - before, time.perf_counter() - started, steps


async def measure(bootstrap: str, broker_pid: int, partitions: int, wait_ms: int, seconds: float) -> dict[str, Any]:
    consumer = kafka_clients.consumer(bootstrap, security=PLAIN, fetch_max_wait_ms=wait_ms,
                                      enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        consumer.assign(quiet_partitions(partitions))
        await consumer.getmany(timeout_ms=500)
        spent, elapsed, _ = await broker_cpu(broker_pid, seconds, lambda: consumer.getmany(timeout_ms=200))
        share = spent / elapsed
    finally:
        await consumer.stop()
    return {"partitions": partitions, "fetch_wait_ms": wait_ms, "broker_cpu_share": round(share, 3),
            "broker_cpu_ms_per_fetch": round(share * wait_ms, 2)}


async def measure_probes(bootstrap: str, broker_pid: int, partitions: int, every_ms: int, seconds: float
                         ) -> dict[str, Any]:
    consumer = kafka_clients.consumer(bootstrap, security=PLAIN, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        assigned = quiet_partitions(partitions)
        await consumer.end_offsets(assigned)

        async def ask() -> None:
            await consumer.end_offsets(assigned)
            await asyncio.sleep(every_ms / 1000)

        spent, elapsed, asked = await broker_cpu(broker_pid, seconds, ask)
        share = spent / elapsed
    finally:
        await consumer.stop()
    return {"partitions": partitions, "list_offsets_every_ms": every_ms, "broker_cpu_share": round(share, 4),
            "broker_cpu_ms_per_list_offsets": round(spent / asked * 1000, 2)}


async def drive(bootstrap: str, broker_pid: int, seconds: float) -> list[dict[str, Any]]:
    admin = kafka_clients.admin(bootstrap, security=PLAIN)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(f"bench-quiet-{i}", 4, 1) for i in range(30)])
    finally:
        await admin.close()
    return ([await measure(bootstrap, broker_pid, partitions, wait_ms, seconds) for partitions, wait_ms in CASES]
            + [await measure_probes(bootstrap, broker_pid, partitions, every_ms, seconds)
               for partitions, every_ms in PROBES])


def run_broker_bench(seconds: float, json_only: bool) -> dict[str, Any]:
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="opsledger-bench-broker-"))
    broker = start_broker(log_path=root / "broker.log")
    try:
        cases = asyncio.run(drive(broker.bootstrap, broker.process.pid, seconds))
    finally:
        broker.stop()
    return report({"seconds_per_case": seconds, "cases": cases}, root, json_only)
