"""Real SNMP agents for tests: snmpsim-command-responder serving infra/bench/snmpdata/*.snmprec on 127.0.0.1.

Each community (SNMPv2c) and each SNMPv3 context name is the file name without `.snmprec`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

FIXTURES = Path(__file__).parent / "snmpdata"
V3_USER = "opsledger"
V3_AUTH_KEY = "auth-secret-123"
V3_PRIV_KEY = "priv-secret-456"
SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)


@dataclass(frozen=True)
class Agent:
    host: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path


def free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _get_request(community: str) -> bytes:
    """A BER-encoded SNMPv2c GET of sysUpTime.0 (built by hand: the helper needs no event loop)."""

    def tlv(tag: int, body: bytes) -> bytes:
        assert len(body) < 128
        return bytes([tag, len(body)]) + body

    oid = bytes([0x2B, 6, 1, 2, 1, 1, 3, 0])
    varbind = tlv(0x30, tlv(0x06, oid) + b"\x05\x00")
    pdu = tlv(0xA0, tlv(0x02, b"\x01") + tlv(0x02, b"\x00") + tlv(0x02, b"\x00") + tlv(0x30, varbind))
    return tlv(0x30, tlv(0x02, b"\x01") + tlv(0x04, community.encode()) + pdu)


def _answers(host: str, port: int, community: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.3)
        sock.sendto(_get_request(community), (host, port))
        try:
            return bool(sock.recv(4096))
        except OSError:
            return False


def start_agent(data_files: Sequence[str] | Mapping[str, str | Path], *, host: str = "127.0.0.1",
                port: int | None = None, workdir: Path | None = None, timeout_s: float = 30.0, log_level: str = "info",
                own_variations: bool = False) -> Agent:
    """Start snmpsim serving the named fixtures (plus an SNMPv3 user); return once it answers.

    `data_files` names fixtures, each served under its own name, or maps community names to fixtures
    (many simulated devices from one recording) or to .snmprec files of the caller's. `own_variations` adds our
    variation modules (snmpdata/variation, e.g. `daily`) to snmpsim's own.
    """
    communities = dict(data_files) if isinstance(data_files, Mapping) else {name: name for name in data_files}
    root = Path(tempfile.mkdtemp(prefix="snmpsim-", dir=workdir))
    data_dir, cache_dir = root / "data", root / "cache"
    data_dir.mkdir()
    cache_dir.mkdir()
    for community, fixture in communities.items():
        source = fixture if isinstance(fixture, Path) else FIXTURES / f"{fixture}.snmprec"
        shutil.copy(source, data_dir / f"{community}.snmprec")
    port = port or free_udp_port(host)
    log_path = root / "snmpsim.log"
    command = [
        str(Path(sys.executable).parent / "snmpsim-command-responder"),
        f"--data-dir={data_dir}", f"--cache-dir={cache_dir}", f"--agent-udpv4-endpoint={host}:{port}",
        f"--v3-user={V3_USER}", f"--v3-auth-key={V3_AUTH_KEY}", "--v3-auth-proto=SHA256",
        f"--v3-priv-key={V3_PRIV_KEY}", "--v3-priv-proto=AES", f"--logging-method=file:{log_path}",
        f"--log-level={log_level}",
    ]
    if own_variations:
        import snmpsim

        command += [f"--variation-modules-dir={Path(snmpsim.__file__).parent / 'variation'}",
                    f"--variation-modules-dir={FIXTURES / 'variation'}"]
    env = {**os.environ, "SNMPSIM_ALLOW_ROOT": "true"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    agent = Agent(host, port, process, log_path)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"snmpsim exited with {process.returncode}; see {log_path}")
        if _answers(host, port, next(iter(communities))):
            return agent
        time.sleep(0.1)
    stop_agent(agent)
    raise RuntimeError(f"snmpsim did not answer on {host}:{port} within {timeout_s} s; see {log_path}")


def stop_agent(agent: Agent) -> None:
    agent.process.terminate()
    try:
        agent.process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        agent.process.kill()
        agent.process.wait()


@contextmanager
def running_agent(data_files: Sequence[str] | Mapping[str, str | Path], **kwargs: object) -> Iterator[Agent]:
    agent = start_agent(data_files, **kwargs)  # type: ignore[arg-type]
    try:
        yield agent
    finally:
        stop_agent(agent)
