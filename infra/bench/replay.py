"""`opsledger bench replay`: `opsledger replay ingress` alone on the machine, repeated, with each process's CPU.

The log is filled the pipeline bench's way (readings through the real processors, so it holds their verdicts too),
the live components are stopped once it has drained, and the command runs `runs` times as an operator runs it."""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
from typing import Any

from infra.bench.harness import bench_stack, drained, report
from infra.bench.pipeline import payloads, produce, replay_command, wait_committed
from schemas.topics import INGRESS_READINGS


def children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def run_replay_bench(events: int, runs: int, json_only: bool, workers: int | None = None) -> dict[str, Any]:
    with bench_stack("replay") as stack:
        settings = stack.settings
        stack.start("processors", "projections")
        asyncio.run(produce(settings.kafka_bootstrap_servers, INGRESS_READINGS, payloads(events)))
        asyncio.run(wait_committed(settings))
        asyncio.run(drained(settings, timeout=900))
        stack.stop_components()  # the replay alone: the live projection would only wait at the swap
        rates, cpu = [], []
        for _ in range(runs):
            before, waited = stack.cpu_seconds(), children_cpu()
            replayed, seconds = replay_command(stack.env, workers)
            after = stack.cpu_seconds()
            rates.append(replayed / seconds)
            cpu.append({"replay": round(children_cpu() - waited, 2),  # start-up included
                        **{name: round(after[name] - before[name], 2) for name in ("postgres", "broker")}})
        result = {
            "events": events,
            "workers": workers or os.cpu_count(),
            "replay_events": replayed,
            "replay_eps_runs": [round(r) for r in rates],
            "replay_eps": round(statistics.median(rates)),
            "cpu_seconds_runs": cpu,
        }
        return report(result, stack.root, json_only)
