"""Interface rates from two consecutive counter samples (shared DOMAIN.md "SNMP polling"). Pure: no I/O, no clock.

delta-t is the device's own sysUpTime (1/100 s, itself wrapping at 2^32), or the poller's clock for an agent without
sysUpTime (the sample's `poller_clock`; a reboot cannot then be told from a reset, which gives no rate either). A
counter that went down wrapped if the value fits the counter's width and the rate the wrap implies is at most the
interface speed; otherwise the counter was reset and the interval yields no rate. sysUpTime going down (and not by
wrapping) means the device rebooted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from schemas.devices.events import InterfaceCounters, InterfaceCountersSampled, InterfaceRateComputed

TICKS_PER_S = 100
UPTIME_MODULUS = 2**32
ERROR_COUNTER_BITS = 32  # ifInErrors & co. have no 64-bit twin
MIN_FRAME_BITS = 84 * 8  # the smallest Ethernet frame on the wire (with preamble and gap): the most packets per second
WRAP_SPEED_SLACK = 1.05  # sysUpTime and the counters are read a few ms apart: let a wrap imply slightly over speed
UPTIME_WRAP_SLACK_S = 5.0  # how far an uptime wrap's implied interval may differ from the wall clock's


class NoRate(StrEnum):
    """Why an interval yields no rate."""

    reboot = "reboot"  # sysUpTime went down
    zero_interval = "zero_interval"
    counter_reset = "counter_reset"  # an octet counter went down and that was not a wrap
    missing = "missing"  # an octet counter absent from either sample (a partial poll)
    width_changed = "width_changed"  # one sample is 64-bit, the other 32-bit


@dataclass(frozen=True)
class CounterSample:
    """One interface at one poll, with what the maths needs of the device-wide poll."""

    uptime_ticks: int | None  # None: the agent has no sysUpTime, time by sampled_at (the poller's clock)
    sampled_at: datetime
    counter_bits: int  # width of the octet counters: 64 (ifHC*) or 32
    speed_mbps: int | None  # ifHighSpeed; 0 or None = unknown
    in_octets: int | None
    out_octets: int | None
    in_errors: int | None = None
    out_errors: int | None = None
    in_discards: int | None = None
    out_discards: int | None = None


@dataclass(frozen=True)
class InterfaceRates:
    interval_s: float
    in_bps: float
    out_bps: float
    in_utilisation: float | None
    out_utilisation: float | None
    in_errors_per_s: float | None
    out_errors_per_s: float | None
    in_discards_per_s: float | None
    out_discards_per_s: float | None


def interval_seconds(previous: CounterSample, current: CounterSample) -> float | NoRate:
    """Seconds between the samples by the device's clock; a sysUpTime wrap is told from a reboot by the wall clock.
    Without sysUpTime in either sample, by the poller's clock."""
    if previous.uptime_ticks is None or current.uptime_ticks is None:
        wall_s = (current.sampled_at - previous.sampled_at).total_seconds()
        return wall_s if wall_s > 0 else NoRate.zero_interval
    ticks = current.uptime_ticks - previous.uptime_ticks
    if ticks < 0:
        wrapped = ticks + UPTIME_MODULUS
        wall_s = (current.sampled_at - previous.sampled_at).total_seconds()
        if wall_s <= 0 or abs(wrapped / TICKS_PER_S - wall_s) > max(UPTIME_WRAP_SLACK_S, 0.1 * wall_s):
            return NoRate.reboot
        ticks = wrapped
    if ticks == 0:
        return NoRate.zero_interval
    return ticks / TICKS_PER_S


def counter_delta(previous: int | None, current: int | None, *, bits: int, interval_s: float,
                  max_per_s: float | None) -> int | None:
    """The increase between two readings of one counter, or None if unknown (missing, or reset rather than wrap)."""
    if previous is None or current is None:
        return None
    if current >= previous:
        return current - previous
    modulus = 2**bits
    if previous >= modulus or max_per_s is None:
        return None
    wrapped = current + modulus - previous
    return wrapped if wrapped / interval_s <= max_per_s * WRAP_SPEED_SLACK else None


def interface_rates(previous: CounterSample, current: CounterSample) -> InterfaceRates | NoRate:
    if previous.counter_bits != current.counter_bits:
        return NoRate.width_changed
    interval = interval_seconds(previous, current)
    if isinstance(interval, NoRate):
        return interval
    speed_bps = (current.speed_mbps or 0) * 1_000_000 or None
    octet_limit = speed_bps / 8 if speed_bps else None
    packet_limit = speed_bps / MIN_FRAME_BITS if speed_bps else None
    if None in (previous.in_octets, current.in_octets, previous.out_octets, current.out_octets):
        return NoRate.missing
    in_octets, out_octets = (
        counter_delta(before, after, bits=current.counter_bits, interval_s=interval, max_per_s=octet_limit)
        for before, after in ((previous.in_octets, current.in_octets), (previous.out_octets, current.out_octets)))
    if in_octets is None or out_octets is None:
        return NoRate.counter_reset

    def per_second(before: int | None, after: int | None) -> float | None:
        delta = counter_delta(before, after, bits=ERROR_COUNTER_BITS, interval_s=interval, max_per_s=packet_limit)
        return None if delta is None else delta / interval

    def utilisation(bps: float) -> float | None:
        return None if speed_bps is None else min(1.0, bps / speed_bps)

    in_bps, out_bps = in_octets * 8 / interval, out_octets * 8 / interval
    return InterfaceRates(
        interval_s=interval, in_bps=in_bps, out_bps=out_bps,
        in_utilisation=utilisation(in_bps), out_utilisation=utilisation(out_bps),
        in_errors_per_s=per_second(previous.in_errors, current.in_errors),
        out_errors_per_s=per_second(previous.out_errors, current.out_errors),
        in_discards_per_s=per_second(previous.in_discards, current.in_discards),
        out_discards_per_s=per_second(previous.out_discards, current.out_discards),
    )


def counter_sample(sampled: InterfaceCountersSampled, interface: InterfaceCounters) -> CounterSample:
    uptime = sampled.sys_uptime_ticks if interface.uptime_ticks is None else interface.uptime_ticks
    return CounterSample(
        uptime_ticks=uptime, sampled_at=sampled.sampled_at, counter_bits=64 if sampled.hc else 32,
        speed_mbps=interface.high_speed_mbps, in_octets=interface.in_octets, out_octets=interface.out_octets,
        in_errors=interface.in_errors, out_errors=interface.out_errors,
        in_discards=interface.in_discards, out_discards=interface.out_discards,
    )


def rates_between(previous: InterfaceCountersSampled, current: InterfaceCountersSampled) -> list[InterfaceRateComputed]:
    """InterfaceRateComputed for each interface present in both samples whose interval yields a rate."""
    if previous.device_id != current.device_id:
        raise ValueError("samples of two different devices")
    before = {interface.if_index: interface for interface in previous.interfaces}
    computed = []
    for interface in current.interfaces:
        if interface.if_index not in before:
            continue
        earlier = counter_sample(previous, before[interface.if_index])
        rates = interface_rates(earlier, counter_sample(current, interface))
        if isinstance(rates, NoRate):
            continue
        computed.append(InterfaceRateComputed(
            device_id=current.device_id, if_index=interface.if_index, name=interface.name, at=current.sampled_at,
            interval_s=rates.interval_s, in_bps=rates.in_bps, out_bps=rates.out_bps,
            in_utilisation=rates.in_utilisation, out_utilisation=rates.out_utilisation,
            in_errors_per_s=rates.in_errors_per_s, out_errors_per_s=rates.out_errors_per_s,
            in_discards_per_s=rates.in_discards_per_s, out_discards_per_s=rates.out_discards_per_s,
        ))
    return computed
