"""Faust's consumer drain loop without a task per message (installed by processors.faust_patches.use_eager_drain).

faust-streaming 0.15.3 hands every fetched message to the conductor through

    await self.wait_first(callback(message), self.suspend_flow.wait())

(`faust/transport/consumer.py`, `Consumer._drain_messages`). mode's `wait_first` wraps the callback, the
suspend-flow wait and the consumer's own stopped/crashed waits in four tasks, waits for the first, and cancels
the other three: about 20-30 µs of CPU per message, although the callback almost never waits for anything
(`acquire_flow_control`, `wait_until_producer_ebb`, the conductor's lock and the stream queue put all return
without suspending unless a rebalance, a full producer buffer or a full stream buffer is in progress).

What `suspend_flow` protects: a rebalance (`App._on_partitions_revoked`) and the consumer's stop call
`Consumer.stop_flow()`, which sets it. A callback that is *blocked* at that moment (on flow control, on a full
producer buffer, on a full stream buffer) is cancelled, so the drain loop is free to stop fetching for the old
assignment; the message is then never delivered, never acked, and its offset is not committed, so the next owner
reads it again (at-least-once). A callback that completes is unaffected by `suspend_flow`.

This loop keeps exactly that, and only removes the tasks from the case where nothing waits:
- while `suspend_flow` is set, the original `wait_first` call is used, unchanged;
- otherwise the callback coroutine is stepped in place (`coro.send(None)`). If it finishes without suspending
  (the usual case) no task was created. If it suspends, the rest of it (from the very await it stopped at) is
  given to a task through `wait_first(..., suspend_flow.wait())` exactly as Faust does, so a later
  rebalance/stop/crash still cancels it.
One more change (`Rewinds`, below): a "gap" above a read offset that a seek sent back is not acked but sought again.
Nothing else changed: read offsets, gap tracking, commit_every, the yield every 100 messages, error handling.

Python 3.12's `asyncio.eager_task_factory` would give the same effect for every task in the process; this keeps
it to the one hot call on 3.11.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Generator
from typing import Any, cast

from faust.transport import consumer as faust_consumer
from mode import Service, ServiceT

from processors.faust_patches import fingerprint

#: sha256 of the source of `faust.transport.consumer.Consumer._drain_messages` this copy was made from
#: (faust-streaming 0.15.3). A different Faust leaves the original in place (processors.faust_patches.use_eager_drain).
ORIGINAL_SHA256 = "44a2500309e83c630493f6828af50166ec8d96a0b3e4fb2bab735f704ae93417"


#: How often the slow paths ran (rare, so counting costs the fast path nothing): `suspended` = message handed
#: to Faust's own wait_first because flow was suspended; `waited` = callback suspended and went to a task;
#: `abandoned` = of those, cancelled because suspend_flow (a rebalance or stop) or the consumer's stop came first.
#: `sought` = partitions sought back to their read offset (Rewinds); `stale` = records left out meanwhile.
STATS = {"suspended": 0, "waited": 0, "abandoned": 0, "sought": 0, "stale": 0}


def original_fingerprint() -> str:
    return fingerprint(faust_consumer.Consumer._drain_messages)


class _Rest:
    """Awaitable that continues a coroutine which already ran up to its first suspension (`first` is what it
    yielded: a future, or None for a bare yield). Drives it the way a Task would: re-yield what it yields, send
    back what the task sends, throw in what the task throws (CancelledError on cancel)."""

    __slots__ = ("coro", "first")

    def __init__(self, coro: Coroutine[Any, Any, Any], first: Any) -> None:
        self.coro = coro
        self.first = first

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, yielded = self.coro, self.first
        while True:
            try:
                sent = yield yielded
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # noqa: B036 - CancelledError and friends go into the coroutine
                try:
                    yielded = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    yielded = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


async def _rest(coro: Coroutine[Any, Any, Any], first: Any) -> Any:
    return await _Rest(coro, first)


async def deliver(consumer: Any, coro: Coroutine[Any, Any, Any], suspend_flow: asyncio.Event) -> None:
    """Run the conductor callback `coro` in place; only if it suspends, wait for it as Faust does."""
    try:
        first = coro.send(None)
    except StopIteration:
        return
    except BaseException:
        coro.close()
        raise
    STATS["waited"] += 1
    rest = _rest(coro, first)
    outcome = await consumer.wait_first(rest, suspend_flow.wait())
    if rest not in outcome.done:
        STATS["abandoned"] += 1


class Rewinds:
    """When a jump in a partition's offsets is no gap. Faust acks the offsets of a gap (`Consumer._add_gap`: meant for
    compacted and transaction-marker offsets). But `Consumer.perform_seek` (table recovery, and the fetcher when flow
    stopped) sets a partition's read offset back to its committed offset while the drain loop may still hold, or
    be suspended in the middle of, records fetched before the seek: the next of those (1003, say, after a seek to
    884) looked like a gap 885-1002, which was acked and committed although no agent handled it (records lost when
    the worker died next; after a power loss, processors that never caught up). `perform_seek` also seeks partition
    by partition over several round trips and updates the read offsets only at the end, so records fetched again
    in between cannot be told from stale ones by their offsets alone.

    So a jump above a read offset that went back below the highest offset this generation delivered from the
    partition is taken for what it is: the partition is sought to the read offset again (in the consumer's thread,
    as Faust's own seeks), the rest of that fetch for it is left out, and everything is fetched again from there
    (a few records twice: at-least-once). A jump seen again at the very offset just sought is a real gap (Faust's
    handling)."""

    __slots__ = ("highest", "sought")

    def __init__(self) -> None:
        self.highest: dict[Any, tuple[int, int]] = {}  # partition -> (generation, highest offset delivered)
        self.sought: dict[Any, int] = {}  # partition -> the read offset it was last sought back to

    def delivered(self, tp: Any, offset: int, generation: int) -> None:
        seen = self.highest.get(tp)
        self.highest[tp] = (generation, offset if seen is None or seen[0] != generation else max(offset, seen[1]))
        if tp in self.sought and offset >= self.sought[tp]:
            del self.sought[tp]  # fetched again from there

    def seek_back(self, tp: Any, read_offset: int, generation: int) -> bool:
        """A jump above `read_offset`: seek back to it (True, and remembered), or take it for a gap (False)."""
        seen = self.highest.get(tp)
        if seen is None or seen[0] != generation or read_offset >= seen[1] or self.sought.get(tp) == read_offset:
            return False
        self.sought[tp] = read_offset
        return True


async def _drain_messages(self: Any, fetcher: ServiceT) -> None:  # pragma: no cover
    # Copied from faust-streaming 0.15.3 faust/transport/consumer.py; the changes are marked CHANGED.
    callback = self.callback
    getmany = self.getmany
    consumer_should_stop = cast(Service, self)._stopped.is_set
    fetcher_should_stop = cast(Service, fetcher)._stopped.is_set

    get_read_offset = self._read_offset.__getitem__
    set_read_offset = self._read_offset.__setitem__
    flag_consumer_fetching = faust_consumer.CONSUMER_FETCHING
    set_flag = self.diag.set_flag
    unset_flag = self.diag.unset_flag
    commit_every = self._commit_every
    acks_enabled_for = self.app.topics.acks_enabled_for
    suspend_flow = self.suspend_flow  # CHANGED (localized)
    suspended = suspend_flow.is_set  # CHANGED (localized)
    app = self.app  # CHANGED (localized)
    rewinds = Rewinds()  # CHANGED

    yield_every = 100
    num_since_yield = 0
    sleep = asyncio.sleep

    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            set_flag(flag_consumer_fetching)
            ait = cast(AsyncIterator, getmany(timeout=1.0))

            # Sleeping because sometimes getmany is called in a loop
            # never releasing to the event loop
            await self.sleep(0)
            if not self.should_stop:
                sought_back: set[Any] = set()  # CHANGED: partitions sought back during this fetch
                async for tp, message in ait:
                    num_since_yield += 1
                    if num_since_yield > yield_every:
                        await sleep(0)
                        num_since_yield = 0

                    offset = message.offset
                    if tp in sought_back:  # CHANGED: fetched before this partition was sought back
                        STATS["stale"] += 1  # CHANGED
                        continue  # CHANGED
                    r_offset = get_read_offset(tp)
                    if r_offset is None or offset >= r_offset:
                        gap = offset - (r_offset or 0)
                        # We have a gap in income messages
                        if gap > 1 and r_offset:
                            acks_enabled = acks_enabled_for(message.topic)
                            if acks_enabled:
                                # CHANGED: a jump above a read offset a seek sent back is no gap (Rewinds)
                                if rewinds.seek_back(tp, r_offset, app.consumer_generation_id):
                                    STATS["sought"] += 1
                                    sought_back.add(tp)
                                    await self.seek_wait({tp: r_offset})
                                    continue
                                await self._add_gap(tp, r_offset + 1, offset)
                        if commit_every is not None:
                            if self._n_acked >= commit_every:
                                self._n_acked = 0
                                await self.commit()
                        # CHANGED: was `await self.wait_first(callback(message), self.suspend_flow.wait())`
                        if suspended():
                            STATS["suspended"] += 1
                            await self.wait_first(callback(message), suspend_flow.wait())
                        else:
                            await deliver(self, callback(message), suspend_flow)
                        set_read_offset(tp, offset)
                        rewinds.delivered(tp, offset, app.consumer_generation_id)  # CHANGED
                    else:
                        self.log.dev(
                            "DROPPED MESSAGE ROFF %r: k=%r v=%r",
                            offset,
                            message.key,
                            message.value,
                        )
                unset_flag(flag_consumer_fetching)

    except self.consumer_stopped_errors:
        if self.transport.app.should_stop:
            # we're already stopping so ignore
            self.log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if self.transport.app.should_stop:
            # we're already stopping so ignore
            self.log.info("Consumer shutting down for user cancel.")
            return
        raise
    except Exception as exc:
        self.log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        unset_flag(flag_consumer_fetching)
