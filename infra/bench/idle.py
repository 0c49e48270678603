"""`opsledger bench idle`: what an idle stack costs — `opsledger up` with its demo data loaded and no traffic, CPU of
every process it runs (the supervisor, each component, the broker, the database server) over a minute, as a share of
one core, from /proc."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from infra.bench.harness import cpu_of, descendants, report
from infra.entry.embedded import free_port


def processes(up: int, data_dir: Path) -> dict[int, str]:
    """pid -> what it is, for the supervisor, everything below it, and the database server (pg_ctl detaches it)."""
    found = {up: "supervisor"}
    for pid in descendants(up):
        found[pid] = _name(pid)
    try:
        postmaster = int((data_dir / "pg" / "postmaster.pid").read_text().split()[0])
        found[postmaster] = "postgres"
        found.update(dict.fromkeys(descendants(postmaster), "postgres"))
    except (OSError, ValueError, IndexError):
        pass
    return found


def _name(pid: int) -> str:
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return "gone"
    if any("tansu" in w for w in words[:1]):
        return "broker"
    if "infra.entry.cli" in words:
        return words[words.index("infra.entry.cli") + 1]
    return Path(words[0]).name or "other"


def measure(up: int, data_dir: Path, seconds: float) -> dict[str, float]:
    names = processes(up, data_dir)
    before = {pid: cpu_of(pid) for pid in names}
    started = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - started
    shares: dict[str, float] = {}
    for pid, name in processes(up, data_dir).items():
        spent = cpu_of(pid) - before.get(pid, cpu_of(pid))  # a process new since the start counts from now
        shares[name] = shares.get(name, 0.0) + spent / elapsed
    return {name: round(share * 100, 2) for name, share in sorted(shares.items())}


def settle(up: int, data_dir: Path, at_least_s: float, at_most_s: float = 240.0) -> float:
    """Until the demo data has drained: 5 s windows until one costs no less than the one before (seconds taken)."""
    started = time.monotonic()
    time.sleep(at_least_s)
    before = float("inf")
    while time.monotonic() - started < at_most_s:
        total = sum(measure(up, data_dir, 5.0).values())
        if total >= before * 0.9:
            break
        before = total
    return round(time.monotonic() - started, 1)


def run_idle_bench(json_only: bool, seconds: float = 60.0, settle_s: float = 20.0,
                   live_demo: bool = False) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="opsledger-bench-idle-"))
    port = free_port()
    env = {**os.environ, "OPSLEDGER_DATA_DIR": str(root / "data"), "OPSLEDGER_API_PORT": str(port),
           "OPSLEDGER_LOG_LEVEL": "WARNING"}
    with open(root / "up.log", "ab") as out:
        up = subprocess.Popen([sys.executable, "-m", "infra.entry.cli", "up",
                               "--live-demo" if live_demo else "--no-live-demo"], env=env, stdout=out,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or up.poll() is not None:
                raise RuntimeError(f"opsledger up did not become ready; see {root / 'up.log'}")
            time.sleep(0.5)
        settled_s = settle(up.pid, root / "data", settle_s)  # the demo data drains through processors, projections
        shares = measure(up.pid, root / "data", seconds)
        result = {"seconds": seconds, "live_demo": live_demo, "settled_after_s": settled_s,
                  "cpu_percent_of_a_core": shares,
                  "total_percent_of_a_core": round(sum(shares.values()), 2), "cpus": os.cpu_count()}
        return report(result, root, json_only)
    finally:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(120)
        except subprocess.TimeoutExpired:
            up.kill()
