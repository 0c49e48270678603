"""structlog JSON logs, configured once per process; a repeated warning or error is written once per interval with
how many times it was seen (a broker outage made every consumer log the same line hundreds of times a second)."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import MutableMapping
from typing import Any

import structlog

REPEAT_WINDOW_S = 10.0


class Repeats:
    """Which (logger, level, message) lines were written in the current window, and how many were held back."""

    def __init__(self, window_s: float = REPEAT_WINDOW_S, clock: Any = time.monotonic) -> None:
        self.window_s, self.clock = window_s, clock
        self.seen: dict[tuple[str, ...], tuple[float, int]] = {}

    def admit(self, key: tuple[str, ...]) -> int | None:
        """None: hold this line back; else write it, with the number held back since the last one written."""
        now = self.clock()
        first, held = self.seen.get(key, (-self.window_s - 1, 0))
        if now - first < self.window_s:
            self.seen[key] = (first, held + 1)
            return None
        self.seen[key] = (now, 0)
        if len(self.seen) > 10_000:  # distinct lines keep coming: forget the old ones
            self.seen = {k: v for k, v in self.seen.items() if now - v[0] < self.window_s}
        return held


REPEATS = Repeats()


def hold_repeats(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: warnings and errors with the same event and error text go out once per window."""
    if method not in ("warning", "error", "critical", "exception"):
        return event
    held = REPEATS.admit((method, str(event.get("event")), str(event.get("error", ""))[:200]))
    if held is None:
        raise structlog.DropEvent
    if held:
        event["repeated"] = held
    return event


class RepeatFilter(logging.Filter):
    """The same for libraries logging through stdlib logging (aiokafka, faust, psycopg_pool)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        held = REPEATS.admit((record.name, record.levelname, str(record.msg)[:200]))
        if held is None:
            return False
        if held:
            record.msg = f"{record.msg} (and {held} more like it in the last {REPEAT_WINDOW_S:g} s)"
        return True


def hold_repeated_records(logger: logging.Logger) -> None:
    """RepeatFilter on every handler of `logger` (the root logger, also after Faust's worker replaced its
    handlers)."""
    for handler in logger.handlers:
        if not any(isinstance(f, RepeatFilter) for f in handler.filters):
            handler.addFilter(RepeatFilter())


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(format="%(message)s", stream=sys.stderr, level=level.upper())
    hold_repeated_records(logging.getLogger())
    for noisy in ("aiokafka", "faust", "mode", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level.upper())))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            hold_repeats,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
