"""The ingress projection folds the same records to the same tables whatever the batch boundaries: one record per
batch (a live projection keeping up), everything at once (a replay), or record by record in savepoints of one
transaction (the runner isolating a poison record). Redeliveries inside one batch included."""

from __future__ import annotations

import asyncio
import random
import uuid

from projections.ingress.projection import IngressProjection
from projections.records import Record
from schemas.catalog import REGISTRY
from tests.helpers.folds import fold_into_copies
from tests.helpers.support import Backbone
from tests.integration.platform.drill_events import drill_rounds

TABLES = ("ingress_readings", "ingress_reading_history", "ingress_limit_exceeded")


def as_records(rounds: list[list[object]]) -> list[Record]:
    events = [e for batch in rounds for e in batch]
    return [Record("ingress.readings", 0, offset, 0, None, REGISTRY.encode(e), (), e)  # type: ignore[arg-type]
            for offset, e in enumerate(events)]


async def fold(database_url: str, records: list[Record], batches: list[int], suffix: str,
               isolated: bool = False) -> dict[str, list[dict[str, object]]]:
    return await fold_into_copies(database_url, IngressProjection(), records, batches, suffix, isolated=isolated,
                                  order={t: "event_id" if t == "ingress_reading_history" else "1, 2" for t in TABLES})


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
