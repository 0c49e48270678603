"""What keeps `opsledger up` alive: components restarted with back-off (and given up, loudly, after repeated fast
failures, like supervisord's `startretries`), the embedded database restarted when it dies, the embedded broker
restarted on its port and restored when it dies, and the processors' positions saved only where the archive holds
everything derived before them (so a broker lost at any moment resumes without losing a derived event)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import structlog
from aiokafka import TopicPartition

from infra.entry.embedded import start_broker, start_database
from infra.entry.restore import committed_offsets, save_group_offsets
from infra.entry.stack import Stack, prepare_backbone
from infra.kafka import end_offsets
from infra.outbox import pause
from infra.topics import PROCESSOR_INPUTS, platform_topics

log = structlog.get_logger(__name__)
FAST_S = 10.0  # a component that dies sooner than this after its start failed fast
START_RETRIES = 5  # fast failures in a row before giving up
BACKOFF_MAX_S = 30.0
OPTIONAL = ("demo",)  # a component the platform does not need: given up alone when it keeps failing
BROKER_CLIENTS = ("processors", "pollers", "projections", "notifier")  # stopped while a broker is restored


class GiveUp(RuntimeError):
    """Something failed fast START_RETRIES times in a row: `opsledger up` stops with a FATAL line."""


@dataclass
class Backoff:
    failures: int = 0
    retry_at: float = 0.0

    def failed(self, ran_s: float, now: float) -> float:
        self.failures = self.failures + 1 if ran_s < FAST_S else 1
        delay = min(BACKOFF_MAX_S, 0.5 * 2 ** (self.failures - 1))
        self.retry_at = now + delay
        return delay


@dataclass
class Healer:
    stack: Stack
    backoffs: dict[str, Backoff] = field(default_factory=dict)
    waiting: set[str] = field(default_factory=set)  # components that died and wait for their retry time
    pending_saves: list[tuple[dict[TopicPartition, int], dict[TopicPartition, int]]] = field(default_factory=list)
    archived_at_save: dict[tuple[str, int], int] | None = None  # the archive's positions when positions were saved

    def check(self) -> None:
        """One round: the database, the broker, then the components."""
        self._check_database()
        self._check_broker()
        self._check_children()

    def _check_children(self) -> None:
        now = time.monotonic()
        for name, child in list(self.stack.children.items()):
            code = child.process.poll()
            if code is None:
                continue
            del self.stack.children[name]
            backoff = self.backoffs.setdefault(name, Backoff())
            delay = backoff.failed(now - child.started_at, now)
            log.warning("component.exited", component=name, code=code, restart_in_s=delay,
                        fast_failures=backoff.failures, log=self.stack.log_of(name))
            if backoff.failures >= START_RETRIES and name in OPTIONAL:
                log.error("component.given_up", component=name, log=self.stack.log_of(name))
                continue  # the platform runs on without it
            if backoff.failures >= START_RETRIES:
                raise GiveUp(f"{name} failed {backoff.failures} times within {FAST_S:g} s of starting; "
                             f"see {self.stack.log_of(name)}")
            self.waiting.add(name)
        for name in sorted(self.waiting):
            if now >= self.backoffs[name].retry_at:
                self.waiting.discard(name)
                self.stack.spawn(name)

    def _check_database(self) -> None:
        database = self.stack.database
        if database is None or database.alive():
            return
        backoff = self.backoffs.setdefault("postgres", Backoff())
        if time.monotonic() < backoff.retry_at:
            return
        log.error("database.died", data_dir=str(database.data_dir))
        started = time.monotonic()
        try:
            self.stack.database = start_database(database.data_dir)
            log.warning("database.restarted", seconds=round(time.monotonic() - started, 2))
            backoff.failures = 0
        except Exception as e:  # noqa: BLE001 - it may not start at once (the disk, a port): back off and retry
            delay = backoff.failed(0.0, time.monotonic())
            log.error("database.restart_failed", error=str(e)[:300], retry_in_s=delay)
            if backoff.failures >= START_RETRIES:
                raise GiveUp(f"PostgreSQL did not start again after {backoff.failures} tries: {e}") from e

    def _check_broker(self) -> None:
        broker = self.stack.broker
        if broker is None or broker.process.poll() is None:
            return
        log.error("broker.died", code=broker.process.returncode, bootstrap=broker.bootstrap)
        backoff = self.backoffs.setdefault("broker", Backoff())
        if backoff.failures >= START_RETRIES:
            raise GiveUp(f"the broker died {backoff.failures} times within {FAST_S:g} s of starting")
        self.recover_broker()

    def recover_broker(self) -> None:
        """A new broker on the same port, its log restored before any other client may write to it: the relay is
        paused (commands keep being recorded in the outbox), the broker's clients are stopped, and the API's
        producer has given up whatever it had in flight."""
        s, broker = self.stack.settings, self.stack.broker
        assert broker is not None
        started = time.monotonic()
        running = tuple(name for name in BROKER_CLIENTS if name in self.stack.children)
        self.stack.stop_children(running, timeout=5)
        if not asyncio.run(pause(s.database_url, True, "broker restart")):
            log.warning("broker.relay_not_idle", note="the API's relay did not confirm the pause; restoring anyway")
        port = int(broker.bootstrap.rsplit(":", 1)[1])
        self.stack.broker = start_broker(port=port, log_path=s.data_dir / "logs" / "broker.log")
        asyncio.run(prepare_backbone(self.stack))
        asyncio.run(pause(s.database_url, False))
        for name in running:
            self.stack.spawn(name)
        self.backoffs.setdefault("broker", Backoff()).failed(time.monotonic() - started, time.monotonic())
        log.warning("broker.recovered", seconds=round(time.monotonic() - started, 2))

    def save_positions(self, only_if_moved: bool = False) -> None:
        """Save Faust's committed offsets once the archive holds every record that was in the broker when they were
        read: Faust flushes what an input derived before it commits the input, so those are in the archive too.
        `only_if_moved`: not while the archive stands where it stood at the last save and no save waits for it (an
        idle stack: the saved positions are still a consistent pair, and the round trips cost the broker two new
        clients every few seconds)."""
        s = self.stack.settings
        if self.stack.broker is None:
            return
        if only_if_moved and not self.pending_saves and self.archived_at_save is not None \
                and asyncio.run(_archive_positions(s.database_url)) == self.archived_at_save:
            return
        committed, ends = asyncio.run(_positions_and_ends(s.kafka_bootstrap_servers, s.processor_id))
        self.pending_saves.append((committed, ends))
        archived = asyncio.run(_archive_positions(s.database_url))
        ready = [i for i, (_, ends) in enumerate(self.pending_saves)
                 if all(archived.get((tp.topic, tp.partition), 0) >= end for tp, end in ends.items())]
        if ready:
            asyncio.run(save_group_offsets(s.database_url, s.processor_id, self.pending_saves[ready[-1]][0]))
            del self.pending_saves[: ready[-1] + 1]
            self.archived_at_save = archived
        del self.pending_saves[:-10]  # the archive far behind: keep the newest candidates only

async def _positions_and_ends(bootstrap: str, group_id: str
                              ) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    committed = await committed_offsets(bootstrap, group_id, PROCESSOR_INPUTS)
    return committed, await end_offsets(bootstrap, platform_topics(group_id))


async def _archive_positions(database_url: str) -> dict[tuple[str, int], int]:
    import psycopg

    async with await psycopg.AsyncConnection.connect(database_url, connect_timeout=5) as conn:
        rows = await (await conn.execute(
            "SELECT topic, partition, next_offset FROM projection_offsets WHERE projection = 'archive'")).fetchall()
    return {(topic, partition): offset for topic, partition, offset in rows}
