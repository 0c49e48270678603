"""A scan redelivered after a crash (state saved, events lost) gets its events again, not nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from processors.cylinders.machine import RECENT_OUTCOMES_KEPT, Cylinder, Rules, decide, evolve, recent_outcome, remember
from producers.cylinders.qrcodes import new_code
from schemas.catalog import REGISTRY
from schemas.cylinders.events import CylinderEvent, ScanAction, ScanRecorded

T0 = datetime(2026, 5, 1, 7, 0, tzinfo=UTC)


def scan(code: str, action: ScanAction, n: int, who: str | None = None) -> ScanRecorded:
    return ScanRecorded(client_scan_id=f"s-{n}", qr_code=code, action=action, counterparty=who,
                        scanned_at=T0 + timedelta(minutes=n), worker="m.chen")


def step(state: Cylinder, s: ScanRecorded) -> tuple[Cylinder, list[CylinderEvent]]:
    events = decide(state, s, Rules())
    for e in events:
        state = evolve(state, e)
    return remember(state, s, events), events


def test_a_redelivered_recent_scan_gives_the_same_events_again() -> None:
    code = new_code()
    state, _ = step(Cylinder(qr_code=code), scan(code, ScanAction.add, 0))
    shipping = scan(code, ScanAction.ship, 1, "Acme")
    state, shipped = step(state, shipping)
    assert decide(state, shipping, Rules()) == []  # a duplicate decides nothing new...
    stored = recent_outcome(state, shipping)  # ...but what it led to is still known
    again = [REGISTRY.get(s["type"]).model.model_validate(s["data"]) for s in stored]  # type: ignore[union-attr]
    assert again == shipped


def test_only_the_last_few_outcomes_are_kept() -> None:
    code = new_code()
    state, _ = step(Cylinder(qr_code=code), scan(code, ScanAction.add, 0))
    first = scan(code, ScanAction.reprint, 1)
    state, _ = step(state, first)
    for n in range(2, 2 + RECENT_OUTCOMES_KEPT):
        state, _ = step(state, scan(code, ScanAction.reprint, n))
    assert recent_outcome(state, first) == []
    assert len(state.recent_outcomes) == RECENT_OUTCOMES_KEPT
