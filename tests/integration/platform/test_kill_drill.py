"""Kill drill: SIGKILL the projection process at random points while 20,000+ events flow; after restarts the
read models equal the expected state exactly (nothing lost, nothing applied twice)."""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from infra.producer import EventProducer
from tests.helpers.support import Backbone, Component, own_broker, wait_until
from tests.integration.platform.drill_events import drill_rounds


@pytest.fixture()
def isolated(backbone: Backbone, tmp_path: Path) -> Iterator[Backbone]:
    """A broker and a database of the drill's own, so the shared stack's projections stay out of it."""
    name = f"drill_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(backbone.database_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    with own_broker(make_conninfo(backbone.database_url, dbname=name), tmp_path) as own:
        yield own


async def produce(bootstrap: str, rounds: list[list],  # type: ignore[type-arg]
                  hold: Callable[[int], Awaitable[None]]) -> int:
    producer = EventProducer(bootstrap, linger_ms=2)
    await producer.start()
    sent = 0
    try:
        for events in rounds:
            for start in range(0, len(events), 200):
                await producer.emit_many(events[start:start + 200])
                sent += len(events[start:start + 200])
                await asyncio.sleep(0.03)
                await hold(sent)
    finally:
        await producer.stop()
    return sent


def test_projection_killed_at_random_points_ends_exactly_right(isolated: Backbone, tmp_path: Path) -> None:
    rounds, expected, distinct = drill_rounds(readings=9000)
    total = sum(len(r) for r in rounds)
    assert total >= 20_000
    env = isolated.env(tmp_path)
    projection = Component("projections", ["projections", "ingress", "archive"], env, tmp_path / "projections.log")
    projection.start()
    kills: list[int] = []  # archive progress at each kill
    producing_done = threading.Event()

    def killer() -> None:
        """After each restart, wait until the projection applied something new, then kill it at a random moment."""
        rng = random.Random(5)
        with psycopg.connect(isolated.database_url, autocommit=True) as conn:
            def applied() -> int:
                return conn.execute("SELECT count(*) FROM event_archive").fetchone()[0]  # type: ignore[index]

            while len(kills) < 5:
                before = applied()
                deadline = time.monotonic() + 30
                while applied() == before and time.monotonic() < deadline:
                    time.sleep(0.02)
                if before >= total or (producing_done.is_set() and applied() >= total):
                    return
                time.sleep(rng.uniform(0.0, 0.4))
                projection.kill()
                kills.append(applied())
                projection.start()

    deadline = time.monotonic() + 180  # for all the holding together

    async def hold(sent: int) -> None:
        """Hold the rest back until the killer has killed the projection once per quarter produced, so at least three
        kills land mid-stream however fast the projection catches up (a fast run once left only two)."""
        while len(kills) < min(3, sent * 4 // total) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        sent = asyncio.run(produce(isolated.bootstrap, rounds, hold))
    finally:
        producing_done.set()
        thread.join(timeout=180)
    assert sent == total
    mid_stream = [at for at in kills if 0 < at < total]
    assert len(mid_stream) >= 3, f"the drill must kill the projection mid-stream; progress at kills: {kills}"
    if not projection.alive():
        projection.start()

    with psycopg.connect(isolated.database_url, autocommit=True) as conn:
        def archived() -> bool:
            return conn.execute("SELECT count(*) FROM event_archive").fetchone()[0] == total  # type: ignore[index]

        wait_until(archived, timeout=120, what="the archive to hold every record once")
        wait_until(lambda: conn.execute("SELECT count(*) FROM ingress_reading_history").fetchone()[0] == distinct,
                   timeout=60, what="the history to hold every distinct reading event")
        rows = conn.execute("SELECT id, version, retracted, level_dbmv FROM ingress_readings").fetchall()
        archive_dupes = conn.execute('SELECT count(*) FROM (SELECT topic, partition, "offset" FROM event_archive'
                                     ' GROUP BY 1, 2, 3 HAVING count(*) > 1) d').fetchone()
        verdicts = conn.execute("SELECT count(*) FROM ingress_limit_exceeded").fetchone()
        applied = conn.execute("SELECT count(*) FROM ingress_reading_history WHERE applied").fetchone()
    projection.stop()

    actual = {r[0]: (r[1], r[2], r[3]) for r in rows}
    assert len(actual) == len(expected)
    mismatches = {rid: (actual.get(rid), (e.version, e.retracted, e.level_dbmv))
                  for rid, e in expected.items() if actual.get(rid) != (e.version, e.retracted, e.level_dbmv)}
    assert not mismatches, f"{len(mismatches)} readings differ, e.g. {list(mismatches.items())[:3]}"
    assert archive_dupes == (0,)
    assert verdicts == (len(rounds[-1]),)
    assert applied == (sum(e.version for e in expected.values()),)  # one applied event per version reached
