"""`opsledger bench images`: how fast images are analysed, alone and end to end.

- pool: the processor's worker pool (processors/images/pool.py, `OPSLEDGER_IMAGE_WORKERS` processes) working on stored
  camera JPEGs (Pillow-made, full EXIF, 12 MP = 4000x3000 and 0.3 MP = 640x480): what one analysis is — read, one
  decode for facts, measures and WebP thumbnails 128/512, the original without GPS and serials stored — per second,
  and CPU ms per image measured in a single process;
- stack: the same uploads through POST /api/images on embedded services (API -> broker -> Faust agent -> pool ->
  ImageAnalysed -> projection): images analysed per second with uploads arriving as fast as four clients send them,
  and upload -> analysed-in-the-read-model latency at a steady 5 uploads/s.
Distinct images are a few Pillow scenes, each with a unique JPEG comment (same decode cost, distinct bytes).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg

from infra.bench.camera_files import CameraExif, camera_jpeg
from infra.bench.harness import BenchStack, _cpu, _parent, bench_stack, drained, percentile, report, shares
from infra.filestore import put_bytes
from processors.images.pool import AnalysisPool
from processors.images.work import Job, process

SCENES = 6
ANALYSED = "SELECT image_id::text FROM images WHERE status <> 'pending' AND image_id::text = ANY(%s)"


def photos(width: int, height: int, count: int) -> list[bytes]:
    """`count` distinct camera JPEGs: a few scenes, each copy with its own comment after the SOI."""
    bases = [camera_jpeg(width, height, CameraExif(orientation=6), seed=seed) for seed in range(SCENES)]
    made = []
    for i in range(count):
        note = f"bench copy {i} {secrets.token_hex(4)}".encode()
        base = bases[i % SCENES]
        made.append(base[:2] + b"\xff\xfe" + (len(note) + 2).to_bytes(2, "big") + note + base[2:])
    return made


def cpu_ms_per_image(jobs: Sequence[Job]) -> float:
    """CPU of the worker function in this process (after one warm-up job), per image."""
    process(jobs[0])
    started = time.process_time()
    for job in jobs:
        process(job)
    return round((time.process_time() - started) / len(jobs) * 1000, 1)


async def pool_rate(jobs: Sequence[Job], workers: int) -> float:
    pool = AnalysisPool(workers, timeout_s=60, memory_bytes=1024 << 20)
    try:
        await pool.warm()
        started = time.perf_counter()
        outcomes = await asyncio.gather(*(pool.run(job) for job in jobs))
        elapsed = time.perf_counter() - started
    finally:
        pool.close()
    assert all(o.analysed is not None for o in outcomes), [o.rejected for o in outcomes if o.rejected][:3]
    return round(len(jobs) / elapsed, 1)


def bench_pool(root: Path, workers: int, count: int) -> dict[str, Any]:
    result: dict[str, Any] = {"workers": workers}
    for name, (width, height) in (("12mp", (4000, 3000)), ("0.3mp", (640, 480))):
        files = photos(width, height, count)
        jobs = [Job(root, put_bytes(root, data)) for data in files]
        with ProcessPoolExecutor(1) as single:  # a fresh process: CPU figures without this one's history
            cpu = single.submit(cpu_ms_per_image, jobs[: min(len(jobs), 20)]).result()
        rate = asyncio.run(pool_rate(jobs, workers))
        result[name] = {"bytes": len(files[0]), "images": count, "analysed_per_s": rate, "cpu_ms_per_image": cpu}
    return result


async def upload(client: httpx.AsyncClient, data: bytes) -> str:
    answer = await client.post("/api/images", files={"file": ("bench.jpg", data, "image/jpeg")})
    answer.raise_for_status()
    return str(answer.json()["image_id"])


async def watch_analysed(database_url: str, sent: dict[str, float], seen: dict[str, float],
                         finished: asyncio.Event) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        while not finished.is_set() or len(seen) < len(sent):
            pending = [i for i in sent if i not in seen]
            if pending:
                rows = await (await conn.execute(ANALYSED, (pending,))).fetchall()
                now = time.perf_counter()
                for (image_id,) in rows:
                    seen.setdefault(image_id, now)
            await asyncio.sleep(0.01)


async def steady(client: httpx.AsyncClient, database_url: str, files: Sequence[bytes], rate: float) -> list[float]:
    """Open loop: one upload every 1/rate s; seconds from sending it to its analysis visible in the read model."""
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    finished = asyncio.Event()
    watcher = asyncio.create_task(watch_analysed(database_url, sent, seen, finished))

    async def one(data: bytes) -> None:
        at = time.perf_counter()
        sent[await upload(client, data)] = at

    started, requests = time.perf_counter(), []
    for i, data in enumerate(files):
        await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
        requests.append(asyncio.create_task(one(data)))
    await asyncio.gather(*requests)
    finished.set()
    await asyncio.wait_for(watcher, timeout=300)
    return [seen[i] - sent[i] for i in sent]


async def burst(client: httpx.AsyncClient, database_url: str, files: Sequence[bytes], in_flight: int) -> float:
    """Uploads as fast as `in_flight` clients send them; analysed images per second until the last is visible."""
    gate, finished = asyncio.Semaphore(in_flight), asyncio.Event()
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    watcher = asyncio.create_task(watch_analysed(database_url, sent, seen, finished))

    async def one(data: bytes) -> None:
        async with gate:
            sent[await upload(client, data)] = time.perf_counter()

    started = time.perf_counter()
    await asyncio.gather(*(one(data) for data in files))
    finished.set()
    await asyncio.wait_for(watcher, timeout=600)
    return round(len(files) / (max(seen.values()) - started), 1)


def cpu_seconds(stack: BenchStack) -> dict[str, float]:
    """The harness's per-component CPU, plus the processors' image workers (child processes of the processors)."""
    found = stack.cpu_seconds()
    parent = stack.pids["processors"]
    workers = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _parent(p) == parent]
    found["image workers"] = sum(_cpu(pid) for pid in workers)
    return found


async def drive(stack: BenchStack, password: str, rate: float, seconds: float, count: int) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=60) as anon:
        token = (await anon.post("/api/auth/login", json={"username": "bench-admin", "password": password})
                 ).json()["access_token"]
    paced = photos(4000, 3000, int(rate * seconds))
    burst_files = photos(4000, 3000, count)
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=120,
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        await steady(client, stack.settings.database_url, photos(4000, 3000, 4), 2.0)  # warm-up
        await drained(stack.settings)
        before, started = cpu_seconds(stack), time.perf_counter()
        latencies = await steady(client, stack.settings.database_url, paced, rate)
        paced_share = shares(before, cpu_seconds(stack), time.perf_counter() - started)
        await drained(stack.settings)
        before, started = cpu_seconds(stack), time.perf_counter()
        per_s = await burst(client, stack.settings.database_url, burst_files, in_flight=4)
        burst_share = shares(before, cpu_seconds(stack), time.perf_counter() - started)
    return {"uploads_per_s": rate, "uploads": len(latencies),
            "upload_to_analysed_p50_ms": round(percentile(latencies, 50) * 1000),
            "upload_to_analysed_p99_ms": round(percentile(latencies, 99) * 1000),
            "upload_to_analysed_mean_ms": round(statistics.fmean(latencies) * 1000),
            "cpu_share_during_steady": paced_share,
            "burst_images": count, "burst_analysed_per_s": per_s, "cpu_share_during_burst": burst_share}


def run_images_bench(json_only: bool, rate: float = 5.0, seconds: float = 30.0, count: int = 120,
                     pool_images: int = 60) -> dict[str, Any]:
    from api.identity.bootstrap import create_user

    workers = int(os.environ.get("OPSLEDGER_IMAGE_WORKERS", "2"))
    password = secrets.token_urlsafe(24)
    with bench_stack("images", OPSLEDGER_CLIENT_RATE="100000000/minute") as stack:
        result: dict[str, Any] = {"cpus": os.cpu_count(), "load_1m_before": round(os.getloadavg()[0], 2),
                                  "pool": bench_pool(stack.root / "pool-files", workers, pool_images)}
        asyncio.run(create_user(stack.settings.database_url, "bench-admin", password, "admin"))
        stack.start("processors", "projections", "api")
        stack.wait_ready()
        result["stack_12mp"] = asyncio.run(drive(stack, password, rate, seconds, count))
        result["load_1m_after"] = round(os.getloadavg()[0], 2)
        return report(result, stack.root, json_only)
