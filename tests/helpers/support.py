"""Helpers shared by integration and e2e tests: the backbone, component processes, waiting."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from infra.entry.embedded import free_port

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]


def wait_until(check: Callable[[], T], timeout: float = 20.0, interval: float = 0.05, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except Exception as e:  # the thing waited for may not exist yet
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}; last: {last!r}")


JWT_SECRET = secrets.token_urlsafe(48)  # one per test run
ADMIN_PASSWORD = secrets.token_urlsafe(24)
SECRETS_KEY = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()  # a Fernet key, one per test run


@dataclass
class Backbone:
    bootstrap: str
    database_url: str

    def env(self, data_dir: Path, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPSLEDGER_", "KAFKA_", "DATABASE_"))}
        env.update(KAFKA_BOOTSTRAP_SERVERS=self.bootstrap, DATABASE_URL=self.database_url,
                   OPSLEDGER_DATA_DIR=str(data_dir), OPSLEDGER_LOG_LEVEL="INFO",
                   OPSLEDGER_KAFKA_SESSION_TIMEOUT_S="2", OPSLEDGER_JWT_SECRET=JWT_SECRET, PYTHONUNBUFFERED="1",
                   OPSLEDGER_SECRETS_KEYS=SECRETS_KEY,
                   # one admin from one address drives the whole suite, bad credentials included: the limits are
                   # tested on APIs of their own (test_rate_limits, test_abuse_limits)
                   OPSLEDGER_CLIENT_RATE="100000/minute", OPSLEDGER_ADDRESS_RATE="1000000/minute",
                   OPSLEDGER_AUTH_FAILURE_RATE="100000/minute", OPSLEDGER_LOGIN_FAILURE_RATE="100000/minute",
                   OPSLEDGER_ACCOUNT_LOGIN_BACKOFF="100000/minute",
                   # streams are re-checked every second; many per user (the matrix opens one per topic)
                   OPSLEDGER_STREAM_RECHECK_S="1", OPSLEDGER_STREAM_MAX_PER_PRINCIPAL="1000",
                   # the simulated agents and cameras listen on loopback, which outbound probes refuse by default
                   OPSLEDGER_OUTBOUND_ALLOW_NETWORKS="127.0.0.0/8,::1/128")
        env.update(extra)
        return env


@dataclass
class Component:
    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    log_start: int = 0  # where this run's output begins in the log (a restarted component appends)

    def start(self) -> Component:
        self.log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "infra.entry.cli", *self.args], env=self.env,
                                            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 20) -> None:
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def this_run(self) -> str:
        """The log since the last start."""
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as f:
            f.seek(self.log_start)
            return f.read().decode(errors="replace")


@dataclass
class Stack:
    """The components of the system running as real processes against a backbone."""

    backbone: Backbone
    data_dir: Path
    api_port: int
    components: dict[str, Component] = field(default_factory=dict)

    admin: tuple[str, str] | None = None  # username, password
    extra_env: dict[str, str] = field(default_factory=dict)
    _token: tuple[str, float] = ("", 0.0)  # access token, when it was issued (monotonic)

    @property
    def admin_token(self) -> str:
        """The admin's access token, signed in again before it expires (15 minutes): a slow run outlives one."""
        token, issued = self._token
        if self.admin is not None and (not token or time.monotonic() - issued > 600):
            self._token = (self.login(*self.admin), time.monotonic())
        return self._token[0]

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def login(self, username: str, password: str) -> str:
        answer = httpx.post(f"{self.api_url}/api/auth/login", json={"username": username, "password": password},
                            timeout=15)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    def user(self, role: str) -> dict[str, str]:
        """Headers of a new user with `role` (created by the admin through the API)."""
        username, password = f"{role}-{secrets.token_hex(4)}", secrets.token_urlsafe(16)
        made = httpx.post(f"{self.api_url}/api/auth/users", headers=bearer(self.admin_token), timeout=15,
                          json={"username": username, "password": password, "role": role})
        assert made.status_code == 201, made.text
        return bearer(self.login(username, password))

    def client(self, **kwargs: Any) -> httpx.Client:
        """An HTTP client signed in as the admin (its token renewed as needed)."""
        return httpx.Client(base_url=self.api_url, auth=AdminAuth(self), **{"timeout": 15, **kwargs})

    def env(self) -> dict[str, str]:
        return self.backbone.env(self.data_dir, OPSLEDGER_API_PORT=str(self.api_port), **self.extra_env)

    def start(self, name: str, *args: str) -> Component:
        (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        component = Component(name, list(args or [name]), self.env(), self.data_dir / "logs" / f"{name}.log")
        self.components[name] = component.start()
        return component

    def stop_all(self) -> None:
        for component in self.components.values():
            component.stop()


@contextmanager
def running_stack(backbone: Backbone, data_dir: Path, names: tuple[str, ...] = ("projections", "processors", "api"),
                  api_port: int | None = None, **env: str) -> Iterator[Stack]:
    stack = Stack(backbone, data_dir, api_port or free_port(), extra_env=env)
    try:
        for name in names:
            stack.start(name)
        if "api" in names:
            def healthy() -> bool:
                if not stack.components["api"].alive():
                    raise AssertionError("api exited:\n" + stack.components["api"].log()[-3000:])
                return httpx.get(f"{stack.api_url}/healthz", timeout=1).status_code == 200
            wait_until(healthy, timeout=180, what="the API to answer /healthz")  # slow on a loaded 2-core box
            stack.admin = ensure_admin(backbone)
            assert stack.admin_token
        if "projections" in names:
            wait_until(lambda: projections_assigned(stack.components["projections"]), timeout=180,
                       what="every projection to take its partitions")
        yield stack
    finally:
        stack.stop_all()


def projections_assigned(component: Component) -> bool:
    """Whether every projection of a default `projections` process has taken its partitions. Until then a write
    made with ?wait=true can time out (504, as designed) on a loaded box where the stack is still starting."""
    from projections.catalog import all_projections

    if not component.alive():
        raise AssertionError("projections exited:\n" + component.log()[-3000:])
    return component.this_run().count("projection.assigned") >= len(all_projections("opsledger-processors"))


class AdminAuth(httpx.Auth):
    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        request.headers["Authorization"] = f"Bearer {self.stack.admin_token}"
        yield request


def lags(admin: httpx.Client) -> dict[str, int]:
    """Every projection's lag, and the processors' under "processors", from /metrics (admin's; /readyz says only
    whether the API is ready)."""
    found: dict[str, int] = {}
    for line in admin.get("/metrics").text.splitlines():
        if line.startswith("opsledger_projection_lag{"):
            found[line.split('projection="', 1)[1].split('"', 1)[0]] = int(float(line.rsplit(" ", 1)[1]))
        elif line.startswith("opsledger_processor_lag "):
            found["processors"] = int(float(line.rsplit(" ", 1)[1]))
    return found


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ensure_admin(backbone: Backbone) -> tuple[str, str]:
    """The test run's admin, created the way an operator would (the bootstrap path of `opsledger users create`)."""
    from api.identity.bootstrap import create_user
    from api.identity.store import UsernameTaken

    try:
        asyncio.run(create_user(backbone.database_url, "test-admin", ADMIN_PASSWORD, "admin"))
    except UsernameTaken:
        pass
    return "test-admin", ADMIN_PASSWORD


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@contextmanager
def own_broker(database_url: str, root: Path) -> Iterator[Backbone]:
    """A broker of its own on the given database, prepared (topics, migrations): what a test produces there stays
    out of every other test's consumers, and theirs out of its own."""
    from infra.entry.components import prepare
    from infra.entry.embedded import start_broker
    from infra.settings import Settings

    broker = start_broker(log_path=root / "broker.log")
    try:
        backbone = Backbone(broker.bootstrap, database_url)
        asyncio.run(prepare(Settings.model_validate({"KAFKA_BOOTSTRAP_SERVERS": backbone.bootstrap,
                                                     "DATABASE_URL": backbone.database_url})))
        yield backbone
    finally:
        broker.stop()


@contextmanager
def own_backbone(root: Path) -> Iterator[Backbone]:
    """A broker and a database of its own, prepared (topics, migrations): for tests that need other settings for
    the processors, or that may leave the log in a state other tests should not see."""
    from infra.entry.embedded import start_database

    database = start_database(root / "pg")
    try:
        with own_broker(database.url, root) as backbone:
            yield backbone
    finally:
        database.stop()
