"""`opsledger bench commands`: what a command costs the caller — POST /api/ingress at a steady rate through the real
API (the transactional outbox: one INSERT, then the relay produces), request latency p50/p99 and the throughput of
back-to-back commands from a few clients."""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import time
from typing import Any

import httpx

from infra.bench.harness import BenchStack, bench_stack, percentile, report, shares
from infra.bench.pipeline import payloads


async def sign_in(stack: BenchStack, password: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as client:
        answer = await client.post("/api/auth/login", json={"username": "bench-admin", "password": password})
        answer.raise_for_status()
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def bodies(count: int) -> list[bytes]:
    """Reading bodies as a client would send them (the payload part of the pipeline bench's events)."""
    import orjson

    return [orjson.dumps(orjson.loads(value)["data"]["reading"]) for _, value in payloads(count, seed=11)]


async def paced(client: httpx.AsyncClient, items: list[bytes], rate: float) -> list[float]:
    """One command every 1/rate s, each on its own task; the latency of each, in seconds."""
    latencies: list[float] = []

    async def one(body: bytes) -> None:
        started = time.perf_counter()
        answer = await client.post("/api/ingress", content=body, headers={"Content-Type": "application/json"})
        if answer.status_code != 202:
            raise RuntimeError(f"{answer.status_code} {answer.text[:200]}")
        latencies.append(time.perf_counter() - started)

    tasks, start = [], time.perf_counter()
    for index, body in enumerate(items):
        await asyncio.sleep(max(0.0, start + index / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(one(body)))
    await asyncio.gather(*tasks)
    return latencies


async def back_to_back(client: httpx.AsyncClient, items: list[bytes], clients: int) -> float:
    """Commands/s with `clients` callers each sending the next as soon as the last was answered."""
    queue = list(items)

    async def caller() -> None:
        while queue:
            body = queue.pop()
            answer = await client.post("/api/ingress", content=body, headers={"Content-Type": "application/json"})
            answer.raise_for_status()

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(clients)))
    return len(items) / (time.perf_counter() - started)


async def drive(stack: BenchStack, password: str, rate: float, seconds: float, burst: int,
                clients: int) -> dict[str, Any]:
    headers = await sign_in(stack, password)
    # idle connections are dropped before uvicorn closes them (its keep-alive timeout is 5 s): a reused connection
    # the server had just closed was an httpx.ReadError
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30, headers=headers, limits=limits) as client:
        await paced(client, bodies(50), 50)  # warm-up
        before, started = stack.cpu_seconds(), time.perf_counter()
        latencies = await paced(client, bodies(int(rate * seconds)), rate)
        paced_share = shares(before, stack.cpu_seconds(), time.perf_counter() - started)
        commands_per_s = await back_to_back(client, bodies(burst), clients)
    return {
        "rate_per_s": rate,
        "commands": len(latencies),
        "command_p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "command_p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "command_max_ms": round(max(latencies) * 1000, 1),
        "command_mean_ms": round(statistics.fmean(latencies) * 1000, 1),
        "cpu_share_during_paced": paced_share,
        "back_to_back_clients": clients,
        "back_to_back_commands_per_s": round(commands_per_s),
        "cpus": os.cpu_count(),
    }


def run_commands_bench(json_only: bool, rate: float = 100.0, seconds: float = 20.0, burst: int = 2000,
                       clients: int = 8) -> dict[str, Any]:
    from api.identity.bootstrap import create_user

    password = secrets.token_urlsafe(24)
    # one signed-in client on one address sends thousands a minute: the per-principal and per-address limits lifted
    unlimited = {"OPSLEDGER_CLIENT_RATE": "100000000/minute", "OPSLEDGER_ADDRESS_RATE": "100000000/minute"}
    with bench_stack("commands", **unlimited) as stack:
        asyncio.run(create_user(stack.settings.database_url, "bench-admin", password, "admin"))
        stack.start("processors", "projections", "api")
        stack.wait_ready()
        result = asyncio.run(drive(stack, password, rate, seconds, burst, clients))
        return report(result, stack.root, json_only)
