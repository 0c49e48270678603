"""Two Faust methods that kept an idle processors process's event loop turning hundreds of times a second
(installed by processors.faust_patches.use_quiet_idle). An idle processors process polled its event loop ~550
times a second, ~2,300 of every 2,800 polls in 5 s with something already due (strace); counting the callbacks
the loop ran (20 s, the asyncio loop instrumented) named these two.

`Stream.take_events`: faust-streaming 0.15.3 (`faust/streams.py`) waits for a full buffer with a timeout of
`within` in a loop, whether anything is buffered or not: every agent that batches wakes up every `within` seconds for
nothing (the ingress and alert agents every 20 ms, analytics and images every 50 ms), and each wake-up is a mode
`wait_first` (a handful of tasks made and cancelled). The copy waits for the first buffered event with no timer, and
only then for a full buffer or `within`: a batch closes `within` after its first event or when it is full (a
producer's linger), where Faust's closed at the end of whichever `within` window the first event fell into. Nothing
else changed: the buffer, the acks after the batch is consumed, the wait while the caller holds a batch, the cleanup.

`Consumer.verify_all_partitions_active`, Faust's livelock check (it logs a partition whose stream has stalled),
runs every 2.5 commit intervals (1.25 s here) and yields to the loop before each assigned partition through mode's
`Service.sleep(0)`, an `asyncio.wait_for` with a task made and cancelled each time: ~90 a second for the processors'
~110 partitions (1,740 of the loop's callbacks in 20 s, the largest share). The copy yields once; the check of each
partition is a few comparisons.
"""

from __future__ import annotations

import asyncio
from asyncio import CancelledError
from collections.abc import AsyncGenerator, Sequence
from time import monotonic
from typing import Any, cast

from faust import streams as faust_streams
from faust.streams import _tracks_buffer_agen, notify, want_seconds
from faust.transport import consumer as faust_consumer

from processors.faust_patches import fingerprint

#: sha256 of the source of each method these copies were made from (faust-streaming 0.15.3). A different Faust
#: leaves the original in place (processors.faust_patches.use_quiet_idle).
ORIGINAL_SHA256 = {"take_events": "607d48aead118ba8ea868718a0df87de1c5fcecd10ec542c659b448796728e08",
                   "verify_all_partitions_active": "4e0e46f5c297305d61bf13eeb27ab0124b6538e35b0c200a2270c85438399bf0"}


def original_fingerprint(name: str) -> str:
    owner = faust_streams.Stream if name == "take_events" else faust_consumer.Consumer
    return fingerprint(getattr(owner, name))


@_tracks_buffer_agen
async def take_events(self: Any, max_: int, within: Any) -> AsyncGenerator[Sequence[Any], None]:
    # Copied from faust-streaming 0.15.3 faust/streams.py (its docstring and comments trimmed); the changes are
    # marked CHANGED.
    buffer: list[Any] = []
    events: list[Any] = []
    buffer_add = buffer.append
    event_add = events.append
    buffer_size = buffer.__len__
    buffer_full = asyncio.Event()
    buffer_consumed = asyncio.Event()
    buffer_started = asyncio.Event()  # CHANGED: set by the first event of a batch
    timeout = want_seconds(within) if within else None
    stream_enable_acks: bool = self.enable_acks

    buffer_consuming: asyncio.Future[Any] | None = None

    channel_it = aiter(self.channel)

    async def add_to_buffer(value: Any) -> Any:
        try:
            nonlocal buffer_consuming
            if buffer_consuming is not None:
                try:
                    await buffer_consuming
                finally:
                    buffer_consuming = None
            buffer_add(value)
            event = self.current_event
            if event is None:
                raise RuntimeError("Take buffer found current_event is None")
            event_add(event)
            buffer_started.set()  # CHANGED
            if buffer_size() >= max_:
                buffer_full.set()
                buffer_consumed.clear()
                await self.wait(buffer_consumed)
        except CancelledError:  # pragma: no cover
            raise
        except Exception as exc:
            self.log.exception("Error adding to take buffer: %r", exc)
            await self.crash(exc)
        return value

    self.enable_acks = False

    self.add_processor(add_to_buffer)
    self._enable_passive(cast(Any, channel_it))
    try:
        while not self.should_stop:
            if not buffer_started.is_set():  # CHANGED: nothing buffered: wait for the first event, no timer
                await self.wait_for_stopped(buffer_started)  # CHANGED
            await self.wait_for_stopped(buffer_full, timeout=timeout)
            if buffer:
                buffer_consuming = self.loop.create_future()
                try:
                    yield list(events)
                finally:
                    buffer.clear()
                    buffer_started.clear()  # CHANGED: before adding is allowed again (below)
                    for event in events:
                        await self.ack(event)
                    events.clear()
                    notify(buffer_consuming)
                    buffer_full.clear()
                    buffer_consumed.set()
    finally:
        self.enable_acks = stream_enable_acks
        self._processors.remove(add_to_buffer)


async def verify_all_partitions_active(self: Any) -> None:
    # Copied from faust-streaming 0.15.3 faust/transport/consumer.py; the change is marked CHANGED.
    now = monotonic()
    await asyncio.sleep(0)  # CHANGED: yield once, not through Service.sleep(0) before every partition
    for tp in self.assignment():
        if not self.should_stop:
            self.verify_event_path(now, tp)
