"""The alerts projection folds the same records to the same tables whatever the batch boundaries (one record per
batch, everything in one pipelined batch, random cuts, record by record in savepoints as the runner isolates a poison
record) and however often a record is delivered again: each lifecycle event changes `alerts` only with its new
history row, and its statements go out in log order."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from projections.alerts.projection import AlertsProjection
from projections.records import Record
from schemas.alerts.lifecycle import (
    AlertAcknowledged,
    AlertAcknowledgeRequested,
    AlertCommandRefused,
    AlertFlapping,
    AlertRaised,
    AlertResolved,
    AlertSilenced,
    AlertStable,
    AlertUnsilenced,
)
from schemas.alerts.rules import Severity
from schemas.catalog import REGISTRY
from schemas.topics import ALERT_COMMANDS, ALERT_EVENTS
from tests.helpers.folds import fold_into_copies
from tests.helpers.support import Backbone

T0 = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def story() -> tuple[list[Any], uuid.UUID, uuid.UUID]:
    """Two alerts' lives, as the processor would tell them, each event once."""
    a, b, silence = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    fa, fb = uuid.uuid4().hex, uuid.uuid4().hex
    on_a: dict[str, Any] = {"alert_id": a, "rule_id": "r-a", "fingerprint": fa, "subject": "node-a"}
    on_b: dict[str, Any] = {"alert_id": b, "rule_id": "r-b", "fingerprint": fb, "subject": "node-b"}
    at = [T0 + timedelta(seconds=i) for i in range(12)]
    payloads: list[Any] = [
        AlertRaised(**on_a, at=at[0], severity=Severity.high, summary="a", labels={"node": "a"}, value=61.0),
        AlertAcknowledged(**on_a, at=at[1], by="ops", note="looking", until=at[1] + timedelta(hours=1)),
        AlertFlapping(**on_a, at=at[2], changes=5, window_s=600),
        AlertSilenced(**on_a, at=at[3], silence_id=silence, until=at[3] + timedelta(hours=1)),
        AlertRaised(**on_b, at=at[4], severity=Severity.low, summary="b", labels={"node": "b"}),
        AlertStable(**on_a, at=at[5], firing=True),
        AlertUnsilenced(**on_a, at=at[6], silence_id=silence),
        AlertResolved(**on_a, at=at[7], reason="cleared", value=12.0),
        AlertAcknowledgeRequested(fingerprint=fb, at=at[8], by="ops", alert_id=b, until=at[8] + timedelta(hours=1)),
        AlertCommandRefused(command_id=uuid.uuid4(), command_type="AlertResolveRequested", fingerprint=fb,
                            alert_id=b, reason="not yours", at=at[9]),
        AlertResolved(**on_b, at=at[10], reason="cleared"),
    ]
    envelopes = [REGISTRY.event(p, source="tests.alerts", subject=getattr(p, "subject", "cmd"), occurred_at=p.at)
                 for p in payloads]
    return envelopes, a, b


def as_records(envelopes: list[Any]) -> list[Record]:
    return [Record(ALERT_COMMANDS if "Requested" in e.type else ALERT_EVENTS, 0, offset, 0, None, REGISTRY.encode(e),
                   (), e) for offset, e in enumerate(envelopes)]


COLUMNS = ("alert_id", "state", "acknowledged", "ack_by", "silenced_by", "flapping", "value", "resolve_reason")


async def fold(database_url: str, records: list[Record], batches: list[int], suffix: str,
               isolated: bool = False) -> dict[str, list[dict[str, Any]]]:
    return await fold_into_copies(database_url, AlertsProjection(), records, batches, suffix, isolated=isolated)


def test_batches_and_redeliveries_do_not_change_the_alerts_read_model(backbone: Backbone) -> None:
    envelopes, a, b = story()
    once = as_records(envelopes)
    rng = random.Random(7)
    again = once + rng.sample(once, len(once))  # the whole log redelivered later, out of its order
    twice = [r for r in once for _ in (0, 1)]  # each at once again, in the same batch
    tag = uuid.uuid4().hex[:8]

    def run(name: str, records: list[Record], batches: list[int], isolated: bool = False) -> dict[str, list[Any]]:
        return asyncio.run(fold(backbone.database_url, records, batches, f"{name}_{tag}", isolated))

    cuts: list[int] = []
    while sum(cuts) < len(again):
        cuts.append(min(len(again) - sum(cuts), rng.randint(1, 4)))
    folded = {"one_by_one": run("one_by_one", once, [1] * len(once)),
              "all_at_once": run("all_at_once", once, [len(once)]),
              "again_random": run("again_random", again, cuts),
              "twice_at_once": run("twice_at_once", twice, [len(twice)]),
              "isolated": run("isolated", again, [len(again)], isolated=True)}
    for name, tables in folded.items():
        assert tables == folded["one_by_one"], name

    rows = folded["one_by_one"]
    assert len(rows["alert_history"]) == 10  # every lifecycle event and the refusal, each once
    assert len(rows["alert_commands"]) == 1
    named = sorted(tuple(row[c] for c in COLUMNS) for row in rows["alerts"])
    assert named == sorted([(a, "resolved", True, "ops", None, False, 12.0, "cleared"),
                            (b, "resolved", False, None, None, False, None, "cleared")])
