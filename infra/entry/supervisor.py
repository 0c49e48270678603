"""`opsledger up`: embedded broker and database, restore, then the components as child processes.

Stopping (Ctrl-C or SIGTERM) is ordered so nothing is lost: the API stops taking commands, the processors
drain and commit, their positions are saved, the projections (the archive among them) catch up, and only
then do the broker and database stop.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import psycopg
import structlog

from infra.entry.embedded import (
    EmbeddedBroker,
    EmbeddedDatabase,
    die_with_parent,
    free_port,
    start_broker,
    start_database,
)
from infra.entry.restore import clamp_projections, restore_broker, restore_group_offsets, save_group_offsets
from infra.kafka import end_offsets, group_lag
from infra.secrets import new_key, secret_file
from infra.settings import Settings, env_names
from infra.topics import PROCESSOR_INPUTS, internal_topics, platform_topics
from projections.catalog import all_projections, applied_offsets, lag_of

log = structlog.get_logger(__name__)
COMPONENTS = ("projections", "processors", "api", "pollers")


def components(settings: Settings) -> tuple[str, ...]:
    """The notifier runs when a notification channel is configured (OPSLEDGER_NOTIFY_SMTP_HOST or _WEBHOOK_URL)."""
    notify = settings.notify
    return COMPONENTS + (("notifier",) if notify.smtp_host or notify.webhook_url else ())


@dataclass
class Stack:
    settings: Settings
    env: dict[str, str]
    broker: EmbeddedBroker | None = None
    database: EmbeddedDatabase | None = None
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://{self.settings.api_host}:{self.settings.api_port}"

    def spawn(self, name: str) -> None:
        logs = self.settings.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / f"{name}.log", "ab") as out:
            self.children[name] = subprocess.Popen([sys.executable, "-m", "infra.entry.cli", name], env=self.env,
                                                   stdout=out, stderr=subprocess.STDOUT,
                                                   start_new_session=True,  # Ctrl-C reaches only us
                                                   preexec_fn=die_with_parent)

    def stop_child(self, name: str, timeout: float = 20) -> None:
        proc = self.children.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("component.killed", component=name, after_s=timeout)
            proc.kill()
            proc.wait()


def start_backbone(settings: Settings) -> Stack:
    """Start what is not given by KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, restore the embedded broker."""
    stack = Stack(settings, env=dict(os.environ))
    data = settings.data_dir.resolve()
    if not settings.database_url:
        stack.database = start_database(data / "pg")
        stack.env["DATABASE_URL"] = stack.database.url
    if not settings.kafka_bootstrap_servers:
        (data / "logs").mkdir(parents=True, exist_ok=True)
        stack.broker = start_broker(log_path=data / "logs" / "broker.log")
        stack.env["KAFKA_BOOTSTRAP_SERVERS"] = stack.broker.bootstrap
    if settings.jwt_secret is None:
        stack.env["OPSLEDGER_JWT_SECRET"] = secret_file(data, "jwt-secret", lambda: secrets.token_urlsafe(48))
    if settings.secrets_keys is None:
        stack.env["OPSLEDGER_SECRETS_KEYS"] = secret_file(data, "secrets-key", new_key)
    if settings.api_port == 0:
        stack.env["OPSLEDGER_API_PORT"] = str(free_port())
    stack.env["OPSLEDGER_DATA_DIR"] = str(data)
    stack.settings = Settings.model_validate({k: v for k, v in stack.env.items() if k in env_names()})
    asyncio.run(_prepare(stack))
    return stack


async def _prepare(stack: Stack) -> None:
    from infra.entry.components import prepare

    await prepare(stack.settings)
    if stack.broker is not None:
        s = stack.settings
        await restore_broker(s.kafka_bootstrap_servers, s.database_url, s.archive_dir)
        await clamp_projections(s.database_url, s.archive_dir)
        await restore_group_offsets(s.kafka_bootstrap_servers, s.database_url)


def wait_http(url: str, timeout: float = 60, alive: Callable[[], bool] = lambda: True) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"a component exited before {url} answered; see {url} logs")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:g} s")


def start_components(stack: Stack) -> None:
    for name in components(stack.settings):
        stack.spawn(name)
    wait_http(f"{stack.api_url}/healthz", alive=lambda: all(p.poll() is None for p in stack.children.values()))


async def _drained(stack: Stack) -> bool:
    return await projections_caught_up(stack.settings)


async def projections_caught_up(s: Settings) -> bool:
    """True when every projection applied every record of its topics written so far."""
    ends = await end_offsets(s.kafka_bootstrap_servers, platform_topics(s.processor_id))
    async with await psycopg.AsyncConnection.connect(s.database_url) as conn:
        applied = await applied_offsets(conn)
    return not any(lag_of(all_projections(s.processor_id), ends, applied).values())


async def _processors_drained(stack: Stack) -> bool:
    """Inputs and the internal topics the agents pass work through (alert observations and ticks, cylinder checks):
    those are not archived, so what is in them at a stop must be processed first."""
    s = stack.settings
    return await group_lag(s.kafka_bootstrap_servers, s.processor_id,
                           (*PROCESSOR_INPUTS, *internal_topics(s.processor_id))) == 0


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as e:  # a transient broker or database error while stopping: try again
            log.debug("stop.check_failed", what=what, error=str(e))
        time.sleep(0.2)
    log.warning("stop.timeout", what=what, after_s=timeout)


def save_positions(stack: Stack) -> None:
    if stack.broker is not None:
        s = stack.settings
        asyncio.run(save_group_offsets(s.kafka_bootstrap_servers, s.database_url, s.processor_id, PROCESSOR_INPUTS))


def shutdown(stack: Stack) -> None:
    """Ordered stop: API and pollers, then processors once drained, then projections once caught up, then the
    backbone."""
    stack.stop_child("api")
    stack.stop_child("pollers")
    _wait(lambda: asyncio.run(_processors_drained(stack)), 30, "processors to drain")
    stack.stop_child("processors")
    stack.stop_child("notifier")  # no drain needed: it resumes from its own offsets and delivery journal
    save_positions(stack)
    _wait(lambda: asyncio.run(_drained(stack)), 60, "projections to catch up")
    stack.stop_child("projections")
    if stack.broker is not None:
        stack.broker.stop()
    if stack.database is not None:
        stack.database.stop()
    log.info("stack.stopped")


def supervise(stack: Stack, stop: Callable[[], bool], save_every_s: float = 5.0) -> None:
    """Restart a component that died, save consumer positions now and then, until asked to stop."""
    last_save = time.monotonic()
    while not stop():
        for name, proc in list(stack.children.items()):
            if proc.poll() is not None:
                log.warning("component.exited", component=name, code=proc.returncode,
                            log=str(stack.settings.data_dir / "logs" / f"{name}.log"))
                stack.spawn(name)
        if time.monotonic() - last_save > save_every_s:
            try:
                save_positions(stack)
            except Exception as e:  # best effort between clean stops
                log.warning("positions.save_failed", error=str(e))
            last_save = time.monotonic()
        time.sleep(0.2)

