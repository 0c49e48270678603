"""A bench must finish: a component of its stack that exits while it runs ends the bench at once with a clear error
(infra/bench/harness.py), instead of a drain that waits out its timeout for a process that is gone."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from infra.bench.harness import ComponentExited, bench_stack


@pytest.mark.parametrize("waiting", ["sleeping", "in an event loop", "with a SIGINT handler that ignores it"])
def test_a_component_that_exits_ends_the_bench_at_once_naming_it(waiting: str) -> None:
    started = time.monotonic()
    before = signal.getsignal(signal.SIGINT)
    if waiting.startswith("with"):  # what a test run before may leave (pytest's whole suite did)
        signal.signal(signal.SIGINT, lambda signum, frame: None)
    installed = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(ComponentExited, match=r"no-such-component exited with 2; its log ends: .*No such command"):
            with bench_stack("harness") as stack:
                stack.start("no-such-component")
                if waiting == "in an event loop":
                    asyncio.run(asyncio.sleep(60))  # as a drain waits
                else:
                    time.sleep(60)
        assert signal.getsignal(signal.SIGINT) is installed  # the bench's handler is gone again
    finally:
        signal.signal(signal.SIGINT, before)
    assert time.monotonic() - started < 45


def test_components_stopped_on_purpose_are_not_reported() -> None:
    with bench_stack("harness") as stack:
        stack.start("no-such-component")
        stack.stop_components()
        time.sleep(1.5)
    assert stack.died is None
