"""How many 48-port devices one poller core can poll: N simulated switches (snmpsim), polled round after round.

devices_per_s_per_core = successful polls / CPU seconds of this process (time.process_time), so the agents'
own CPU (separate snmpsim processes) is not counted. A development tool: it needs the dev extras (snmpsim) and
the simulated switch in infra/bench/snmpdata; run `opsledger bench snmp`.
"""

from __future__ import annotations

import asyncio
import functools
import statistics
import sys
import time
from typing import Any

from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

from producers.devices.outbound import Outbound
from producers.devices.snmp.credentials import AuthProtocol, Credentials, PrivProtocol, V2cCredentials, V3Credentials
from producers.devices.snmp.poll import PollResult, poll_device
from producers.devices.snmp.scheduler import Device, Policy, Scheduler
from producers.devices.snmp.session import Target, close_engine

SIMULATED = Outbound.of("127.0.0.0/8")  # the benchmark's agents are simulated on loopback


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def poll_rounds(devices: list[Device], *, rounds: int, max_concurrent: int, deadline_s: float,
                      fast_v2c: bool = True) -> dict[str, Any]:
    """One warm-up round (engine set-up, SNMPv3 discovery), then `rounds` timed rounds of every device at once."""
    results: list[PollResult] = []

    async def keep(result: PollResult) -> None:
        results.append(result)

    engine = SnmpEngine()
    scheduler = Scheduler(engine, devices, keep, policy=Policy(deadline_s=deadline_s, max_concurrent=max_concurrent),
                          poll=functools.partial(poll_device, fast_v2c=fast_v2c))
    try:
        await asyncio.gather(*(scheduler.poll_once(device) for device in devices))
        results.clear()
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(rounds):
            await asyncio.gather(*(scheduler.poll_once(device) for device in devices))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        close_engine(engine)
    ok = [result for result in results if result.ok and not result.partial]
    elapsed_ms = [result.elapsed_s * 1000 for result in ok] or [0.0]
    return {
        "devices": len(devices),
        "rounds": rounds,
        "polls_ok": len(ok),
        "polls_failed_or_partial": len(results) - len(ok),
        "interfaces_per_poll": statistics.mean(len(r.sample.interfaces) for r in ok if r.sample) if ok else 0,
        "requests_per_poll": statistics.mean(r.requests for r in ok) if ok else 0,
        "poller_cpu_s": round(cpu, 3),
        "wall_s": round(wall, 3),
        "devices_per_s_per_core": round(len(ok) / cpu, 1) if cpu else 0.0,
        "devices_per_s_wall": round(len(ok) / wall, 1) if wall else 0.0,
        "poll_p50_ms": round(percentile(elapsed_ms, 50), 1),
        "poll_p99_ms": round(percentile(elapsed_ms, 99), 1),
    }


async def bench_snmp(devices: int = 40, rounds: int = 5, agents: int = 2, max_concurrent: int = 32,
                     v3: bool = False, deadline_s: float = 30.0, fast_v2c: bool = True) -> dict[str, Any]:
    """Start `agents` snmpsim processes sharing `devices` copies of the 48-port switch, then poll them."""
    from infra.bench.snmpsim import V3_AUTH_KEY, V3_PRIV_KEY, V3_USER, start_agent, stop_agent  # dev-only helper

    names = [f"sw{index:04d}" for index in range(devices)]
    started = [start_agent(dict.fromkeys(names[shard::agents], "switch48"), log_level="error")
               for shard in range(agents)]
    try:
        fleet = []
        for index, name in enumerate(names):
            agent = started[index % agents]
            creds: Credentials = V2cCredentials(name)
            if v3:
                creds = V3Credentials(V3_USER, AuthProtocol.sha256, V3_AUTH_KEY, PrivProtocol.aes128, V3_PRIV_KEY,
                                      context_name=name)
            fleet.append(Device(Target(name, agent.host, agent.port, timeout_s=5, retries=1,
                                       outbound=SIMULATED), creds))
        figures = await poll_rounds(fleet, rounds=rounds, max_concurrent=max_concurrent, deadline_s=deadline_s,
                                    fast_v2c=fast_v2c)
    finally:
        for agent in started:
            stop_agent(agent)
    path = "pysnmp" if v3 or not fast_v2c else "fast v2c (producers/devices/snmp/ber.py)"
    return {"snmp_version": "3 (SHA-256/AES-128)" if v3 else "2c", "path": path, "agents": agents, **figures}


if __name__ == "__main__":
    counts = [int(value) for value in sys.argv[1:] if value.isdigit()] + [40, 5]
    print(asyncio.run(bench_snmp(devices=counts[0], rounds=counts[1], v3="--v3" in sys.argv,
                                 fast_v2c="--pysnmp" not in sys.argv)))
