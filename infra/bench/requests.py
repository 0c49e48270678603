"""`opsledger bench requests`: what one command request costs each process, closed loop.

Single-scan POST /api/scans requests (each a scan of a new, valid QR code: the processor rejects it, which costs it
as much as any decision) from `callers` aiohttp callers through the real API, with the components named running on
an embedded stack. CPU seconds of each process from /proc over the run, divided by the requests: with only the API
running, the API's own cost; with the processors and projections too, what their consumers add (most of it in the
broker, answering their fetches)."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Sequence
from typing import Any

import aiohttp

from infra.bench.harness import BenchStack, Retries, admin_and_key, bench_stack, report
from infra.bench.scans import scan

RETRIES = Retries()


async def drive(stack: BenchStack, password: str, requests: int, callers: int) -> dict[str, Any]:
    from producers.cylinders.qrcodes import new_code

    _, key = await admin_and_key(stack.api_url, password, ["scans:write"])

    async def run(session: aiohttp.ClientSession, codes: list[str]) -> None:
        async def caller() -> None:
            while codes:
                status = await RETRIES.post(session, "/api/scans", {"scans": [scan(codes.pop(), "ship", "Bench")]})
                if status != 202:
                    raise RuntimeError(f"POST /api/scans answered {status}")

        await asyncio.gather(*(caller() for _ in range(callers)))

    async with aiohttp.ClientSession(stack.api_url, connector=aiohttp.TCPConnector(limit=callers),
                                     headers={"X-API-Key": key}) as session:
        await run(session, [new_code() for _ in range(min(500, requests))])  # warm-up
        before, started = stack.cpu_seconds(), time.perf_counter()
        await run(session, [new_code() for _ in range(requests)])
        elapsed, after = time.perf_counter() - started, stack.cpu_seconds()
    return {
        "requests": requests,
        "callers": callers,
        "requests_per_s": round(requests / elapsed),
        "cpu_us_per_request": {name: round((after[name] - before[name]) / requests * 1e6) for name in after},
        "requests_retried": RETRIES.count,
    }


def run_requests_bench(components: Sequence[str], requests: int, callers: int, json_only: bool) -> dict[str, Any]:
    from api.identity.bootstrap import create_user

    password = secrets.token_urlsafe(24)
    with bench_stack("requests", OPSLEDGER_SCAN_RATE="100000000/minute", OPSLEDGER_CLIENT_RATE="100000000/minute",
                     OPSLEDGER_ADDRESS_RATE="100000000/minute") as stack:
        asyncio.run(create_user(stack.settings.database_url, "bench-admin", password, "admin"))
        stack.start(*components)
        stack.wait_ready()
        result = asyncio.run(drive(stack, password, requests, callers))
        return report({"components": list(components), **result}, stack.root, json_only)
