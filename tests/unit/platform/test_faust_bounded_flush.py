"""processors.faust_patches.use_bounded_flush: a commit's flush of the changelog buffer returns once what was buffered
at the call is sent, even while agents keep writing tables. Faust's original waits for an empty buffer and so, under a
steady stream of writes, for as long as the writes go on (the drain loop waiting on the commit meanwhile). Driven
through a real `ProducerBuffer` whose send is stood in for (no producer): the kill, restart and pipeline drills drive
the patched flush against a real broker."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from faust.transport.producer import ProducerBuffer

from processors.faust_patches import REPLACED, bounded_flush, use_bounded_flush


class Buffer(ProducerBuffer):
    """Faust's buffer; its send only records the message, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.app = SimpleNamespace(conf=SimpleNamespace(producer_threaded=False))  # type: ignore[assignment]
        self.sent: list[Any] = []

    async def _send_pending(self, fut: Any) -> None:
        self.sent.append(fut)


async def flush_while_writing(flush: Any, writing_s: float = 1.0) -> tuple[bool, list[int], list[Any]]:
    """Put 50 messages, then call `flush` while a writer keeps putting one per turn of the loop (an agent writing its
    table) for `writing_s`; (whether flush had returned by the time the writer stopped, the messages buffered before
    the call, what had been sent when flush returned). Flush is awaited to its end after the writer stopped."""
    buffer = Buffer()
    await buffer.start()
    stop = asyncio.Event()
    sent_at_return: list[Any] = []

    async def writer() -> None:
        n = 1000
        while not stop.is_set():
            buffer.put(n)  # type: ignore[arg-type]
            n += 1
            await asyncio.sleep(0)

    async def flushing() -> None:
        await flush(buffer)
        sent_at_return.extend(buffer.sent)

    try:
        before = list(range(50))
        for n in before:
            buffer.put(n)  # type: ignore[arg-type]
        writing = asyncio.create_task(writer())
        flushed = asyncio.create_task(flushing())
        await asyncio.sleep(writing_s)
        returned_while_writing = flushed.done()
        stop.set()
        await writing
        await asyncio.wait_for(flushed, timeout=5)
        return returned_while_writing, before, sent_at_return
    finally:
        stop.set()
        await buffer.stop()


async def test_a_flush_returns_while_writes_go_on_having_sent_what_was_buffered() -> None:
    returned, before, sent = await flush_while_writing(bounded_flush)
    assert returned
    assert sent[:len(before)] == before  # first in, first out: all of it went before the call returned


async def test_fausts_own_flush_waits_as_long_as_the_writes_go_on() -> None:
    """The reason for the patch: the same stream of writes keeps Faust's flush from returning until it stops."""
    original = REPLACED.get((ProducerBuffer, "flush"), ProducerBuffer.flush)
    returned, _, _ = await flush_while_writing(original)
    assert not returned


async def test_an_empty_buffer_flushes_at_once() -> None:
    buffer = Buffer()
    await buffer.start()
    try:
        await asyncio.wait_for(bounded_flush(buffer), timeout=0.05)
    finally:
        await buffer.stop()


def test_installed_only_over_the_method_it_replaces(monkeypatch: pytest.MonkeyPatch) -> None:
    async def other(self: Any) -> None:
        pass

    monkeypatch.setattr(ProducerBuffer, "flush", other)
    assert use_bounded_flush() is False
    assert ProducerBuffer.flush is other
