"""What every benchmark shares: a stack of its own on embedded services (a fresh temp directory, broker, database,
the components it names as child processes), CPU accounting per process from /proc, percentiles, the report."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import httpx
import orjson

from infra.entry.embedded import free_port, start_broker, start_database
from infra.settings import Settings

T = TypeVar("T")


@dataclass
class BenchStack:
    root: Path
    settings: Settings
    env: dict[str, str]
    postmaster: int  # this run's database server
    pids: dict[str, int] = field(default_factory=dict)  # component name -> pid, the broker's included
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)
    died: str | None = None  # set by the watchdog: which component exited, how, and its log's last lines
    watched: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)  # the components meant to be running
    watchdog: threading.Thread | None = None

    def start(self, *names: str) -> None:
        """Start components (processors, projections, api, ...) as child processes of this bench."""
        for name in names:
            with open(self.root / "logs" / f"{name}.log", "ab") as out:
                child = subprocess.Popen([sys.executable, "-m", "infra.entry.cli", name], env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
            self.children.append(child)
            self.pids[name] = child.pid
            self.watched[name] = child
        if self.watchdog is None or not self.watchdog.is_alive():
            self.watchdog = threading.Thread(target=self._watch, daemon=True, name="bench-watchdog")
            self.watchdog.start()

    def stop_components(self) -> None:
        """Stop every component started (the watchdog first stops watching them)."""
        self.watched.clear()
        stop_children(self.children)
        self.children.clear()

    def _watch(self) -> None:
        """A component that exits while the bench runs ends the bench at once (SIGINT to the main thread, whose
        handler bench_stack set raises ComponentExited): otherwise a drain waits out its whole timeout for a process
        that is gone, and a bench must finish."""
        while self.watched and self.died is None:
            for name, child in list(self.watched.items()):
                if child.poll() is not None and self.watched.get(name) is child:
                    log = (self.root / "logs" / f"{name}.log").read_text(errors="replace").strip().splitlines()
                    self.died = f"{name} exited with {child.returncode}; its log ends: " + " | ".join(log[-3:])
                    signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)  # wakes a sleep too
                    return
            time.sleep(0.5)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.api_url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the API did not become ready; logs in {self.root / 'logs'}")
            time.sleep(0.2)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.env['OPSLEDGER_API_PORT']}"

    def cpu_seconds(self) -> dict[str, float]:
        """User + system CPU seconds so far of each component, the broker, this run's database server (the
        postmaster and its children: other runs on the machine have servers of the same user) and this client."""
        found = {name: _cpu(pid) for name, pid in self.pids.items()}
        children = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _parent(p) == self.postmaster]
        found["postgres"] = (_cpu(self.postmaster) + _reaped_cpu(self.postmaster)  # with its exited backends
                             + sum(_cpu(pid) for pid in children))
        found["bench client"] = time.process_time()
        return found


@contextmanager
def bench_stack(prefix: str, **env: str) -> Iterator[BenchStack]:
    """Broker and database on a temp directory of their own, migrated, topics created; the caller starts the
    components it measures (BenchStack.start). All stopped at exit; the logs are left on disk, the database's files
    are not (a pipeline run left 0.5-1.3 GB of them: a few dozen runs filled the disk)."""
    from infra.entry.components import prepare

    root = Path(tempfile.mkdtemp(prefix=f"opsledger-bench-{prefix}-"))
    (root / "logs").mkdir()
    database = start_database(root / "pg")
    broker = start_broker(log_path=root / "logs" / "broker.log")
    full_env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "DATABASE_URL": database.url,
                "OPSLEDGER_DATA_DIR": str(root), "OPSLEDGER_LOG_LEVEL": "WARNING",
                "OPSLEDGER_API_PORT": str(free_port()), "OPSLEDGER_JWT_SECRET": secrets.token_urlsafe(48), **env}
    settings = Settings.model_validate({"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "DATABASE_URL": database.url,
                                        "OPSLEDGER_DATA_DIR": str(root)})
    postmaster = int((root / "pg" / "postmaster.pid").read_text().split()[0])
    stack = BenchStack(root, settings, full_env, postmaster, pids={"broker": broker.process.pid})

    def interrupted(signum: int, frame: Any) -> None:
        if stack.died is not None:
            raise ComponentExited(f"{stack.died} (logs in {root / 'logs'})")
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, interrupted)  # ours, whatever handler the process had
    try:
        asyncio.run(prepare(settings))
        yield stack
    finally:
        signal.signal(signal.SIGINT, previous)
        stack.stop_components()
        broker.stop()
        database.stop()
        shutil.rmtree(root / "pg", ignore_errors=True)


class ComponentExited(RuntimeError):
    """A component of the bench's stack exited while the bench ran."""


class Retries:
    """Requests a bench sent again after the connection failed under it (a keep-alive connection closed by the
    server, a reset under load): counted and reported with the figures, never hidden."""

    def __init__(self) -> None:
        self.count = 0

    async def send(self, client: httpx.AsyncClient, method: str, url: str, attempts: int = 5,
                   **kwargs: Any) -> httpx.Response:
        return await self._retried(lambda: client.request(method, url, **kwargs), httpx.TransportError, attempts)

    async def post(self, session: aiohttp.ClientSession, url: str, body: Any, attempts: int = 5) -> int:
        """POST JSON through aiohttp, the paced phases' client (httpx's connection pool took ~2 ms of CPU per request
        at 200 requests/s, on the two cores the stack measured uses); the answer's status."""
        async def once() -> int:
            async with session.post(url, data=orjson.dumps(body),
                                    headers={"Content-Type": "application/json"}) as answer:
                await answer.read()
                return answer.status

        return await self._retried(once, aiohttp.ClientConnectionError, attempts)

    async def _retried(self, call: Callable[[], Awaitable[T]], failures: type[Exception], attempts: int) -> T:
        for attempt in range(attempts):
            try:
                return await call()
            except failures:
                if attempt == attempts - 1:
                    raise
                self.count += 1
                await asyncio.sleep(0.05 * 2 ** attempt)
        raise AssertionError("unreachable")


async def admin_and_key(api_url: str, password: str, scopes: list[str]) -> tuple[dict[str, str], str]:
    """The bench admin's (`bench-admin`, signed in) Authorization headers, and a new API key with these scopes."""
    async with httpx.AsyncClient(base_url=api_url, timeout=60) as anon:
        token = (await anon.post("/api/auth/login", json={"username": "bench-admin", "password": password})
                 ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        made = await anon.post("/api/auth/api-keys", headers=headers, json={"name": "bench-scanner", "scopes": scopes})
        made.raise_for_status()
        return headers, str(made.json()["key"])


def stop_children(children: list[Any]) -> None:
    """Terminate the component processes a bench started; kill what does not stop within 10 s."""
    for child in children:
        child.terminate()
    for child in children:
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()


def shares(before: dict[str, float], after: dict[str, float], elapsed: float) -> dict[str, float]:
    """Each process's CPU over a phase, in cores (1.0 = one core busy all the time)."""
    return {name: round((after[name] - before[name]) / elapsed, 2) for name in after}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def report(result: dict[str, Any], root: Path, json_only: bool) -> dict[str, Any]:
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode(), flush=True)
    if not json_only:
        print(f"logs and data in {root}", file=sys.stderr)
    return result


async def drained(settings: Settings, timeout: float = 300) -> None:
    """Until the processors and every projection (archive and audit too) caught up: each phase starts quiet."""
    from infra.entry.supervisor import projections_caught_up
    from infra.kafka import group_lag
    from infra.topics import PROCESSOR_INPUTS

    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 2:  # twice in a row: the processors' output lands after their lag reaches zero
        lag = await group_lag(settings.kafka_bootstrap_servers, settings.processor_id, PROCESSOR_INPUTS)
        quiet = quiet + 1 if lag == 0 and await projections_caught_up(settings) else 0
        if time.monotonic() > deadline:
            raise TimeoutError("the pipeline did not drain in time")
        await asyncio.sleep(0.2)


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (components run in sessions of their own, but keep their parent)."""
    parents = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            parent = _parent(proc)
            if parent is not None:
                parents[int(proc.name)] = parent
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 when it is gone)."""
    return _cpu(pid)


def _cpu(pid: int) -> float:
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") if fields else 0.0


def _reaped_cpu(pid: int) -> float:
    """CPU seconds of the children a process has waited for (a PostgreSQL backend whose connection closed)."""
    fields = _stat_fields(pid)
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK") if fields else 0.0


def _stat_fields(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (state first); none when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # gone since it was listed
        return []


def _parent(proc: Path) -> int | None:
    fields = _stat_fields(int(proc.name))
    return int(fields[1]) if fields else None
