"""Faust's `Consumer.getmany` that fetches again what it leaves out (installed by
processors.faust_patches.use_refetch_left_out).

faust-streaming 0.15.3 (`faust/transport/consumer.py`) asks the consumer thread for the records of the active
partitions, passing its *live* set of them, and then yields only the records of partitions still in that set
(or buffered) when it gets to them. aiokafka has moved its position past every record it handed over. So a record
of a partition that left the set in between (paused by a recovery, or the set momentarily empty, which aiokafka
reads as "all partitions") is dropped without a trace, and nothing fetches it again unless a seek follows:
- if nothing more comes on that partition, the processors stall on it: the broker's group lag stays where it is,
  the position is at the log end, no agent sees a record;
- if more comes, the drain loop takes the jump for a gap and acks the dropped offsets (`Consumer._add_gap`), which
  commits records no agent handled.
The drills see it at every start of the processors: while the recovery holds the stream partitions paused, a fetch
hands over their records (hundreds, from offset 0 after a broker restart) and Faust drops them; there the seek that
ends the recovery (processors/faust_recovery.py) sends them back as well, but nothing else would at any other time.

The copy leaves out, per partition, everything from its first left-out record on (so no later record of the fetch
outruns it), and once the fetch went through, seeks each such partition back to its first left-out record (in the
consumer's thread, as Faust's own seeks): it is fetched again, at-least-once. A fetch broken off because flow
stopped or the generation changed (a rebalance or a stop) seeks nothing: the rebalance ends with a seek to the
committed offsets (processors/faust_recovery.py), and a seek now could put the position past records still
unacked. Nothing else changed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import structlog
from faust.transport import consumer as faust_consumer

from processors.faust_patches import fingerprint

#: sha256 of the source of `faust.transport.consumer.Consumer.getmany` this copy was made from (faust-streaming
#: 0.15.3). A different Faust leaves the original in place.
ORIGINAL_SHA256 = "4b168d84882a70d6e3e2f9804430a63b92f8fd117d3187cbb4aeb54305bda34e"

def original_fingerprint() -> str:
    return fingerprint(faust_consumer.Consumer.getmany)


async def refetch(consumer: Any, left_out: dict[Any, int], generation_id: int) -> None:
    """Seek each partition still assigned back to its first left-out record (`left_out`), unless flow stopped or
    the generation changed meanwhile (the rebalance seeks then)."""
    if not left_out or not consumer.flow_active or consumer.app.consumer_generation_id != generation_id:
        return
    assigned = set(consumer.assignment())
    seeks = {tp: offset for tp, offset in left_out.items() if tp in assigned}
    if not seeks:
        return
    structlog.get_logger(__name__).info(
        f"faust.refetch: {sorted((tp.topic, tp.partition, offset) for tp, offset in seeks.items())}")
    try:
        await consumer.seek_wait(seeks)
    except Exception as exc:  # a partition revoked meanwhile: the rebalance seeks it anyway
        structlog.get_logger(__name__).warning(f"faust.refetch.failed: {exc!r}")


async def getmany(self: Any, timeout: float) -> AsyncIterator[tuple[Any, Any]]:  # pragma: no cover - the worker
    # Copied from faust-streaming 0.15.3 faust/transport/consumer.py (its long comment on round-robin cut);
    # the changes are marked CHANGED.
    records, active_partitions = await self._wait_next_records(timeout)
    generation_id = self.app.consumer_generation_id
    if records is None or self.should_stop:
        return

    records_it = self.scheduler.iterate(records)
    to_message = self._to_message  # localize
    left_out: dict[Any, int] = {}  # CHANGED: each partition's first record not delivered
    if self.flow_active:
        for tp, record in records_it:
            if not self.flow_active:
                break
            new_generation_id = self.app.consumer_generation_id
            if new_generation_id != generation_id:
                self.log.dev(
                    "Generation id changed from %r to %r. Cancelling getmany.",
                    generation_id,
                    new_generation_id,
                )
                break
            if (
                active_partitions is None
                or tp in active_partitions
                or tp in self._buffered_partitions
            ) and tp not in left_out:  # CHANGED: nothing after a left-out record
                highwater_mark = self.highwater(tp)
                self.app.monitor.track_tp_end_offset(tp, highwater_mark)
                # convert timestamp to seconds from int milliseconds.
                yield tp, to_message(tp, record)
            else:  # CHANGED: was dropped silently
                left_out.setdefault(tp, record.offset)
        else:  # CHANGED: the fetch went through: fetch again what it left out
            await refetch(self, left_out, generation_id)
    else:
        self.log.dev(
            "getmany called while flow not active. Seek back to committed offsets."
        )
        try:
            await self.perform_seek()
        except Exception as ex:
            self.log.warning(f"exception performing seek when flow not active {ex}")
