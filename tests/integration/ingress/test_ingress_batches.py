"""The ingress projection folds the same records to the same tables whatever the batch boundaries: one record per
batch (a live projection keeping up), everything at once (a replay), or record by record in savepoints of one
transaction (the runner isolating a poison record). Redeliveries inside one batch included."""

from __future__ import annotations

import asyncio
import random
import uuid

import psycopg
from psycopg import sql

from projections.ingress.projection import IngressProjection
from projections.records import Record
from schemas.catalog import REGISTRY
from tests.helpers.support import Backbone
from tests.integration.platform.drill_events import drill_rounds

TABLES = ("ingress_readings", "ingress_reading_history", "ingress_limit_exceeded")


def as_records(rounds: list[list[object]]) -> list[Record]:
    events = [e for batch in rounds for e in batch]
    return [Record("ingress.readings", 0, offset, 0, None, REGISTRY.encode(e), (), e)  # type: ignore[arg-type]
            for offset, e in enumerate(events)]


async def fold(database_url: str, records: list[Record], batches: list[int], suffix: str,
               isolated: bool = False) -> dict[str, list[object]]:
    tables = {t: sql.Identifier(f"{t}_{suffix}") for t in TABLES}
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        for table, fresh in tables.items():
            await conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(fresh, sql.Identifier(table)))
        start = 0
        for size in batches:
            async with conn.transaction():
                if isolated:  # what the runner does after a batch failed: a savepoint per record, one transaction
                    for record in records[start:start + size]:
                        async with conn.transaction():
                            await IngressProjection().apply(conn, [record], tables)
                else:
                    await IngressProjection().apply(conn, records[start:start + size], tables)
            start += size
        found = {}
        for table, fresh in tables.items():
            order = "event_id" if table == "ingress_reading_history" else "1, 2"
            found[table] = await (await conn.execute(
                sql.SQL("SELECT * FROM {} ORDER BY " + order).format(fresh))).fetchall()
            await conn.execute(sql.SQL("DROP TABLE {}").format(fresh))
        return found  # type: ignore[return-value]


def test_batch_boundaries_do_not_change_the_read_model(backbone: Backbone) -> None:
    rounds, _, _ = drill_rounds(readings=300, seed=41)
    records = as_records(rounds)  # type: ignore[arg-type]
    rng = random.Random(3)
    splits = {"one-by-one": [1] * len(records), "all-at-once": [len(records)], "random": []}
    left = len(records)
    while left:
        size = min(left, rng.randint(1, 200))
        splits["random"].append(size)
        left -= size
    tag = uuid.uuid4().hex[:8]
    folded = {name: asyncio.run(fold(backbone.database_url, records, sizes, f"{name.replace('-', '_')}_{tag}"))
              for name, sizes in splits.items()}
    folded["isolated"] = asyncio.run(fold(backbone.database_url, records, [len(records)], f"isolated_{tag}",
                                          isolated=True))
    for table in TABLES:
        assert folded["all-at-once"][table] == folded["one-by-one"][table], table
        assert folded["random"][table] == folded["one-by-one"][table], table
        assert folded["isolated"][table] == folded["one-by-one"][table], table
