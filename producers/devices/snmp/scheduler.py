"""Polls many devices on their own schedules: one task per device, a semaphore bounding concurrent polls.

Each device runs on its own clock, so a slow or dead one never holds back another; it only holds one of the
`max_concurrent` slots for at most its deadline. Start times are spread with jitter (no thundering herd), and a device
that keeps failing is polled less and less often (exponential back-off, capped) until it answers again.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

from producers.devices.snmp.credentials import Credentials
from producers.devices.snmp.poll import PollResult, poll_device
from producers.devices.snmp.session import Target

log = logging.getLogger(__name__)

Emit = Callable[[PollResult], Awaitable[None]]
Poll = Callable[..., Awaitable[PollResult]]


@dataclass(frozen=True)
class Device:
    target: Target
    creds: Credentials
    interval_s: float = 60.0


@dataclass(frozen=True)
class Policy:
    deadline_s: float = 30.0
    max_concurrent: int = 64
    jitter: float = 0.1  # each interval is stretched or shrunk by up to this fraction
    max_backoff_s: float = 900.0
    max_repetitions: int = 25


@dataclass
class DeviceState:
    """What the schedule remembers of one device between polls."""

    failures: int = 0
    prefer_hc: bool = True
    polls: int = 0
    last: PollResult | None = field(default=None, repr=False)


def jittered(interval_s: float, jitter: float, draw: float) -> float:
    """interval scaled by a factor in [1 - jitter, 1 + jitter]; `draw` is uniform in [0, 1)."""
    return interval_s * (1 + jitter * (2 * draw - 1))


def next_delay(interval_s: float, failures: int, policy: Policy, draw: float) -> float:
    """Seconds until the next poll: the interval after a success, doubling per consecutive failure up to a cap."""
    base = interval_s if failures == 0 else min(policy.max_backoff_s, interval_s * 2 ** min(failures, 30))
    return jittered(base, policy.jitter, draw)


def after_poll(state: DeviceState, result: PollResult) -> DeviceState:
    """The state the next poll starts from (pure)."""
    prefer_hc = state.prefer_hc
    if result.sample is not None and not result.sample.partial:
        prefer_hc = result.sample.hc  # a device found without usable HC counters is asked for 32-bit ones directly
    return DeviceState(failures=0 if result.ok else state.failures + 1, prefer_hc=prefer_hc,
                       polls=state.polls + 1, last=result)


class Scheduler:
    def __init__(self, engine: SnmpEngine, devices: list[Device], emit: Emit, *, policy: Policy | None = None,
                 poll: Poll = poll_device, rng: random.Random | None = None) -> None:
        self.engine, self.devices, self.emit = engine, devices, emit
        self.policy = policy or Policy()
        self.poll = poll
        self.rng = rng or random.Random()
        self.states = {device.target.device_id: DeviceState() for device in devices}
        self.slots = asyncio.Semaphore(self.policy.max_concurrent)

    async def poll_once(self, device: Device) -> PollResult:
        """One bounded poll of one device; updates its state and hands the result to emit."""
        device_id = device.target.device_id
        state = self.states.setdefault(device_id, DeviceState())
        async with self.slots:
            result = await self.poll(self.engine, device.target, device.creds, deadline_s=self.policy.deadline_s,
                                     max_repetitions=self.policy.max_repetitions, prefer_hc=state.prefer_hc)
        self.states[device_id] = after_poll(state, result)
        try:
            await self.emit(result)
        except Exception:  # one failing emit must not stop this device's schedule
            log.exception("emitting the poll result of %s failed", device_id)
        return result

    async def device_loop(self, device: Device, stop: asyncio.Event) -> None:
        """Poll one device on its own clock until `stop` is set (devices may join a running scheduler this way)."""
        delay = device.interval_s * self.rng.random()  # spread the first polls over one interval
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
                return
            except TimeoutError:
                pass
            await self.poll_once(device)
            failures = self.states.setdefault(device.target.device_id, DeviceState()).failures
            delay = next_delay(device.interval_s, failures, self.policy, self.rng.random())

    async def run(self, stop: asyncio.Event) -> None:
        """Poll every device on its schedule until `stop` is set."""
        async with asyncio.TaskGroup() as group:
            for device in self.devices:
                group.create_task(self.device_loop(device, stop), name=f"snmp-poll-{device.target.device_id}")
