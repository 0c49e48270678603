"""Faust's `Recovery._resume_streams` with the seek before the resume (installed by
processors.faust_patches.use_seek_before_resume).

faust-streaming 0.15.3 ends a table recovery (`faust/tables/recovery.py`) with

    consumer.resume_partitions(stream partitions)
    await consumer.perform_seek()        # every partition back to its committed offset

while the fetcher is already running (recovery started it to read the changelogs). During the seek's round trips
the drain loop fetches the just-resumed stream partitions and delivers their first records; the seek then puts
each partition's read offset back to the committed one, and the drain loop, still iterating the records it had
fetched, takes the next of them (514, say, after a seek to 476) for a gap 477-513: Faust acks a gap's offsets
(`Consumer._add_gap`, meant for compacted and transaction-marker offsets) and commits them. Records the agents had
not handled yet were committed, and lost if the worker died before handling them
(tests/integration/platform/test_faust_drain.py: readings committed without a verdict after a restart).

The copy seeks first and resumes the stream partitions after it, which narrows that window; a drain loop that still
comes back to records fetched before the seek (it may be suspended in the middle of a fetch across all the seek's
round trips) meets processors.faust_drain.Rewinds, which seeks that partition again instead of acking a gap.
Other tries were worse, each measured with the fault drills: dropping such records in the drain loop stalled the
processors (`perform_seek` updates the read offsets only after all its round trips), starting the gap past the highest
offset delivered stalled the drain drill in 2 of 3 runs, and stopping the flow for the seek made
Faust's fetch loop drop what it held, which no seek fetched again for partitions without a committed offset (a
group whose offsets a restored broker did not have yet), so the processors stalled after a broker restart.
And a stream partition without a committed offset (a new group, or one whose offsets a restored broker does not have)
is sought to its beginning as well, as `auto_offset_reset=earliest` promises: `perform_seek` leaves it where the
fetcher got to, and Faust's fetch loop drops what it fetched for a partition paused meanwhile (the recovery pauses
them), so a fresh stack's processors sometimes never saw the first records (the fault drills stalled on it).
Nothing else changed.
"""

from __future__ import annotations

import hashlib
import inspect
from typing import Any, cast

from faust.tables import recovery as faust_recovery

#: sha256 of the source of `faust.tables.recovery.Recovery._resume_streams` this copy was made from
#: (faust-streaming 0.15.3). A different Faust leaves the original in place.
ORIGINAL_SHA256 = "d986a6710c1aca98f08c4c723fb3eadc5bf24576ad4eb9da3dd3eecedda2f24e"


def original_fingerprint() -> str:
    source = inspect.getsource(faust_recovery.Recovery._resume_streams)
    return hashlib.sha256(source.encode()).hexdigest()


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
        # CHANGED: the seek came after resume_partitions
        self.log.info("Seek stream partitions to committed offsets.")
        await self._wait(
            consumer.perform_seek(), timeout=self.app.conf.broker_request_timeout
        )
        # CHANGED: a stream partition without a committed offset goes back to its beginning too (perform_seek
        # leaves it where the fetcher got to, past any records Faust dropped while the partition was paused)
        if self.app.conf.consumer_auto_offset_reset == "earliest":
            fresh = {tp: 0 for tp in assignment
                     if not self._is_changelog_tp(tp) and consumer._committed_offset.get(tp) is None}
            if fresh:
                await self._wait(consumer.seek_wait(fresh), timeout=self.app.conf.broker_request_timeout)
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
