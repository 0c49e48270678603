"""processors.faust_recovery and processors.faust_patches.use_fenced_acks: what a rebalance or a recovery may
commit. The recovery seeks the stream partitions back to their committed offsets before it resumes them; an ack of
an event whose generation a rebalance revoked, or made while flow control is suspended, is not recorded (its record
is read again)."""

from __future__ import annotations

import asyncio
from typing import Any

import faust
import pytest
from faust.tables.recovery import Recovery
from faust.types import TP
from faust.types.tuples import Message

from processors import faust_recovery
from processors.faust_patches import FENCED, stale, use_fenced_acks, use_seek_before_resume


class Calls:
    """Stands in for the app, consumer and tables that Recovery._resume_streams drives, recording what it did."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.consumer_generation_id = 7
        self.conf = type("Conf", (), {"broker_request_timeout": 5.0, "consumer_auto_offset_reset": "earliest"})()
        self.sought: dict[TP, int] = {}

    def record(self, name: str, result: Any = None) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return result
        return call


def resumed(assignment: set[TP], committed: dict[TP, int] | None = None, ending: str = "_resume_streams") -> Calls:
    calls = Calls()
    consumer = type("Consumer", (), {})()
    consumer.assignment = lambda: assignment
    consumer.resume_partitions = calls.record("resume_partitions")
    consumer.resume_flow = calls.record("resume_flow")
    consumer.stop_flow = calls.record("stop_flow")

    async def perform_seek() -> None:
        calls.calls.append("perform_seek")

    async def nothing(*args: Any, **kwargs: Any) -> None:
        return None

    async def seek_wait(partitions: dict[TP, int]) -> None:
        calls.calls.append("seek_wait")
        calls.sought.update(partitions)

    consumer.perform_seek = perform_seek
    consumer.seek_wait = seek_wait
    consumer._committed_offset = dict(committed or {})
    app = calls
    app.consumer = consumer  # type: ignore[attr-defined]
    app.on_rebalance_complete = type("Signal", (), {"send": staticmethod(nothing)})()  # type: ignore[attr-defined]
    app.flow_control = type("Flow", (), {"resume": staticmethod(calls.record("flow_control.resume"))})()  # type: ignore[attr-defined]
    app._fetcher = type("Fetcher", (), {"maybe_start": staticmethod(nothing)})()  # type: ignore[attr-defined]
    app.on_rebalance_end = calls.record("on_rebalance_end")  # type: ignore[attr-defined]
    recovery = type("Recovery", (), {})()
    recovery.app = app
    recovery.log = type("Log", (), {"info": staticmethod(lambda *a: None), "dev": staticmethod(lambda *a: None),
                                    "warning": staticmethod(lambda *a: None)})()
    recovery._is_changelog_tp = lambda tp: tp.topic.endswith("-changelog")
    recovery.completed = asyncio.Event()

    async def wait(coro: Any, timeout: float) -> Any:
        return await coro

    recovery._wait = wait
    recovery.tables = type("Tables", (), {"on_actives_ready": staticmethod(lambda: None),
                                          "on_standbys_ready": staticmethod(lambda: None),
                                          "values": staticmethod(lambda: [])})()
    recovery._set_recovery_ended = lambda: None
    app.assignor = type("Assignor", (), {"assigned_standbys": staticmethod(lambda: set())})()  # type: ignore[attr-defined]
    asyncio.run(getattr(faust_recovery, ending)(recovery, generation_id=7))
    return calls


@pytest.mark.parametrize("ending", ["on_recovery_completed", "_resume_streams"])
def test_the_recovery_seeks_the_stream_partitions_before_it_resumes_them(ending: str) -> None:
    readings, audit, changelog = TP("ingress.readings", 0), TP("audit", 0), TP("app-table-changelog", 0)
    done = resumed({readings, audit, changelog}, committed={audit: 40}, ending=ending)
    calls = done.calls
    assert calls.index("perform_seek") < calls.index("resume_partitions") < calls.index("resume_flow")
    assert "stop_flow" not in calls  # Faust's fetch loop would drop what it holds
    # a partition without a committed offset goes back to its beginning (earliest), before the resume
    assert done.sought == {readings: 0} and calls.index("seek_wait") < calls.index("resume_partitions")


def test_both_copies_are_installed_over_the_faust_they_were_made_from(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("on_recovery_completed", "_resume_streams"):
        monkeypatch.setattr(Recovery, name, getattr(Recovery, name))  # restored after the test
        assert getattr(Recovery, name) is getattr(faust_recovery, name) or \
            faust_recovery.original_fingerprint(name) == faust_recovery.ORIGINAL_SHA256[name]
    assert use_seek_before_resume()
    assert Recovery.on_recovery_completed is faust_recovery.on_recovery_completed  # the ending an app with tables runs
    assert Recovery._resume_streams is faust_recovery._resume_streams
    assert use_seek_before_resume()  # twice is once


def test_an_event_is_stale_once_its_generation_is_revoked_or_replaced() -> None:
    assert not stale(3, current=3, revoking=None)
    assert stale(3, current=3, revoking=3)  # a rebalance is revoking generation 3
    assert stale(3, current=4, revoking=None)  # generation 4 was assigned since
    assert not stale(4, current=4, revoking=3)


def test_an_ack_while_flow_is_suspended_or_after_the_revocation_began_is_not_recorded() -> None:
    async def run() -> None:
        app = faust.App("fenced-acks-test", broker="kafka://127.0.0.1:9", store="memory://")

        async def assigned(*args: Any, **kwargs: Any) -> None:
            return None

        app._on_partitions_assigned = assigned  # type: ignore[method-assign]  # Faust's needs a real assignment
        use_fenced_acks(app)
        consumer, tp = app.consumer, TP("ingress.readings", 0)
        app.topics.acks_enabled_for = lambda topic: True  # type: ignore[method-assign]

        def message(offset: int, generation: int) -> Message:
            return Message("ingress.readings", 0, offset, 0.0, 0, None, b"k", b"v", None, tp=tp,
                           generation_id=generation)

        app.consumer_generation_id = 3
        before = FENCED["acks"]
        assert not consumer.ack(message(4, 3))  # flow control starts suspended: streams skip and ack unhandled
        app.flow_control.resume()  # the end of the first recovery
        assert consumer.ack(message(5, 3))
        app.on_rebalance_start()  # the rebalance listener's first call
        held = message(6, 3)
        assert not consumer.ack(held)
        assert held.acked  # its agent is done with it, but its offset is not recorded
        app.consumer_generation_id = 4
        await app._on_partitions_assigned(set())
        assert not consumer.ack(message(7, 3))  # still of the revoked generation
        assert consumer.ack(message(6, 4))  # read again by the new assignment
        assert sorted(consumer._acked[tp]) == [5, 6]  # type: ignore[attr-defined]
        assert FENCED["acks"] == before + 3

    asyncio.run(run())
