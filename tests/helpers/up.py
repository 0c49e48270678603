"""`opsledger up` as a user runs it, for the end-to-end tests: start it on a data directory, sign in as the demo
admin, read everything a user can see, stop it with Ctrl-C, and find (and kill) every process it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.helpers.support import ADMIN_PASSWORD, ROOT, lags, wait_until


def start_up(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPSLEDGER_", "KAFKA_", "DATABASE_"))}
    env.update(OPSLEDGER_DATA_DIR=str(data_dir), OPSLEDGER_API_PORT=str(port), PYTHONUNBUFFERED="1",
               OPSLEDGER_DEMO_ADMIN_PASSWORD=ADMIN_PASSWORD)
    log = open(data_dir.parent / f"up-{port}.log", "ab")  # noqa: SIM115 - closed with the process
    # the living demo would keep adding events (and load): the drills compare histories and wait for quiet
    proc = subprocess.Popen([sys.executable, "-m", "infra.entry.cli", "up", "--no-live-demo"], env=env, cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200, timeout=90,
               what="opsledger up to be ready")
    return proc


def signed_in(port: int) -> httpx.Client:
    url = f"http://127.0.0.1:{port}"

    def login() -> str | None:  # the demo admin appears once the demo data is seeded
        answer = httpx.post(f"{url}/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        return str(answer.json()["access_token"]) if answer.status_code == 200 else None

    token = wait_until(login, timeout=60, what="the demo admin to sign in")
    return httpx.Client(base_url=url, timeout=15, headers={"Authorization": f"Bearer {token}"})


def stop_up(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    assert proc.wait(timeout=120) == 0


def everything(api: httpx.Client) -> dict[str, Any]:
    """The whole history and the ingress read model, as a user can see them."""
    events, cursor = [], None
    while True:
        params = {"order": "oldest", "limit": 1000, **({"cursor": cursor} if cursor else {})}
        page = api.get("/api/events", params=params).json()
        events += [(e["topic"], e["partition"], e["offset"], e["event_id"]) for e in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    readings, cursor = [], None
    while True:
        page = api.get("/api/ingress", params={"limit": 500, **({"cursor": cursor} if cursor else {})}).json()
        readings += page["items"]
        if not (cursor := page["next_cursor"]):
            break
    return {"events": events, "readings": sorted(readings, key=lambda r: r["id"])}


def settled(api: httpx.Client) -> bool:
    lag = lags(api)
    return lag.get("processors") == 0 and len(lag) > 1 and not any(lag.values())


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (children run in sessions of their own, but keep their parent)."""
    parents: dict[int, int] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                parents[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def postgres_pids(data_dir: Path) -> set[int]:
    """The embedded PostgreSQL of this data directory: it detaches from whoever started it (pg_ctl)."""
    try:
        postmaster = int((data_dir / "pg" / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, 0)
    except (OSError, ValueError, IndexError):
        return set()
    return {postmaster} | descendants(postmaster)


def stack_pids(proc: subprocess.Popen[bytes], data_dir: Path) -> set[int]:
    return {proc.pid} | descendants(proc.pid) | postgres_pids(data_dir)


def named(pids: set[int], word: str) -> set[int]:
    found = set()
    for pid in pids:
        try:
            if word in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                found.add(pid)
        except OSError:
            continue
    return found


def kill(pids: set[int]) -> None:
    """SIGKILL them all at once (a power loss), then wait until none is left. All are stopped (SIGSTOP) first: killed
    one by one, a supervisor still alive could see PostgreSQL die and start a new one, which then outlived the
    "power loss" half-started and made the next start fail."""
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
    wait_until(lambda: not any(alive(pid) for pid in pids), timeout=30, what="the killed processes to be gone")


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def reap(proc: subprocess.Popen[bytes]) -> None:
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
