"""A reproducible mixed history of ingress events, and the read model it must fold to (computed independently)."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass

from producers.ingress.commands import correct_reading, retract_reading, submit_reading
from schemas.catalog import REGISTRY
from schemas.envelope import Envelope, derived_event_id
from schemas.ingress.events import IngressLimitExceeded
from tests.helpers.factories import reading


@dataclass
class Expected:
    version: int
    retracted: bool
    level_dbmv: float


def drill_rounds(readings: int, seed: int = 11) -> tuple[list[list[Envelope]], dict[uuid.UUID, Expected], int]:
    """Rounds of events (each round produced after the previous one is acknowledged), the expected final state
    per reading, and how many distinct reading events there are (duplicates excluded)."""
    rng = random.Random(seed)
    submitted = [submit_reading(reading(node_id=f"N-DRILL-{i % 13}", level_dbmv=-30.0), actor="drill",
                                correlation_id=None) for i in range(readings)]
    ids = [uuid.UUID(e.subject) for e in submitted]
    expected = {rid: Expected(1, False, -30.0) for rid in ids}
    rounds: list[list[Envelope]] = [submitted]
    distinct = len(submitted)
    for round_no in (2, 3):
        batch = []
        for rid in ids:
            if rng.random() < (0.5 if round_no == 2 else 0.5) and expected[rid].version == round_no - 1:
                level = round(rng.uniform(-60, 20), 1)
                batch.append(correct_reading(rid, round_no - 1, reading(level_dbmv=level, node_id="N-DRILL-X"),
                                             actor="drill", correlation_id=None))
                expected[rid] = Expected(round_no, False, level)
        rounds.append(batch)
        distinct += len(batch)
    late = []
    for rid in ids:
        roll = rng.random()
        if roll < 0.1:  # retraction
            late.append(retract_reading(rid, expected[rid].version, "drill", actor="drill", correlation_id=None))
            expected[rid] = Expected(expected[rid].version + 1, True, expected[rid].level_dbmv)
            distinct += 1
        elif roll < 0.2:  # a stale correction that lost a race: recorded, not applied
            late.append(correct_reading(rid, expected[rid].version - 1 if expected[rid].version > 1 else 5,
                                        reading(level_dbmv=99.0), actor="drill", correlation_id=None))
            distinct += 1
    duplicates = [e for e in submitted + late if rng.random() < 0.15]
    verdicts = [verdict(e) for e in submitted[: readings // 4]]
    rounds += [late, duplicates, verdicts]
    return rounds, expected, distinct


def verdict(cause: Envelope) -> Envelope:
    data = IngressLimitExceeded(reading_id=uuid.UUID(cause.subject), version=1, node_id="N-DRILL", level_dbmv=-30.0,
                                limit_dbmv=-35.0, exceeded_by_db=5.0, limit_rule="drill")
    return REGISTRY.event(data, source="drill", subject=cause.subject).model_copy(
        update={"event_id": derived_event_id(cause.event_id, "IngressLimitExceeded")})
