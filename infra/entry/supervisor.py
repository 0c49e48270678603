"""`opsledger up`: the stack started (infra/entry/stack.py), kept alive (infra/entry/healing.py), and stopped in order.

Stopping (Ctrl-C or SIGTERM) is ordered so nothing is lost: the API stops taking commands, the processors drain and
commit, their positions are saved, the projections (the archive among them) catch up, and only then do the broker
and database stop. Every step is guarded: after any failure the broker and the database are stopped all the same.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import psycopg
import structlog

from infra.entry.healing import GiveUp, Healer
from infra.entry.stack import Stack, components
from infra.kafka import end_offsets, group_lag
from infra.settings import Settings
from infra.topics import PROCESSOR_INPUTS, internal_topics, platform_topics
from projections.catalog import all_projections, applied_offsets, lag_of

log = structlog.get_logger(__name__)


def wait_http(url: str, timeout: float = 60, alive: Callable[[], bool] = lambda: True) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"a component exited before {url} answered; see {url} logs")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:g} s")


def start_components(stack: Stack) -> None:
    for name in components(stack.settings):
        stack.spawn(name)
    wait_http(f"{stack.api_url}/healthz",
              alive=lambda: all(c.process.poll() is None for c in stack.children.values()))


async def projections_caught_up(s: Settings) -> bool:
    """True when every projection applied every record of its topics written so far."""
    ends = await end_offsets(s.kafka_bootstrap_servers, platform_topics(s.processor_id))
    async with await psycopg.AsyncConnection.connect(s.database_url, connect_timeout=5) as conn:
        applied = await applied_offsets(conn)
    return not any(lag_of(all_projections(s.processor_id), ends, applied).values())


async def processors_drained(s: Settings) -> bool:
    """Inputs and the internal topics the agents pass work through (alert observations and ticks, cylinder checks):
    those are not archived, so what is in them at a stop must be processed first."""
    return await group_lag(s.kafka_bootstrap_servers, s.processor_id,
                           (*PROCESSOR_INPUTS, *internal_topics(s.processor_id))) == 0


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as e:  # a transient broker or database error while stopping: try again
            log.debug("stop.check_failed", what=what, error=str(e))
        time.sleep(0.2)
    log.warning("stop.timeout", what=what, after_s=timeout)


def _guarded(what: str, step: Callable[[], None]) -> None:
    try:
        step()
    except Exception as e:  # noqa: BLE001 - a failed step must not keep the next ones from running
        log.warning("stop.step_failed", step=what, error=str(e)[:300])


def shutdown(stack: Stack, healer: Healer | None = None) -> None:
    """Ordered stop: API and pollers, then processors once drained, then projections once caught up, then the
    backbone. With the broker or the database gone, the waits time out and the stop goes on."""
    s = stack.settings
    healthy = (stack.broker is None or stack.broker.process.poll() is None) and \
        (stack.database is None or stack.database.alive())
    try:
        _guarded("demo", lambda: stack.stop_children(("demo",)))  # first: it drives the API and owns the simulated
        # switches and camera
        _guarded("api and pollers", lambda: stack.stop_children(("api", "pollers")))
        if healthy:
            _wait(lambda: asyncio.run(processors_drained(s)), 30, "processors to drain")
        _guarded("processors", lambda: stack.stop_children(("processors", "notifier")))
        if healthy and healer is not None:
            _guarded("save positions", healer.save_positions)
            _wait(lambda: asyncio.run(projections_caught_up(s)), 60, "projections to catch up")
            _guarded("save positions", healer.save_positions)  # now that the archive holds everything
        _guarded("projections", lambda: stack.stop_children(tuple(stack.children)))
    finally:
        if stack.broker is not None:
            _guarded("broker", stack.broker.stop)
        if stack.database is not None:
            _guarded("database", stack.database.stop)
        (s.data_dir / "stack.json").unlink(missing_ok=True)
        log.info("stack.stopped")


CHECK_EVERY_S = 0.5  # how soon an exited component is noticed (and restarted, after its backoff)


def supervise(stack: Stack, healer: Healer, stop: Callable[[], bool], save_every_s: float = 5.0) -> None:
    """Keep everything running and save the processors' positions now and then, until asked to stop. Raises GiveUp
    when something keeps failing fast."""
    last_save = time.monotonic()
    while not stop():
        healer.check()
        if time.monotonic() - last_save > save_every_s:
            try:
                healer.save_positions(only_if_moved=True)
            except Exception as e:  # noqa: BLE001 - best effort between clean stops
                log.warning("positions.save_failed", error=str(e)[:300])
            last_save = time.monotonic()
        time.sleep(CHECK_EVERY_S)


__all__ = ["GiveUp", "Healer", "processors_drained", "projections_caught_up", "shutdown", "start_components",
           "supervise", "wait_http"]
