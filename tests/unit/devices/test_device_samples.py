"""The processor's pure core for devices: rates between samples, changes on change only, redelivery, late samples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from processors.devices.machine import DeviceMemory, Fact, decide, evolve
from schemas.devices.events import (
    DeviceReachable,
    DeviceStatus,
    DeviceStatusChanged,
    DeviceUnreachable,
    InterfaceCounters,
    InterfaceCountersSampled,
    InterfaceOperStatusChanged,
    InterfaceRateComputed,
    OperStatus,
)
from schemas.envelope import Payload

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def step(memory: DeviceMemory, fact: Fact) -> tuple[list[Payload], DeviceMemory]:
    """What the agent does with one fact: decide, then fold the fact and what it led to into the memory."""
    derived = decide(memory, fact)
    after = evolve(memory, fact)
    for event in derived:
        after = evolve(after, event)
    return derived, after


def sample(seconds: int, octets: int, oper: OperStatus = OperStatus.up) -> InterfaceCountersSampled:
    row = InterfaceCounters(if_index=1, name="Gi1/0/1", in_octets=octets, out_octets=octets // 2, oper_status=oper,
                            high_speed_mbps=1000)
    return InterfaceCountersSampled(device_id="d1", sampled_at=T0 + timedelta(seconds=seconds),
                                    sys_uptime_ticks=100_000 + seconds * 100, hc=True, interfaces=(row,))


def test_the_first_sample_gives_no_rate_but_says_each_interfaces_status() -> None:
    derived, memory = step(DeviceMemory(), sample(0, 0))
    assert [type(e) for e in derived] == [InterfaceOperStatusChanged]
    assert isinstance(derived[0], InterfaceOperStatusChanged) and derived[0].previous is None
    assert memory.latest == sample(0, 0)


def test_the_second_sample_gives_the_rate_and_no_status_change() -> None:
    _, memory = step(DeviceMemory(), sample(0, 0))
    derived, memory = step(memory, sample(10, 10_000_000))
    assert len(derived) == 1 and isinstance(rate := derived[0], InterfaceRateComputed)
    assert rate.in_bps == 8_000_000 and rate.out_bps == 4_000_000 and rate.in_utilisation == 0.008
    assert memory.before == sample(0, 0)


def test_an_oper_status_change_is_emitted_once() -> None:
    _, memory = step(DeviceMemory(), sample(0, 0))
    derived, memory = step(memory, sample(10, 1000, OperStatus.down))
    changes = [e for e in derived if isinstance(e, InterfaceOperStatusChanged)]
    assert [(c.previous, c.current) for c in changes] == [(OperStatus.up, OperStatus.down)]
    derived, _ = step(memory, sample(20, 2000, OperStatus.down))
    assert not [e for e in derived if isinstance(e, InterfaceOperStatusChanged)]


def test_a_redelivered_sample_derives_the_same_events_again_and_a_late_one_nothing() -> None:
    _, memory = step(DeviceMemory(), sample(0, 0))
    first, memory = step(memory, sample(10, 10_000_000))
    again, after = step(memory, sample(10, 10_000_000))
    assert again == first and after == memory
    late, after = step(memory, sample(5, 5_000_000))
    assert late == [] and after == memory


def test_reachability_changes_only_on_change() -> None:
    up = DeviceReachable(device_id="d1", at=T0, response_ms=3)
    down = DeviceUnreachable(device_id="d1", at=T0 + timedelta(seconds=60), reason="timeout")
    derived, memory = step(DeviceMemory(), up)
    assert derived == [DeviceStatusChanged(device_id="d1", previous=None, current=DeviceStatus.up, at=T0)]
    assert step(memory, up)[0] == []
    derived, memory = step(memory, down)
    assert [(e.previous, e.current, e.reason) for e in derived if isinstance(e, DeviceStatusChanged)] == [
        (DeviceStatus.up, DeviceStatus.down, "timeout")]
    assert memory.status is DeviceStatus.down


def test_memory_survives_the_table_round_trip() -> None:
    _, memory = step(DeviceMemory(status=DeviceStatus.up), sample(0, 0))
    assert DeviceMemory.model_validate(memory.model_dump(mode="json")) == memory
