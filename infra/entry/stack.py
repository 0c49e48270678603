"""The stack `opsledger up` runs: the embedded broker and database (or the external ones named by
KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL), and the components as child processes, each restarted with back-off."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

import orjson
import structlog

from infra.entry.embedded import (
    EmbeddedBroker,
    EmbeddedDatabase,
    die_with_parent,
    free_port,
    start_broker,
    start_database,
)
from infra.entry.restore import clamp_projections, restore_broker, restore_group_offsets
from infra.outbox import unsent_after_restore
from infra.secrets import new_key, secret_file
from infra.settings import Settings, env_names

log = structlog.get_logger(__name__)
COMPONENTS = ("projections", "processors", "api", "pollers")


def components(settings: Settings) -> tuple[str, ...]:
    """The notifier runs when a notification channel is configured (OPSLEDGER_NOTIFY_SMTP_HOST or _WEBHOOK_URL)."""
    notify = settings.notify
    return COMPONENTS + (("notifier",) if notify.smtp_host or notify.webhook_url else ())


@dataclass
class Child:
    process: subprocess.Popen[bytes]
    started_at: float


@dataclass
class Stack:
    settings: Settings
    env: dict[str, str]
    broker: EmbeddedBroker | None = None
    database: EmbeddedDatabase | None = None
    children: dict[str, Child] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://{self.settings.api_host}:{self.settings.api_port}"

    def log_of(self, name: str) -> str:
        return str(self.settings.data_dir / "logs" / f"{name}.log")

    def spawn(self, name: str) -> None:
        logs = self.settings.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / f"{name}.log", "ab") as out:
            process = subprocess.Popen([sys.executable, "-m", "infra.entry.cli", name], env=self.env, stdout=out,
                                       stderr=subprocess.STDOUT,
                                       start_new_session=True,  # Ctrl-C reaches only us
                                       preexec_fn=die_with_parent)
        self.children[name] = Child(process, time.monotonic())

    def stop_children(self, names: tuple[str, ...], timeout: float = 20) -> None:
        """SIGTERM them together, wait up to `timeout`, then SIGKILL what is left."""
        stopping = {name: self.children.pop(name) for name in names if name in self.children}
        for child in stopping.values():
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for name, child in stopping.items():
            try:
                child.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("component.killed", component=name, after_s=timeout)
                child.process.kill()
                child.process.wait()

    def stop_child(self, name: str, timeout: float = 20) -> None:
        self.stop_children((name,), timeout)


def start_backbone(settings: Settings) -> Stack:
    """Start what is not given by KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, restore the embedded broker."""
    stack = Stack(settings, env=dict(os.environ))
    try:
        _start_backbone(stack)
    except BaseException:
        if stack.broker is not None:
            stack.broker.stop()
        if stack.database is not None:
            stack.database.stop()
        raise
    return stack


def _start_backbone(stack: Stack) -> None:
    settings = stack.settings
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
    asyncio.run(prepare_backbone(stack))
    write_stack_file(stack)


def write_stack_file(stack: Stack) -> None:
    """Where this stack's broker, database and API are, for tools run beside it (`opsledger replay`, `backup`);
    readable by the owner only (the database URL needs no password here, but says where the data is)."""
    s = stack.settings
    path = s.data_dir / "stack.json"
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(orjson.dumps({"pid": os.getpid(), "kafka_bootstrap_servers": s.kafka_bootstrap_servers,
                                "database_url": s.database_url, "api_url": stack.api_url}))


async def prepare_backbone(stack: Stack) -> None:
    """Migrations and topics; with the embedded broker, its log restored from the archive, what the archive never
    got sent again from the outbox, projections ahead of the archive clamped back and Faust's positions restored."""
    from infra.entry.components import prepare

    await prepare(stack.settings)
    if stack.broker is not None:
        s = stack.settings
        await restore_broker(s.kafka_bootstrap_servers, s.database_url, s.archive_dir)
        await clamp_projections(s.database_url, s.archive_dir)
        await restore_group_offsets(s.kafka_bootstrap_servers, s.database_url)
        await unsent_after_restore(s.database_url)
