"""Rate limits (the `limits` library's moving windows) and who the client is.

The state lives in this process, or in Redis when OPSLEDGER_RATE_LIMIT_STORAGE names one, so that several API
processes share one budget per client. The client address is the peer's, or, behind trusted proxies
(OPSLEDGER_TRUST_FORWARDED), the X-Forwarded-For entry OPSLEDGER_TRUSTED_PROXY_HOPS from the right: the entries to
its left are whatever the client wrote and prove nothing.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import time
import weakref
from collections.abc import Mapping, Sequence

from limits import RateLimitItem
from limits import parse as parse_rate
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from api.problems import Problem
from infra.settings import Settings


class SweptMemoryStorage(MemoryStorage):
    """`limits`' in-process storage, with its expiry sweep at most once a second and on the loop. limits (5.8)
    starts a sweep of every key after every hit, and cuts each key's entries in a worker thread
    (`asyncio.to_thread`): a request cost a thread hop per client counted (12 % of the API's CPU under the scans
    bench), and an attacker with many addresses made every request dearer. The windows do not depend on the sweep
    (each entry carries its time); the sweep only frees memory."""

    SWEEP_EVERY_S = 1.0
    _swept_at = 0.0

    async def _MemoryStorage__schedule_expiry(self) -> None:  # replaces limits' private per-hit scheduler
        now = time.monotonic()
        if now - self._swept_at >= self.SWEEP_EVERY_S:
            self._swept_at = now
            self.sweep()

    def sweep(self) -> None:
        """Drop expired entries and counters. No await inside: nothing interleaves, so no lock is needed."""
        now = time.time()
        for key, entries in list(self.events.items()):
            kept = entries[:bisect.bisect_left(entries, -now, key=lambda entry: -entry.expiry)]  # newest first
            if kept:
                self.events[key] = kept
            else:
                del self.events[key]
                self.locks.pop(key, None)
        for key, expires in list(self.expirations.items()):
            if expires <= now:
                self.storage.pop(key, None)
                del self.expirations[key]
                self.locks.pop(key, None)


def storage_for(uri: str) -> Storage:
    if uri.startswith(("redis://", "rediss://")):
        return RedisStorage(f"async+{uri}", implementation="redispy")
    return SweptMemoryStorage()


parse = functools.lru_cache(maxsize=256)(parse_rate)  # a rate string's item, parsed once (a regex per hit before)


class Limiter:
    """Moving-window limits, keyed by what is counted (a client address, a principal, an account)."""

    def __init__(self, storage_uri: str = "memory://") -> None:
        self._limiter = MovingWindowRateLimiter(storage_for(storage_uri))
        self._turns: weakref.WeakValueDictionary[tuple[str, ...], asyncio.Lock] = weakref.WeakValueDictionary()

    def turn(self, *keys: str) -> asyncio.Lock:
        """A lock per `keys` in this process (gone once nobody holds or waits for it). Held from `blocked` to
        `count`, it keeps a burst from passing the check all at once before the first failure is counted: without
        it a window of failures bounds nothing that arrives concurrently. Across API processes sharing Redis, each
        lets one through at a time."""
        lock = self._turns.get(keys)
        if lock is None:
            lock = self._turns[keys] = asyncio.Lock()
        return lock

    async def hit(self, rate: str, *keys: str, cost: int = 1, what: str = "requests") -> None:
        item: RateLimitItem = parse(rate)
        if cost > item.amount:
            raise Problem(429, f"Too many {what} at once: at most {item}.", title="Too Many Requests")
        if not await self._limiter.hit(item, *keys, cost=cost):
            raise too_many(what, await self._retry_after(item, keys))

    async def blocked(self, rates: Sequence[str], *keys: str) -> int | None:
        """Seconds to wait when any of these windows is used up for `keys` (nothing is counted), else None."""
        waits = [await self._retry_after(item, keys) for item in map(parse, rates)
                 if not await self._limiter.test(item, *keys)]
        return max(waits) if waits else None

    async def count(self, rates: Sequence[str], *keys: str) -> None:
        """Count one more in each window, whether or not it is used up (failures are counted, never refused)."""
        for item in map(parse, rates):
            await self._limiter.hit(item, *keys)

    async def _retry_after(self, item: RateLimitItem, keys: Sequence[str]) -> int:
        reset_at, _ = await self._limiter.get_window_stats(item, *keys)
        return max(1, int(reset_at - time.time()) + 1)


def too_many(what: str, retry_after: int) -> Problem:
    return Problem(429, f"Too many {what}; slow down.", headers={"Retry-After": str(retry_after)},
                   title="Too Many Requests")


def client_address(headers: Mapping[str, str], peer: str | None, settings: Settings) -> str:
    """The address limits and the audit log count: the peer's, or the one our own proxies saw (see module doc)."""
    if settings.trust_forwarded:
        hops = [hop.strip() for hop in headers.get("x-forwarded-for", "").split(",") if hop.strip()]
        if len(hops) >= settings.trusted_proxy_hops:
            return hops[-settings.trusted_proxy_hops][:100]
    return peer or "unknown"
