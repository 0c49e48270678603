"""`opsledger bench scans`: cylinder scans end to end on embedded services, driven through the real HTTP API.

- scans_per_s: handheld batches (500 scans, a few in flight) through POST /api/scans -> broker -> Faust state
  machine -> cylinder projection, until every scan's decision is committed in the read model (checked with the
  batches' consistency tokens, the way a scanner UI reads its own writes);
- scan_to_visible_p99_ms: one scan per request at a steady rate (200/s), from the request leaving the client to its
  decision being visible in the read model.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp
import httpx
import psycopg

from infra.bench.harness import BenchStack, Retries, admin_and_key, bench_stack, drained, percentile, report, shares

CYCLE = (("ship", "Bench customer"), ("return", "Bench customer"), ("refill_send", "Bench fill"),
         ("refill_receive", "Bench fill"))
DECIDED = "SELECT scan_id FROM cylinder_history WHERE worker = %s AND scan_id = ANY(%s)"


def scan(code: str, action: str, counterparty: str) -> dict[str, Any]:
    return {"client_scan_id": uuid.uuid4().hex, "qr_code": code, "action": action, "counterparty": counterparty,
            "scanned_at": datetime.now(UTC).isoformat()}


RETRIES = Retries()  # scans are idempotent (client scan ids): sending one again after a dropped connection is safe


async def post_batches(client: httpx.AsyncClient, batches: list[list[dict[str, Any]]], in_flight: int) -> list[str]:
    """POST every batch, `in_flight` at a time; the consistency tokens, in order."""
    gate = asyncio.Semaphore(in_flight)

    async def one(batch: list[dict[str, Any]]) -> str:
        async with gate:
            answer = await RETRIES.send(client, "POST", "/api/scans", json={"scans": batch})
            answer.raise_for_status()
            return str(answer.headers["Opsledger-Consistency"])

    return list(await asyncio.gather(*(one(b) for b in batches)))


async def read_own_writes(client: httpx.AsyncClient, tokens: list[str]) -> None:
    for token in tokens:  # each read returns once the scans of its batch are decided and projected
        while True:
            answer = await RETRIES.send(client, "GET", "/api/cylinders", params={"limit": 1},
                                        headers={"Opsledger-Consistency": token})
            if answer.status_code != 504:  # not yet consistent after the server's timeout: read again
                answer.raise_for_status()
                break


async def add_cylinders(admin: httpx.AsyncClient, count: int) -> list[str]:
    codes: list[str] = []
    tokens = []
    for start in range(0, count, 500):
        n = min(500, count - start)
        answer = await RETRIES.send(admin, "POST", "/api/cylinders/add", json={"count": n, "location": "Bench depot"})
        answer.raise_for_status()
        codes += answer.json()["qr_codes"]
        tokens.append(answer.headers["Opsledger-Consistency"])
    await read_own_writes(admin, tokens)
    return codes


async def throughput(scanner: httpx.AsyncClient, codes: list[str], batch: int, in_flight: int
                     ) -> tuple[float, float]:
    """Scans per second for one full cycle of every cylinder (ship, return, refill send, refill receive), and the
    seconds the API took to accept them all."""
    started = time.perf_counter()
    tokens = []
    for action, counterparty in CYCLE:  # one wave per action: a cylinder's scans stay in order
        scans = [scan(code, action, counterparty) for code in codes]
        tokens += await post_batches(scanner, [scans[i:i + batch] for i in range(0, len(scans), batch)], in_flight)
    accepted = time.perf_counter() - started
    await read_own_writes(scanner, tokens)
    return len(codes) * len(CYCLE) / (time.perf_counter() - started), accepted


async def latency(api_url: str, key: str, database_url: str, worker: str, codes: list[str], rate: float
                  ) -> tuple[list[float], float]:
    """Open loop: one scan per request every 1/rate s; seconds from send to decision visible, per scan, and the rate
    the requests really left at (a client short of CPU sends late, and measures less than the rate asked)."""
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    pending: set[str] = set()
    finished = asyncio.Event()

    async def watch() -> None:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            while not finished.is_set() or pending:
                if pending:
                    rows = await (await conn.execute(DECIDED, (worker, list(pending)))).fetchall()
                    now = time.perf_counter()
                    for (scan_id,) in rows:
                        seen.setdefault(scan_id, now)
                        pending.discard(scan_id)
                await asyncio.sleep(0.002)

    async def send(session: aiohttp.ClientSession, item: dict[str, Any]) -> None:
        sent[item["client_scan_id"]] = time.perf_counter()
        pending.add(item["client_scan_id"])
        status = await RETRIES.post(session, "/api/scans", {"scans": [item]})
        if status >= 300:
            raise RuntimeError(f"POST /api/scans answered {status}")

    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(api_url, connector=connector, headers={"X-API-Key": key},
                                     timeout=aiohttp.ClientTimeout(total=60)) as session:
        watcher = asyncio.create_task(watch())
        requests = []
        started = time.perf_counter()
        for i, code in enumerate(codes):
            await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
            requests.append(asyncio.create_task(send(session, scan(code, "ship", "Bench customer"))))
        await asyncio.gather(*requests)
    finished.set()
    await asyncio.wait_for(watcher, timeout=60)
    span = max(sent.values()) - min(sent.values())
    return [seen[i] - sent[i] for i in sent], (len(sent) - 1) / span if span > 0 else 0.0


async def drive(stack: BenchStack, admin_password: str, cylinders: int, batch: int, in_flight: int,
                rate: float, seconds: float) -> dict[str, Any]:
    api_url, settings = stack.api_url, stack.settings
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    admin_headers, key = await admin_and_key(api_url, admin_password, ["scans:write", "cylinders:read"])
    async with httpx.AsyncClient(base_url=api_url, timeout=60, limits=limits, headers=admin_headers) as admin, \
            httpx.AsyncClient(base_url=api_url, timeout=60, limits=limits, headers={"X-API-Key": key}) as scanner:
        paced = int(rate * seconds)
        codes = await add_cylinders(admin, cylinders + paced)
        await throughput(scanner, codes[:500], batch, in_flight)  # warm-up
        await drained(settings)
        before, started = stack.cpu_seconds(), time.perf_counter()
        latencies, sent_rate = await latency(api_url, key, settings.database_url, "bench-scanner", codes[cylinders:],
                                             rate)
        paced_share = shares(before, stack.cpu_seconds(), time.perf_counter() - started)
        await drained(settings)
        before, started = stack.cpu_seconds(), time.perf_counter()
        scans_per_s, accepted_s = await throughput(scanner, codes[:cylinders], batch, in_flight)
        elapsed, after = time.perf_counter() - started, stack.cpu_seconds()
    return {
        "cylinders": cylinders,
        "scans": cylinders * len(CYCLE),
        "batch": batch,
        "batches_in_flight": in_flight,
        "scans_per_s": round(scans_per_s),
        "api_accepted_all_after_s": round(accepted_s, 2),
        "cpu_share_during_throughput": shares(before, after, elapsed),
        "latency_rate_per_s": rate,
        "latency_sent_per_s": round(sent_rate, 1),
        "latency_scans": len(latencies),
        "scan_to_visible_p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "scan_to_visible_p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "scan_to_visible_mean_ms": round(statistics.fmean(latencies) * 1000, 1),
        "cpu_share_during_latency": paced_share,
        "requests_retried": RETRIES.count,
        "cpus": os.cpu_count(),
    }


def run_scans_bench(cylinders: int, json_only: bool, batch: int = 500, in_flight: int = 4, rate: float = 200.0,
                    seconds: float = 10.0) -> dict[str, Any]:
    from api.identity.bootstrap import create_user

    password = secrets.token_urlsafe(24)
    # one scanner drives the whole benchmark: lift the per-caller limits meant for people
    with bench_stack("scans", OPSLEDGER_SCAN_RATE="100000000/minute",
                     OPSLEDGER_CLIENT_RATE="100000000/minute") as stack:
        asyncio.run(create_user(stack.settings.database_url, "bench-admin", password, "admin"))
        stack.start("processors", "projections", "api")
        stack.wait_ready()
        result = asyncio.run(drive(stack, password, cylinders, batch, in_flight, rate, seconds))
        return report(result, stack.root, json_only)
