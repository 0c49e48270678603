"""The demo's life: workers scan cylinders a step further through their cycle, technicians submit ingress readings
(every fifth from a noisy node, over its limit), and the access switch goes down for a while and comes back. Runs as
the `demo` component of `opsledger up` until it is told to stop (SIGTERM), then stops its simulated peers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import uuid
from datetime import UTC, datetime

import structlog

from infra.entry.demo.agents import Peers, snmpsim_available
from infra.entry.demo.seed import BOT, CUSTOMERS, WORKERS, Client, DemoState, ensure_camera, ensure_users, seed
from infra.entry.embedded import free_port
from infra.settings import Settings

log = structlog.get_logger("demo")
NEXT_STEP = {"available": ("ship", True), "sent": ("return", True), "returned": ("refill_send", False),
             "in_refill": ("refill_receive", False)}
NODES = ("N-ALDER-01", "N-BIRCH-07", "N-CEDAR-03", "N-ELM-05")
ACCESS_DOWN_EVERY_S, ACCESS_DOWN_FOR_S = 480, 90


async def move_a_cylinder(worker: Client, codes: list[str], rng: random.Random) -> None:
    code = rng.choice(codes)
    found = await worker.call("GET", f"/api/cylinders/{code}")
    if found.status_code != 200 or found.json()["status"] not in NEXT_STEP:
        return
    current = found.json()
    action, to_customer = NEXT_STEP[current["status"]]
    party = (current["holder"] or rng.choice(CUSTOMERS)) if to_customer else "Northgate Refills"
    await worker.call("POST", "/api/scans", json={"scans": [{
        "client_scan_id": str(uuid.uuid4()), "qr_code": code, "action": action, "counterparty": party,
        "scanned_at": datetime.now(UTC).isoformat()}]})


def reading(rng: random.Random, noisy: bool) -> dict[str, object]:
    """A technician's reading of the return band; a noisy one is well over the band's default limit line
    (-20 dBmV), so the demo's ingress rule fires within a minute of its start, every run."""
    level = rng.uniform(-16, -4) if noisy else rng.gauss(-28, 7)
    return {
        "customer_name": f"{rng.choice(('Nguyen', 'Okafor', 'Larsen', 'Silva'))} household",
        "address": f"{rng.randint(1, 300)} Harbor Way", "node_id": rng.choice(NODES),
        "level_dbmv": round(max(-99.0, min(99.0, level)), 1), "split_plan": "sub", "freq_start_mhz": 5,
        "freq_end_mhz": 42, "test_point": "ground_block", "home_connected": True, "install_phase": "before",
        "notes": "demo"}


async def live(settings: Settings, stop: asyncio.Event) -> None:
    api_url = f"http://{settings.api_host}:{settings.api_port}"
    state = DemoState.load(settings.data_dir, free_port)
    state.save()
    await ensure_users(settings.database_url, state)
    if not snmpsim_available():
        print("demo: snmpsim is not installed, so there are no simulated switches (pip install -e '.[demo]')")
    peers = Peers(settings.data_dir / "demo-agents", state.ports)
    peers.workdir.mkdir(parents=True, exist_ok=True)
    if snmpsim_available():
        await asyncio.to_thread(peers.start)
    bot = Client(api_url, BOT, state.passwords[BOT])
    workers = [Client(api_url, name, state.passwords[name]) for name in WORKERS]
    try:
        for client in (bot, *workers):
            await client.sign_in()
        if not state.seeded:
            await seed(bot, state)
            state.seeded = True
            state.save()
        print("demo:", await ensure_camera(bot, peers.camera.url if peers.camera else None), flush=True)
        codes = [c["qr_code"] for c in (await bot.call("GET", "/api/cylinders", params={"limit": 100})).json()["items"]]
        await loop(peers, workers, codes, stop)
    finally:
        await asyncio.to_thread(peers.stop)
        for client in (bot, *workers):
            await client.http.aclose()


async def loop(peers: Peers, workers: list[Client], codes: list[str], stop: asyncio.Event) -> None:
    rng, tick = random.Random(), 0
    access = "demo-access-1"
    while not stop.is_set():
        tick += 1
        try:
            if codes:
                await move_a_cylinder(rng.choice(workers), codes, rng)
            if tick % 4 == 0:  # a reading every 20 s; the first and every fifth after it from a noisy node
                await rng.choice(workers).call("POST", "/api/ingress", json=reading(rng, noisy=tick % 20 == 4))
            phase = (tick * 5) % ACCESS_DOWN_EVERY_S
            if access in peers.agents and phase == ACCESS_DOWN_EVERY_S - ACCESS_DOWN_FOR_S:
                log.info("demo.access_switch_down")
                await asyncio.to_thread(peers.stop_switch, access)
            elif access not in peers.agents and access in peers.ports and phase == 0 and snmpsim_available():
                log.info("demo.access_switch_back")
                await asyncio.to_thread(peers.start_switch, access)
        except Exception as e:  # the API restarting under the supervisor: the next tick tries again
            log.warning("demo.step_failed", error=str(e))
        try:
            await asyncio.wait_for(stop.wait(), timeout=5)
        except TimeoutError:
            pass


def run_demo(settings: Settings) -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request in the demo's log

    async def main() -> None:
        stop = asyncio.Event()
        loop_ = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop_.add_signal_handler(sig, stop.set)
        try:
            await live(settings, stop)
        except Exception:
            log.exception("demo.failed")
            with contextlib.suppress(TimeoutError):  # the supervisor restarts it: not in a tight loop
                await asyncio.wait_for(stop.wait(), timeout=10)
            raise

    asyncio.run(main())
