"""Faust's two recovery endings with the seek before the resume (installed by
processors.faust_patches.use_seek_before_resume).

faust-streaming 0.15.3 ends a table recovery (`faust/tables/recovery.py`: `Recovery.on_recovery_completed` when the
app has tables, as ours has; `Recovery._resume_streams` when it has none) with

    consumer.resume_partitions(stream partitions)
    await consumer.perform_seek()        # every partition back to its committed offset

while the fetcher is already running and flow already resumed (recovery started both to read the changelogs).
During the seek's round trips the drain loop fetches the just-resumed stream partitions and delivers their first
records (from wherever aiokafka's position was: the committed offset of the last start, or the log end); the seek
then sends each partition back, and records fetched again are either dropped as "below the read offset" while the
position runs on to the log end (the processors stalled with a lag that never moved: the power-loss and broker-kill
drills), or taken for a gap above the read offset the seek put back (Faust acks a gap's offsets,
`Consumer._add_gap`, meant for compacted and transaction-marker offsets) and committed unhandled (readings without
a verdict after a restart; tests/integration/platform/test_faust_drain.py).

The copies seek first and resume the stream partitions after it: while paused, Faust's fetch loop does not take
their records from aiokafka, so the first records it delivers come from the committed offsets. A drain loop that
still comes back to records fetched before the seek meets processors.faust_drain.Rewinds, which seeks that partition
again instead of acking a gap, and records Faust's fetch loop left out are fetched again
(processors/faust_fetch.py).
A stream partition without a committed offset (a new group, or one whose offsets a restored broker does not have)
is sought to its beginning as well, as `auto_offset_reset=earliest` promises: `perform_seek` leaves it where the
fetcher got to.
Other tries were worse, each measured with the fault drills: dropping such records in the drain loop stalled the
processors, and stopping the flow for the seek made Faust's fetch loop drop what it held, which no seek fetched again
for partitions without a committed offset. Nothing else changed.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from faust.tables import recovery as faust_recovery

from processors.faust_patches import fingerprint

#: sha256 of the source of each `faust.tables.recovery.Recovery` method copied here (faust-streaming 0.15.3). A
#: different Faust leaves the originals in place.
ORIGINAL_SHA256 = {
    "_resume_streams": "d986a6710c1aca98f08c4c723fb3eadc5bf24576ad4eb9da3dd3eecedda2f24e",
    "on_recovery_completed": "6ef567acf072e46da3fccbccc6d662371f634f622c3d510972d5df81f70ae3ac",
}


def original_fingerprint(name: str) -> str:
    return fingerprint(getattr(faust_recovery.Recovery, name))


async def seek_stream_partitions(recovery: Any, assignment: set[Any]) -> None:
    """Every assigned partition back to its committed offset, and a stream partition without one to its beginning
    (`auto_offset_reset=earliest`), before the stream partitions are resumed."""
    app, consumer = recovery.app, recovery.app.consumer
    recovery.log.info("Seek stream partitions to committed offsets.")
    await recovery._wait(consumer.perform_seek(), timeout=app.conf.broker_request_timeout)
    if app.conf.consumer_auto_offset_reset == "earliest":
        fresh = {tp: 0 for tp in assignment
                 if not recovery._is_changelog_tp(tp) and consumer._committed_offset.get(tp) is None}
        if fresh:
            await recovery._wait(consumer.seek_wait(fresh), timeout=app.conf.broker_request_timeout)


async def _resume_streams(self: Any, generation_id: int = 0) -> None:  # pragma: no cover - run by the worker
    # Copied from faust-streaming 0.15.3 faust/tables/recovery.py; the only change is marked CHANGED.
    app = self.app
    consumer = app.consumer
    await app.on_rebalance_complete.send()
    assignment = consumer.assignment()
    if self.app.consumer_generation_id != generation_id:
        self.log.warning("Recovery rebalancing again")
        return
    if assignment:
        # CHANGED: the seek came after resume_partitions; a stream partition without a committed offset goes
        # back to its beginning too
        await seek_stream_partitions(self, assignment)
        self.log.dev("Resume stream partitions")
        consumer.resume_partitions(
            {tp for tp in assignment if not self._is_changelog_tp(tp)}
        )
    else:
        self.log.info("Resuming streams with empty assignment")
    self.completed.set()
    # Resume partitions and start fetching.
    self.log.info("Resuming flow...")
    app.flow_control.resume()
    consumer.resume_flow()
    # finally make sure the fetcher is running.
    await cast(Any, app)._fetcher.maybe_start()
    self.tables.on_actives_ready()
    self.tables.on_standbys_ready()
    app.on_rebalance_end()
    self.log.info("Worker ready")


async def on_recovery_completed(self: Any, generation_id: int = 0) -> None:  # pragma: no cover - run by the worker
    # Copied from faust-streaming 0.15.3 faust/tables/recovery.py; the only change is marked CHANGED.
    """Call when active table recovery is completed."""
    consumer = self.app.consumer
    self.log.info("Restore complete!")
    await self.app.on_rebalance_complete.send()
    self._set_recovery_ended()
    # This needs to happen if all goes well
    callback_coros = [
        asyncio.ensure_future(
            table.on_recovery_completed(
                self.actives_for_table[table],
                self.standbys_for_table[table],
            )
        )
        for table in self.tables.values()
    ]
    if callback_coros:
        await asyncio.wait(callback_coros)
    assignment = consumer.assignment()
    if self.app.consumer_generation_id != generation_id:
        self.log.warning(
            f"Recovery rebalancing again app id "
            f"{self.app.consumer_generation_id} param {generation_id}"
        )
        return
    # CHANGED: the seek came after resume_partitions; a stream partition without a committed offset goes back to
    # its beginning too
    if assignment:
        await seek_stream_partitions(self, assignment)
    consumer.resume_partitions(
        {tp for tp in assignment if not self._is_changelog_tp(tp)}
    )
    self.completed.set()
    self.log.dev("Resume stream partitions")
    self.app.flow_control.resume()
    consumer.resume_flow()
    # finally make sure the fetcher is running.
    await cast(Any, self.app)._fetcher.maybe_start()
    self.tables.on_actives_ready()
    if not self.app.assignor.assigned_standbys():
        self.tables.on_standbys_ready()
    self.app.on_rebalance_end()
    self.log.info("Worker ready")
