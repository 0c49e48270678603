"""The analytics agent keeps its working states decoded between checkpoints (processors/analytics/agents.py `live`).
Played through the agent's own fold and checkpoint code with stand-ins for the Faust table and topics (the one
part that needs a broker): the events derived, the states written to the changelog and the states left in the
store must be what the agent derived when it encoded every state at every fold."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from infra.settings import Settings
from processors.analytics.agents import AnalyticsAgents
from processors.analytics.machine import SeriesState
from schemas.analytics.events import MetricPoint, MetricPointsSubmitted
from schemas.catalog import REGISTRY
from schemas.envelope import Envelope

SOURCE = ("analytics.points", 3)
START = datetime(2026, 11, 1, tzinfo=UTC)


class Table:
    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.changelog: list[tuple[int, bytes, bytes]] = []

    def send_changelog(self, partition: int, key: bytes, value: bytes) -> None:
        self.changelog.append((partition, key, value))


class App:
    def __init__(self) -> None:
        self.table = Table()
        self.producer = self

    def Table(self, *args: Any, **kwargs: Any) -> Table:  # noqa: N802  # faust.App.Table
        return self.table

    async def flush(self) -> None:
        return None


class Topic:
    def __init__(self) -> None:
        self.sent: list[Envelope] = []

    async def send(self, *, key: bytes, value: Envelope) -> None:
        self.sent.append(value)


def inputs(count: int, seed: int) -> list[Envelope]:
    rng = random.Random(seed)
    made, clock = [], dict.fromkeys(("ml/a/x", "ml/b/y", "ml/c/z"), 0)
    for _ in range(count):
        series = rng.choice(list(clock))
        points = []
        for _ in range(rng.randint(1, 4)):
            clock[series] += rng.randint(1, 90)
            points.append(MetricPoint(t=START + timedelta(seconds=clock[series]), value=rng.gauss(10, 2)))
        made.append(REGISTRY.event(MetricPointsSubmitted(series=series, points=tuple(points)), subject=series,
                                   source="test"))
    return made


def play(feed: list[Envelope], *, encode_every_fold: bool) -> tuple[AnalyticsAgents, Topic, Table]:
    app, out = App(), Topic()
    agents = AnalyticsAgents(app, Settings(), outputs=defaultdict(lambda: out), requests=None)  # type: ignore[arg-type]

    async def run() -> None:
        for start in range(0, len(feed), 7):  # batches, as take_events hands them over
            for offset in range(start, min(start + 7, len(feed))):
                await agents.fold(SOURCE, offset, feed[offset])
                if encode_every_fold:
                    agents.store_live()  # what the agent did before it kept states decoded
            await agents.write_checkpoints()
    asyncio.run(run())
    return agents, out, app.table


def test_decoded_states_derive_and_write_what_encoding_at_every_fold_did() -> None:
    feed = inputs(300, seed=5)
    kept, kept_out, kept_table = play(feed, encode_every_fold=False)
    encoded, encoded_out, encoded_table = play(feed, encode_every_fold=True)
    assert [(e.event_id, e.data) for e in kept_out.sent] == [(e.event_id, e.data) for e in encoded_out.sent]
    assert kept_table.changelog == encoded_table.changelog and kept_table.changelog
    kept.store_live()
    assert kept_table.data == encoded_table.data


def test_a_written_state_leaves_memory_and_a_move_of_partitions_stores_the_rest() -> None:
    agents, _, table = play(inputs(40, seed=9), encode_every_fold=False)
    written = {key for _, key, _ in table.changelog}
    assert written and not written & agents.live.keys()  # what a checkpoint wrote is not held twice
    assert agents.live  # folds since the last write of their series
    unwritten = {key: state.encode() for key, state in agents.live.items()}
    agents.on_revoked(None, [])
    assert not agents.live and all(table.data[key] == raw for key, raw in unwritten.items())
    assert all(SeriesState.decode(raw).source == f"{SOURCE[0]}:{SOURCE[1]}" for raw in unwritten.values())
