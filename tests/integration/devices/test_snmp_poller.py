"""The poller against real SNMP agents (snmpsim serving infra/bench/snmpdata), v2c and v3.

SNMPv2c tests that are cheap run twice: through the fast path (producers/devices/snmp/ber.py, v2c.py) and through
pysnmp.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

from infra.bench.snmpdata.make_snmprec import (
    FASTWRAP_OCTETS_PER_S,
    REBOOT_PERIOD_S,
    SWITCH_PORTS,
    switch_errors_per_s,
    switch_in_octets_per_s,
    switch_out_octets_per_s,
)
from infra.bench.snmpsim import V3_AUTH_KEY, V3_PRIV_KEY, V3_USER, Agent, free_udp_port, running_agent
from processors.devices.rates import NoRate, counter_sample, interface_rates, rates_between
from producers.devices.outbound import Outbound
from producers.devices.snmp.credentials import AuthProtocol, PrivProtocol, V2cCredentials, V3Credentials
from producers.devices.snmp.poll import PollResult, poll_device
from producers.devices.snmp.scheduler import Device, Policy, Scheduler
from producers.devices.snmp.session import Target
from schemas.devices.events import DeviceIdentified, DeviceReachable, InterfaceCountersSampled, OperStatus

pytestmark = pytest.mark.integration
AGENTS = ["switch48", "legacy32", "fastwrap32", "reboots"]
DOWN_PORTS = {12, 24, 36, 48}

LOOPBACK = Outbound.of("127.0.0.0/8")  # the simulated agents listen on loopback, which polls refuse by default


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    # log level "error": logging every request's var-binds slows snmpsim enough to skew the simulated counters
    with running_agent(AGENTS, workdir=tmp_path_factory.mktemp("snmpsim"), log_level="error") as running:
        yield running


@pytest.fixture(scope="module")
def slow_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    """Its own process: snmpsim's delay module sleeps, which would stall every other agent in the same process."""
    with running_agent(["slow48"], workdir=tmp_path_factory.mktemp("snmpsim-slow")) as running:
        yield running


def v2c_target(agent: Agent, community: str, **kwargs: float) -> tuple[Target, V2cCredentials]:
    return Target(community, agent.host, agent.port, outbound=LOOPBACK, **kwargs), V2cCredentials(community)  # type: ignore[arg-type]


async def poll(engine: SnmpEngine, agent: Agent, community: str, deadline_s: float = 10,
               fast_v2c: bool = True) -> PollResult:
    target, creds = v2c_target(agent, community)
    return await poll_device(engine, target, creds, deadline_s=deadline_s, fast_v2c=fast_v2c)


def sampled(result: PollResult) -> InterfaceCountersSampled:
    assert result.ok, result.unreachable
    assert result.sample is not None
    return result.sample


async def test_v2c_poll_reads_the_system_group_and_every_wanted_column(engine: SnmpEngine, agent: Agent,
                                                                        fast_v2c: bool) -> None:
    result = await poll(engine, agent, "switch48", fast_v2c=fast_v2c)
    sample = sampled(result)
    assert result.identity is not None
    assert (result.identity.sys_name, result.identity.sys_object_id) == ("sw-core-48", "1.3.6.1.4.1.9.1.2694")
    assert sample.hc and not sample.partial
    assert [i.if_index for i in sample.interfaces] == list(range(1, SWITCH_PORTS + 1))
    first, down = sample.interfaces[0], sample.interfaces[11]
    assert (first.name, first.alias, first.high_speed_mbps, first.oper_status) == ("Gi1/0/1", "uplink-1", 1000, "up")
    assert first.in_octets is not None and first.in_octets > 10**12  # the 64-bit counters, not ifInOctets
    assert None not in (first.in_errors, first.out_errors, first.in_discards, first.out_discards)
    assert {i.if_index for i in sample.interfaces if i.oper_status is OperStatus.down} == DOWN_PORTS
    assert down.admin_status == "down"
    assert [type(event) for event in result.events()] == [DeviceReachable, DeviceIdentified, InterfaceCountersSampled]
    assert result.requests < 20  # all columns per GETBULK, not one walk per column


async def test_v3_auth_priv_poll_reads_the_same_switch(engine: SnmpEngine, agent: Agent) -> None:
    creds = V3Credentials(V3_USER, AuthProtocol.sha256, V3_AUTH_KEY, PrivProtocol.aes128, V3_PRIV_KEY,
                          context_name="switch48")
    result = await poll_device(engine, Target("sw-v3", agent.host, agent.port, outbound=LOOPBACK), creds, deadline_s=10)
    sample = sampled(result)
    assert len(sample.interfaces) == SWITCH_PORTS and sample.hc and not sample.partial
    assert V3_AUTH_KEY not in repr(creds) and V3_PRIV_KEY not in repr(creds)


async def test_a_wrong_v3_key_is_unreachable_with_the_agents_reason(agent: Agent) -> None:
    creds = V3Credentials(V3_USER, AuthProtocol.sha256, "not-the-key", PrivProtocol.aes128, V3_PRIV_KEY,
                          context_name="switch48")
    engine = SnmpEngine()  # its own engine: the right key for the same user lives in the shared one
    try:
        target = Target("sw-bad", agent.host, agent.port, timeout_s=1, outbound=LOOPBACK)
        result = await poll_device(engine, target, creds, deadline_s=5)
    finally:
        engine.close_dispatcher()
    assert result.unreachable is not None and result.sample is None
    assert "digest" in result.unreachable.reason.lower() or "timeout" in result.unreachable.reason.lower()


async def test_an_agent_without_hc_counters_is_read_through_32_bit_ones(engine: SnmpEngine, agent: Agent,
                                                                         fast_v2c: bool) -> None:
    sample = sampled(await poll(engine, agent, "legacy32", fast_v2c=fast_v2c))
    assert not sample.hc and not sample.partial and len(sample.interfaces) == 8
    assert all(i.in_octets is not None and i.in_octets > 0 for i in sample.interfaces)
    assert {i.high_speed_mbps for i in sample.interfaces} == {100}  # from ifSpeed: it has no ifHighSpeed


async def test_hc_counters_that_answer_zero_fall_back_to_32_bit(engine: SnmpEngine, agent: Agent,
                                                                 fast_v2c: bool) -> None:
    sample = sampled(await poll(engine, agent, "fastwrap32", fast_v2c=fast_v2c))
    assert not sample.hc
    assert all(i.in_octets for i in sample.interfaces)


async def test_a_silent_community_is_unreachable_within_its_deadline(engine: SnmpEngine, agent: Agent,
                                                                     fast_v2c: bool) -> None:
    target, creds = v2c_target(agent, "nobody-home", timeout_s=0.5, retries=1)
    started = time.monotonic()
    result = await poll_device(engine, target, creds, deadline_s=3, fast_v2c=fast_v2c)
    assert result.unreachable is not None and "no snmp response" in result.unreachable.reason.lower()
    assert time.monotonic() - started < 2.5


async def test_a_port_nobody_listens_on_is_cut_by_the_deadline(engine: SnmpEngine, fast_v2c: bool) -> None:
    target = Target("closed", "127.0.0.1", free_udp_port(), timeout_s=5, retries=3, outbound=LOOPBACK)
    started = time.monotonic()
    result = await poll_device(engine, target, V2cCredentials("public"), deadline_s=1, fast_v2c=fast_v2c)
    assert result.unreachable is not None and "deadline" in result.unreachable.reason
    assert time.monotonic() - started < 1.5


async def test_the_deadline_cuts_a_slow_walk_and_keeps_what_arrived(engine: SnmpEngine, slow_agent: Agent,
                                                                    fast_v2c: bool) -> None:
    started = time.monotonic()
    result = await poll(engine, slow_agent, "slow48", deadline_s=1.5, fast_v2c=fast_v2c)
    sample = sampled(result)
    assert time.monotonic() - started < 2.0
    assert sample.partial
    assert 0 < len(sample.interfaces) < SWITCH_PORTS  # the rows read before the deadline, no more
    assert result.identity is not None and result.identity.sys_name == "sw-core-48"


async def test_rates_from_two_real_polls_match_the_simulated_traffic(engine: SnmpEngine, agent: Agent) -> None:
    first = sampled(await poll(engine, agent, "switch48"))
    # snmpsim computes each counter when it encodes it, a few ms apart within one response: over 5 s that is < 0.5 %
    await asyncio.sleep(5)
    second = sampled(await poll(engine, agent, "switch48"))
    computed = {rate.if_index: rate for rate in rates_between(first, second)}
    assert set(computed) == set(range(1, SWITCH_PORTS + 1))
    for port, rate in computed.items():
        up = port not in DOWN_PORTS
        assert rate.in_bps == pytest.approx(switch_in_octets_per_s(port) * 8 * up, rel=0.01, abs=1)
        assert rate.out_bps == pytest.approx(switch_out_octets_per_s(port) * 8 * up, rel=0.01, abs=1)
        assert rate.in_utilisation == pytest.approx(switch_in_octets_per_s(port) * 8 * up / 1e9, rel=0.01, abs=1e-9)
        assert rate.in_errors_per_s == pytest.approx(switch_errors_per_s(port) * up, rel=0.02, abs=0.01)
        assert rate.out_discards_per_s == pytest.approx(switch_errors_per_s(port) * up, rel=0.02, abs=0.01)


async def test_a_32_bit_counter_wrapping_between_polls_still_gives_the_true_rate(
        engine: SnmpEngine, agent: Agent) -> None:
    first = sampled(await poll(engine, agent, "fastwrap32"))
    while (first.interfaces[0].in_octets or 0) < 2**31:  # from the second half of a cycle: past the wrap, the
        await asyncio.sleep(0.2)  # counter is then below where it started, however late the second poll comes
        first = sampled(await poll(engine, agent, "fastwrap32"))
    before = first.interfaces[0].in_octets
    assert before is not None
    until_wrap_s = (2**32 - 1 - before) / FASTWRAP_OCTETS_PER_S  # it wraps every 4.3 s
    await asyncio.sleep(max(until_wrap_s + 0.3, 2.0))  # past one wrap, before the next
    second = sampled(await poll(engine, agent, "fastwrap32"))
    after = second.interfaces[0].in_octets
    assert after is not None and after < before
    rate = rates_between(first, second)[0]
    assert rate.in_bps == pytest.approx(FASTWRAP_OCTETS_PER_S * 8, rel=0.01)
    assert rate.in_utilisation == pytest.approx(0.8, rel=0.01)


async def test_a_reboot_between_polls_gives_no_rate(engine: SnmpEngine, agent: Agent) -> None:
    period_ticks = REBOOT_PERIOD_S * 100
    first = sampled(await poll(engine, agent, "reboots"))
    while first.sys_uptime_ticks < 100 or first.sys_uptime_ticks > period_ticks - 100:
        await asyncio.sleep(0.5)
        first = sampled(await poll(engine, agent, "reboots"))
    await asyncio.sleep((period_ticks - first.sys_uptime_ticks) / 100 + 0.3)  # just past the "reboot"
    second = sampled(await poll(engine, agent, "reboots"))
    assert second.sys_uptime_ticks < first.sys_uptime_ticks
    assert rates_between(first, second) == []
    only = counter_sample(first, first.interfaces[0]), counter_sample(second, second.interfaces[0])
    assert interface_rates(*only) is NoRate.reboot


async def test_a_dead_device_does_not_delay_a_live_one(engine: SnmpEngine, agent: Agent) -> None:
    live = Device(*v2c_target(agent, "switch48"), interval_s=0.5)
    dead = [Device(*v2c_target(agent, "nobody-home", timeout_s=1, retries=1), interval_s=0.5),
            Device(Target("closed", "127.0.0.1", free_udp_port(), timeout_s=1, retries=1, outbound=LOOPBACK),
                   V2cCredentials("x"), 0.5)]
    polled: dict[str, list[tuple[float, PollResult]]] = {}

    async def emit(result: PollResult) -> None:
        polled.setdefault(result.device_id, []).append((time.monotonic(), result))

    scheduler = Scheduler(engine, [live, *dead], emit, policy=Policy(deadline_s=3, max_concurrent=4, jitter=0.1))
    stop = asyncio.Event()
    runner = asyncio.create_task(scheduler.run(stop))
    await asyncio.sleep(4)
    stop.set()
    await asyncio.wait_for(runner, timeout=5)

    live_polls = polled["switch48"]
    assert all(result.ok for _, result in live_polls)
    assert len(live_polls) >= 3
    gaps = [later - earlier for (earlier, _), (later, _) in zip(live_polls, live_polls[1:], strict=False)]
    slowest_poll = max(result.elapsed_s for _, result in live_polls)
    assert max(gaps) < 0.55 + slowest_poll + 0.2  # interval, jitter, one poll: never a dead device's 2 s timeout
    for device in dead:
        results = [result for _, result in polled.get(device.target.device_id, [])]
        assert results and all(not result.ok for result in results)
        assert len(results) <= 2  # backed off
        assert scheduler.states[device.target.device_id].failures == len(results)


def test_fixtures_are_regenerated_from_their_script() -> None:
    from infra.bench.snmpdata import make_snmprec

    for builder in (make_snmprec.switch48, make_snmprec.legacy32, make_snmprec.fastwrap32, make_snmprec.reboots,
                    make_snmprec.slow48, make_snmprec.winxp_no_uptime):
        rows = sorted(builder(), key=make_snmprec._oid_key)
        expected = "".join(f"{oid}|{tag}|{value}\n" for oid, tag, value in rows)
        assert (Path(make_snmprec.__file__).parent / f"{builder.__name__}.snmprec").read_text() == expected
