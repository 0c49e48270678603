"""A warning repeated many times a second (every consumer during a broker outage) is written once per window,
with how many were held back; different lines are not held back by each other."""

from __future__ import annotations

import logging

import pytest
import structlog

from infra.logs import RepeatFilter, Repeats, hold_repeats


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_repeated_line_goes_out_once_per_window_with_the_count_held_back() -> None:
    clock = Clock()
    repeats = Repeats(window_s=10, clock=clock)
    assert repeats.admit(("warning", "broker down")) == 0
    assert [repeats.admit(("warning", "broker down")) for _ in range(389)] == [None] * 389
    assert repeats.admit(("warning", "another line")) == 0
    clock.now += 10.5
    assert repeats.admit(("warning", "broker down")) == 389
    assert repeats.admit(("warning", "broker down")) is None


def test_the_structlog_processor_drops_repeats_and_keeps_info(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr("infra.logs.REPEATS", Repeats(window_s=10, clock=clock))
    event = {"event": "projection.failed", "error": "connection refused"}
    assert hold_repeats(None, "warning", dict(event)) == event
    with pytest.raises(structlog.DropEvent):
        hold_repeats(None, "warning", dict(event))
    assert hold_repeats(None, "info", {"event": "request"}) == {"event": "request"}  # info is never held back
    clock.now += 11
    assert hold_repeats(None, "warning", dict(event))["repeated"] == 1


def test_the_stdlib_filter_holds_library_repeats(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("infra.logs.REPEATS", Repeats(window_s=10, clock=Clock()))
    record = logging.LogRecord("aiokafka", logging.ERROR, __file__, 1, "Unable connect to node %s", (111,), None)
    flt = RepeatFilter()
    assert flt.filter(record) is True
    assert flt.filter(logging.LogRecord("aiokafka", logging.ERROR, __file__, 1, "Unable connect to node %s", (112,),
                                        None)) is False
    assert flt.filter(logging.LogRecord("aiokafka", logging.INFO, __file__, 1, "x", (), None)) is True
