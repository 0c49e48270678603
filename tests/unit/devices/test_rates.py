from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from processors.devices.rates import (
    UPTIME_MODULUS,
    CounterSample,
    InterfaceRates,
    NoRate,
    counter_delta,
    interface_rates,
    rates_between,
)
from schemas.devices.events import InterfaceCounters, InterfaceCountersSampled

T0 = datetime(2026, 1, 1, tzinfo=UTC)
GIGABIT = 1000


def sample(ticks: int, octets: int, *, bits: int = 64, speed: int | None = GIGABIT, seconds: float | None = None,
           errors: int | None = 0, out_octets: int | None = None) -> CounterSample:
    at = T0 + timedelta(seconds=ticks / 100 if seconds is None else seconds)
    return CounterSample(uptime_ticks=ticks, sampled_at=at, counter_bits=bits, speed_mbps=speed,
                         in_octets=octets, out_octets=octets if out_octets is None else out_octets,
                         in_errors=errors, out_errors=errors, in_discards=errors, out_discards=errors)


def rates(previous: CounterSample, current: CounterSample) -> InterfaceRates:
    found = interface_rates(previous, current)
    assert isinstance(found, InterfaceRates), found
    return found


def test_steady_traffic_gives_bits_per_second_and_utilisation() -> None:
    previous = sample(100_000, 10**9, out_octets=0)
    found = rates(previous, sample(106_000, 10**9 + 60 * 12_500_000, out_octets=60 * 6_250_000))  # 100 and 50 Mb/s
    assert found.interval_s == 60
    assert found.in_bps == pytest.approx(100e6)
    assert found.out_bps == pytest.approx(50e6)
    assert found.in_utilisation == pytest.approx(0.1)
    assert found.in_errors_per_s == 0


def test_the_devices_uptime_is_the_clock_not_the_pollers() -> None:
    late_poll = replace(sample(106_000, 10**9 + 60 * 12_500_000), sampled_at=T0 + timedelta(seconds=75))
    assert rates(sample(100_000, 10**9), late_poll).in_bps == pytest.approx(100e6)


def test_a_32_bit_counter_that_wraps_at_plausible_speed_is_a_wrap() -> None:
    before, after = 2**32 - 1_000_000, 5_000_000  # 6 MB in 10 s, on a gigabit link
    found = rates(sample(1000, before, bits=32), sample(2000, after, bits=32))
    assert found.in_bps == found.out_bps == pytest.approx(6_000_000 * 8 / 10)


def test_a_32_bit_decrease_faster_than_the_link_is_a_reset() -> None:
    # wrapping would mean ~4.29 GB in 1 s on a 1 Gb/s link: the counter was cleared instead
    assert interface_rates(sample(1000, 3_000_000_000, bits=32), sample(1100, 10, bits=32)) is NoRate.counter_reset


def test_a_64_bit_decrease_is_a_reset() -> None:
    assert interface_rates(sample(1000, 10**12), sample(2000, 10**6)) is NoRate.counter_reset


def test_a_decrease_with_unknown_speed_cannot_be_told_from_a_reset() -> None:
    previous, current = sample(1000, 2**32 - 10, bits=32, speed=0), sample(2000, 10, bits=32, speed=0)
    assert interface_rates(previous, current) is NoRate.counter_reset
    assert rates(sample(1000, 10, speed=0), sample(2000, 20, speed=0)).in_utilisation is None


def test_uptime_going_down_is_a_reboot() -> None:
    assert interface_rates(sample(500_000, 10**9), sample(3_000, 10**6, seconds=5030)) is NoRate.reboot


def test_uptime_wrapping_at_2_to_the_32_is_not_a_reboot() -> None:
    previous = sample(UPTIME_MODULUS - 3000, 10**9, seconds=0)
    current = sample(3000, 10**9 + 60 * 1_000_000, seconds=60)
    assert rates(previous, current).interval_s == pytest.approx(60)


def test_zero_interval_gives_no_rate() -> None:
    assert interface_rates(sample(1000, 10), sample(1000, 20)) is NoRate.zero_interval


def test_a_missing_octet_counter_gives_no_rate_but_a_missing_error_counter_only_loses_that_rate() -> None:
    assert interface_rates(sample(1000, 10), replace(sample(2000, 20), in_octets=None)) is NoRate.missing
    found = rates(sample(1000, 10), replace(sample(2000, 20), in_errors=None))
    assert found.in_errors_per_s is None and found.out_errors_per_s == 0


def test_switching_between_32_and_64_bit_counters_gives_no_rate() -> None:
    assert interface_rates(sample(1000, 10, bits=32), sample(2000, 20)) is NoRate.width_changed


def test_rates_between_two_sampled_events_matches_interfaces_by_index() -> None:
    def sampled(ticks: int, octets: int) -> InterfaceCountersSampled:
        interfaces = tuple(InterfaceCounters(if_index=index, name=f"ge-{index}", in_octets=octets * index,
                                             out_octets=0, high_speed_mbps=GIGABIT) for index in (1, 2))
        return InterfaceCountersSampled(device_id="sw1", sampled_at=T0 + timedelta(seconds=ticks / 100),
                                        sys_uptime_ticks=ticks, hc=True, interfaces=interfaces)

    computed = rates_between(sampled(1000, 1000), sampled(2000, 2000))
    assert [(event.if_index, event.in_bps) for event in computed] == [(1, 800.0), (2, 1600.0)]
    assert computed[0].name == "ge-1" and computed[0].interval_s == 10


# properties ------------------------------------------------------------------------------------------------------

widths = st.sampled_from([32, 64])
speeds = st.sampled_from([10, 100, 1000, 10_000, 100_000])


@given(bits=widths, speed=speeds, start=st.integers(min_value=0), interval_ticks=st.integers(1, 100 * 3600),
       utilisation=st.floats(0, 1), uptime=st.integers(0, UPTIME_MODULUS - 1))
def test_traffic_within_link_speed_is_measured_exactly_through_any_single_wrap(
        bits: int, speed: int, start: int, interval_ticks: int, utilisation: float, uptime: int) -> None:
    start %= 2**bits
    interval_s = interval_ticks / 100
    octets = int(speed * 1_000_000 / 8 * interval_s * utilisation)
    if octets >= 2**bits:
        return  # more than one wrap in an interval is unobservable by design
    previous = sample(uptime, start, bits=bits, speed=speed, seconds=0)
    current = sample((uptime + interval_ticks) % UPTIME_MODULUS, (start + octets) % 2**bits, bits=bits,
                     speed=speed, seconds=interval_s)
    found = rates(previous, current)
    assert found.interval_s == pytest.approx(interval_s)
    assert found.in_bps == pytest.approx(octets * 8 / interval_s)
    assert found.in_utilisation is not None and 0 <= found.in_utilisation <= 1


@given(bits=widths, speed=speeds, before=st.integers(min_value=0), after=st.integers(min_value=0),
       interval_ticks=st.integers(1, 100 * 3600))
def test_a_decrease_is_a_wrap_only_when_the_implied_rate_fits_the_link(
        bits: int, speed: int, before: int, after: int, interval_ticks: int) -> None:
    before, after = before % 2**bits, after % 2**bits
    if after >= before:
        return
    limit = speed * 1_000_000 / 8
    delta = counter_delta(before, after, bits=bits, interval_s=interval_ticks / 100, max_per_s=limit)
    implied = (after + 2**bits - before) / (interval_ticks / 100)
    if implied <= limit:
        assert delta == after + 2**bits - before
    elif implied > limit * 1.05:
        assert delta is None


@given(bits=widths, before=st.integers(min_value=0), after=st.integers(min_value=0),
       previous_uptime=st.integers(1, UPTIME_MODULUS - 1), drop=st.integers(1, UPTIME_MODULUS - 1))
def test_uptime_going_down_within_a_normal_poll_interval_always_means_no_rate(
        bits: int, before: int, after: int, previous_uptime: int, drop: int) -> None:
    current_uptime = max(0, previous_uptime - drop)
    previous = sample(previous_uptime, before % 2**bits, bits=bits, seconds=0)
    current = sample(current_uptime, after % 2**bits, bits=bits, seconds=300)  # the poll came 5 min later
    if (current_uptime - previous_uptime) % UPTIME_MODULUS / 100 > 300 - 30:
        return  # that would be a plausible sysUpTime wrap, tested above
    assert interface_rates(previous, current) is NoRate.reboot


@given(bits=widths, value=st.integers(min_value=0), uptime=st.integers(0, UPTIME_MODULUS - 1))
def test_the_same_sysuptime_twice_gives_no_rate(bits: int, value: int, uptime: int) -> None:
    same = sample(uptime, value % 2**bits, bits=bits)
    assert interface_rates(same, same) is NoRate.zero_interval


def test_without_sysuptime_the_interval_is_the_pollers_clock() -> None:
    previous = replace(sample(0, 10**6, seconds=0), uptime_ticks=None)
    current = replace(sample(0, 10**6 + 2_500_000, seconds=10), uptime_ticks=None)
    found = rates(previous, current)
    assert found.interval_s == 10 and found.in_bps == 2_000_000
    assert interface_rates(previous, replace(current, sampled_at=previous.sampled_at)) is NoRate.zero_interval
    lower = replace(current, in_octets=10)  # no uptime to tell a reboot from a wrap: a reset, no rate
    assert interface_rates(previous, lower) is NoRate.counter_reset
