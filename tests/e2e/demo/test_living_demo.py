"""The living demo of `opsledger up`: every domain is seeded through the API and moves (switches polled from
snmpsim, a camera from GStreamer's RTSP server, cylinders scanned by two workers, readings, alerts that fire), and
Ctrl-C stops it with the stack, leaving no simulated agent behind. `opsledger up --no-demo` starts empty."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil

from infra.bench.rtsp_server import gstreamer_available
from infra.entry.embedded import free_port
from tests.helpers.support import ADMIN_PASSWORD, ROOT, wait_until


def start(data_dir: Path, port: int, *args: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPSLEDGER_", "KAFKA_", "DATABASE_"))}
    env.update(OPSLEDGER_DATA_DIR=str(data_dir), OPSLEDGER_API_PORT=str(port), PYTHONUNBUFFERED="1",
               OPSLEDGER_DEMO_ADMIN_PASSWORD=ADMIN_PASSWORD)
    log = open(data_dir.parent / f"up-{port}.log", "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([sys.executable, "-m", "infra.entry.cli", "up", *args], env=env, cwd=ROOT, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200, timeout=180,
               what="opsledger up to be ready")
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    assert proc.wait(timeout=180) == 0


def agents_of(data_dir: Path) -> list[int]:
    """snmpsim processes serving this run's demo files."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        line = " ".join(proc.info["cmdline"] or [])
        if "snmpsim-command-responder" in line and str(data_dir) in line:
            found.append(proc.info["pid"])
    return found


def test_the_demo_brings_every_domain_to_life_and_stops_with_the_stack(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    proc = start(data_dir, port)
    try:
        token = wait_until(lambda: httpx.post(f"http://127.0.0.1:{port}/api/auth/login", timeout=15, json={
            "username": "admin", "password": ADMIN_PASSWORD}).json().get("access_token"), 60, what="sign-in")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30,
                          headers={"Authorization": f"Bearer {token}"}) as api:
            wait_until(lambda: [d["status"] for d in api.get("/api/devices/").json()].count("up") == 3, 240,
                       interval=2, what="three simulated switches up")
            assert len(agents_of(data_dir)) == 3
            wait_until(lambda: len(api.get("/api/topology").json()["edges"]) == 2, 120, interval=2,
                       what="the LLDP links")
            wait_until(lambda: api.get("/api/customers").json(), 60, interval=2, what="customers holding cylinders")
            moved = wait_until(lambda: api.get("/api/events", params={"type": "ScanRecorded", "limit": 50}).json()
                               ["items"], 60, interval=2, what="scans")
            assert {e["envelope"]["actor"] for e in moved} - {None}
            wait_until(lambda: api.get("/api/alerts/summary").json()["by_state"]["firing"], 240, interval=2,
                       what="an alert to fire")
            cameras = api.get("/api/cameras/").json()
            assert len(cameras) == (1 if gstreamer_available() else 0)
    finally:
        stop(proc)
    assert not agents_of(data_dir), "the demo's snmpsim agents outlived the stack"
    log = (data_dir / "logs" / "demo.log").read_text()
    assert "camera: rtsp://" in log if gstreamer_available() else "no camera" in log


def test_no_demo_starts_empty(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    proc = start(data_dir, port, "--no-demo")
    try:
        assert not (data_dir / "logs" / "demo.log").exists()
        answer = httpx.post(f"http://127.0.0.1:{port}/api/auth/login", timeout=15,
                            json={"username": "admin", "password": ADMIN_PASSWORD})
        assert answer.status_code == 401  # no demo admin, no data
    finally:
        stop(proc)
