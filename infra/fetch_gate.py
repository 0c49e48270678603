"""Hold a quiet consumer's fetches in the client, and ask the broker the cheap question instead.

Tansu holds a fetch for its whole wait and polls every partition it names again and again during it: one consumer
of 120 quiet partitions cost the embedded broker 5.8 % of a core at a 500 ms wait, 1.8 % at 2 s, while asking
ListOffsets of the same partitions twice a second cost it 0.3 % (`opsledger bench broker`). So while its consumer is
quiet, a gated fetcher keeps each fetch request in the client and asks for the partitions' end offsets every
`probe_ms`; the fetch goes out (with the short busy wait) as soon as an answer lies past a position, or a position
moved, or the assignment changed, or `max_hold_s` passed (a safety net: at most one real fetch that often). Once the
consumer has been quiet for `LONG_QUIET_S`, it asks, and lets a safety fetch go, half as often: the three gated
consumers of an idle stack were a fifth of its CPU (`opsledger bench idle`, BENCHMARKS.md), while a burst of traffic
after a short pause still finds the consumer asking every `probe_ms`.

Only a fetch whose every partition was just fetched (while quiet) at the same offset and came back empty is held.
That is what makes the end offset a sound test on Tansu too, whose ListOffsets answers with the last batch's base
offset + 1: once a fetch at position p found nothing, p is the log's end, so any batch written later starts at p or
beyond and moves the answer past p. (On Apache Kafka the answer is the log's end itself.)

It wraps one aiokafka fetcher instance's `_proc_fetch_request` (aiokafka has no hook for it), and works from whatever
event loop that fetcher runs on (Faust runs its consumer in a thread of its own).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

import structlog
from aiokafka import TopicPartition

log = structlog.get_logger(__name__)
GATE = "_opsledger_gate"  # the fetcher attribute a gate is kept in
LONG_QUIET_S = 10.0  # quiet this long, a gate asks every 2 x probe_ms and holds a fetch up to 2 x max_hold_s


class FetchGate:
    def __init__(self, fetcher: Any, probe_ms: int, max_hold_s: float = 5.0,
                 long_quiet_s: float = LONG_QUIET_S) -> None:
        self._holding = False
        self._woken: asyncio.Future[None] | None = None  # what a held fetch waits on between probes
        self._quiet_since = 0.0  # time.monotonic() when holding last became True (any thread may set it)
        self.probe_s, self.max_hold_s, self.long_quiet_s = probe_ms / 1000, max_hold_s, long_quiet_s
        self.held = self.probes = 0  # fetches held, end-offset questions asked (tests and benches read them)
        self._fetcher = fetcher
        self._empty: dict[TopicPartition, int] = {}  # partition -> the offset a fetch just found nothing at
        self._send: Callable[..., Coroutine[Any, Any, bool]] = fetcher._proc_fetch_request
        fetcher._proc_fetch_request = self._proc_fetch_request
        setattr(fetcher, GATE, self)

    @property
    def holding(self) -> bool:
        """Set while the consumer is quiet; read on the fetcher's own loop."""
        return self._holding

    @holding.setter
    def holding(self, quiet: bool) -> None:
        if quiet and not self._holding:
            self._quiet_since = time.monotonic()
        self._holding = quiet

    def wake(self) -> None:
        """Stop holding, and let a held fetch go now rather than after its probe. Only from the fetcher's loop."""
        self.holding = False
        if self._woken is not None and not self._woken.done():
            self._woken.set_result(None)

    def stretch(self) -> int:
        """2 once the quiet spell is long (the gate then asks, and lets a safety fetch go, half as often), else 1."""
        return 2 if time.monotonic() - self._quiet_since >= self.long_quiet_s else 1

    @classmethod
    def on(cls, fetcher: Any, probe_ms: int) -> FetchGate:
        """The fetcher's gate, installed the first time."""
        gate = getattr(fetcher, GATE, None)
        return gate if isinstance(gate, FetchGate) else cls(fetcher, probe_ms)

    async def _proc_fetch_request(self, assignment: Any, node_id: int, request: Any) -> bool:
        if not self.holding:  # records flow: no bookkeeping on the busy path (a quiet spell's first fetch starts it)
            self._empty.clear()
            return await self._send(assignment, node_id, request)
        offsets = {TopicPartition(topic, partition): offset
                   for topic, partitions in request.topics for partition, offset, *_ in partitions}
        if offsets and all(self._empty.get(tp) == offset for tp, offset in offsets.items()):
            try:
                await self._hold(assignment, offsets)
            except asyncio.CancelledError:
                return False  # as aiokafka's own does: the consumer closed or the assignment went
        has_new_data = await self._send(assignment, node_id, request)
        records = self._fetcher._records
        for tp, offset in offsets.items():
            if tp in records:
                self._empty.pop(tp, None)
            elif assignment.active and _position(assignment, tp) == offset:
                self._empty[tp] = offset
        return has_new_data

    async def _hold(self, assignment: Any, offsets: dict[TopicPartition, int]) -> None:
        self.held += 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_hold_s * self.stretch()
        while self.holding and loop.time() < deadline:
            self._woken = loop.create_future()
            try:  # a probe interval, or until woken
                await asyncio.wait({self._woken}, timeout=self.probe_s * self.stretch())
            finally:
                self._woken = None
            if not (self.holding and assignment.active) or any(
                    _position(assignment, tp) != offset for tp, offset in offsets.items()):
                return  # woken, reassigned, sought or paused: let the fetch go and aiokafka sort it out
            try:
                ends = await self._fetcher.end_offsets(list(offsets), self.probe_s * 1000 + 5000)
            except Exception as e:  # noqa: BLE001 - whatever went wrong, the fetch goes out: an error in this task
                log.debug("fetch_gate.probe_failed", error=str(e))  # would stop aiokafka's fetch routine
                return
            self.probes += 1
            if any(ends.get(tp, 0) > offset for tp, offset in offsets.items()):
                return


def _position(assignment: Any, tp: TopicPartition) -> int | None:
    """Where the consumer stands in a partition, None when it can't fetch it now (no position, or paused)."""
    state = assignment.state_value(tp)
    if state is None or not state.has_valid_position or state.paused:
        return None
    return int(state.position)
