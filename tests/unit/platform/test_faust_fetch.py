"""processors.faust_fetch: Faust's getmany no longer drops the records of a partition that left the active set between
the fetch and the delivery; it seeks that partition back to them. Driven here through the copy itself with a stand-in
for the consumer (what the copy reads of it); the drain and power-loss drills drive it against a real broker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest
from faust.transport.consumer import Consumer

from processors import faust_fetch
from processors.faust_patches import use_refetch_left_out


class TP(NamedTuple):
    topic: str
    partition: int


class Record(NamedTuple):
    offset: int


class Scheduler:
    @staticmethod
    def iterate(records: dict[TP, list[Record]]) -> Iterator[tuple[TP, Record]]:
        for tp, recs in records.items():
            for rec in recs:
                yield tp, rec


class Stand:
    """What getmany reads of Faust's consumer. `on_yield` runs after each delivery (to change the live sets)."""

    def __init__(self, records: dict[TP, list[Record]], active: set[TP]) -> None:
        self.records, self.active = records, active
        self.assigned = set(records)
        self.flow_active, self.should_stop = True, False
        self._buffered_partitions: set[TP] = set()
        self.app = type("App", (), {"consumer_generation_id": 7,
                                    "monitor": type("M", (), {"track_tp_end_offset": lambda *a: None})()})()
        self.scheduler = Scheduler()
        self.sought: list[dict[TP, int]] = []
        self.log = type("L", (), {"dev": lambda *a: None, "warning": lambda *a: None})()

    async def _wait_next_records(self, timeout: float) -> tuple[dict[TP, list[Record]], set[TP]]:
        return self.records, self.active

    def highwater(self, tp: TP) -> int:
        return 0

    def _to_message(self, tp: TP, record: Record) -> tuple[TP, int]:
        return tp, record.offset

    def assignment(self) -> set[TP]:
        return self.assigned

    async def seek_wait(self, seeks: dict[TP, int]) -> None:
        self.sought.append(dict(seeks))


A, B = TP("ingress.readings", 0), TP("ingress.readings", 1)


async def drain(stand: Stand, after: Any = None) -> list[tuple[TP, int]]:
    got = []
    async for _tp, message in faust_fetch.getmany(stand, 1.0):
        got.append(message)
        if after:
            after(stand, message)
    return got


async def test_a_partition_leaving_the_active_set_mid_fetch_is_sought_back_to_its_first_undelivered_record() -> None:
    stand = Stand({A: [Record(10), Record(11), Record(12)], B: [Record(5), Record(6)]}, {A, B})

    def pause_a_after_its_first(s: Stand, message: tuple[TP, int]) -> None:
        if message == (A, 10):
            s.active.discard(A)

    got = await drain(stand, pause_a_after_its_first)
    assert got == [(A, 10), (B, 5), (B, 6)]
    assert stand.sought == [{A: 11}]


async def test_nothing_after_a_left_out_record_is_delivered_even_if_the_partition_comes_back() -> None:
    stand = Stand({A: [Record(10), Record(11), Record(12)]}, {A})

    def flicker(s: Stand, message: tuple[TP, int]) -> None:
        s.active.clear()  # the live set empties for a moment (aiokafka then drains every partition)

    got = await drain(stand, flicker)
    assert got == [(A, 10)]
    assert stand.sought == [{A: 11}]


async def test_a_fetch_broken_off_by_a_rebalance_seeks_nothing_the_rebalance_seeks_to_the_committed_offsets() -> None:
    for stop in ("flow", "generation"):
        stand = Stand({A: [Record(10), Record(11)], B: [Record(5)]}, {A, B})

        def rebalance(s: Stand, message: tuple[TP, int], stop: str = stop) -> None:
            s.active.discard(B)
            if stop == "flow":
                s.flow_active = False
            else:
                s.app.consumer_generation_id += 1

        assert await drain(stand, rebalance) == [(A, 10)]
        assert stand.sought == []


async def test_a_revoked_partition_is_not_sought_and_a_whole_fetch_seeks_nothing() -> None:
    stand = Stand({A: [Record(10)], B: [Record(5)]}, {A})
    stand.assigned = {A}
    assert await drain(stand) == [(A, 10)]
    assert stand.sought == []
    whole = Stand({A: [Record(10)], B: [Record(5)]}, {A, B})
    assert await drain(whole) == [(A, 10), (B, 5)]
    assert whole.sought == []


def test_the_copy_is_installed_over_the_faust_it_was_made_from(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Consumer, "getmany", Consumer.getmany)
    assert faust_fetch.original_fingerprint() == faust_fetch.ORIGINAL_SHA256
    assert use_refetch_left_out()
    assert Consumer.getmany is faust_fetch.getmany
