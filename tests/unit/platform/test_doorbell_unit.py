"""The projections' doorbell: a ring wakes the waiters of its topics only, a wait times out as asked, and waiters
cancelled together (a crashing process's shutdown) all finish at once."""

from __future__ import annotations

import asyncio

from projections.doorbell import Doorbell, produced_topics


async def test_a_ring_wakes_its_topic_only_and_a_wait_times_out() -> None:
    bell = Doorbell()
    scans, readings = bell.snapshot(["cylinders.scans"]), bell.snapshot(["ingress.readings"])
    waiting_scans = asyncio.create_task(bell.wait(scans, timeout_s=5))
    waiting_readings = asyncio.create_task(bell.wait(readings, timeout_s=0.3))
    await asyncio.sleep(0.05)
    await bell.ring(["cylinders.scans"])
    assert await asyncio.wait_for(waiting_scans, 1) is True
    assert await waiting_readings is False  # rung for another topic: it waited its whole timeout
    assert await bell.wait(scans, timeout_s=0) is True  # a ring after the snapshot counts even if it came first


async def test_waiters_cancelled_together_all_finish() -> None:
    bell = Doorbell()
    seen = bell.snapshot(["a"])
    waiters = [asyncio.create_task(bell.wait(seen, timeout_s=30)) for _ in range(20)]
    await asyncio.sleep(0.05)
    ringing = asyncio.create_task(bell.ring(["b"]))  # a ring for another topic in the middle of it
    for waiter in waiters:
        waiter.cancel()
    done, pending = await asyncio.wait([*waiters, ringing], timeout=2)
    assert not pending
    assert all(w.cancelled() for w in waiters)


def test_a_notification_names_the_topics_to_ring() -> None:
    mine = frozenset({"ingress.readings", "cylinders.scans"})
    assert produced_topics("cylinders.scans,files.stored", mine) == {"cylinders.scans"}
    assert produced_topics("", mine) == mine  # a relay that names nothing: every topic
    assert produced_topics("files.stored", mine) == frozenset()
