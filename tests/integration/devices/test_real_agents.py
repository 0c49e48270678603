"""The poller against agents recorded from real hardware (infra/bench/snmpdata/README.md: snmpsim's recordings of a
Windows XP host and an Eaton 9PX UPS), polled directly and end to end through the stack.

Real agents are partial (DOMAIN.md): no ifXTable means no ifName (the interface is named by ifDescr) and 32-bit
counters; an agent may omit sysUpTime, and a device that answers is reachable all the same, its rates then timed by
the poller's clock and the sample saying so.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

from infra.bench.snmpdata.make_snmprec import WINXP_WLAN, WINXP_WLAN_IN_OCTETS_PER_S, WINXP_WLAN_OUT_OCTETS_PER_S
from infra.bench.snmpsim import Agent, running_agent
from processors.devices.rates import rates_between
from producers.devices.outbound import Outbound
from producers.devices.snmp.credentials import V2cCredentials
from producers.devices.snmp.poll import PollResult, poll_device
from producers.devices.snmp.session import Target
from schemas.devices.events import OperStatus
from tests.helpers.support import wait_until
from tests.integration.devices.test_snmp_poller import sampled

pytestmark = pytest.mark.integration
RECORDED = ["winxp", "eaton9px", "winxp_no_uptime"]
WINXP_NAMES = {1: "MS TCP Loopback interface", 65539: "Intel(R) PRO/Wireless 2200BG Network Connection",
               65540: "Bluetooth Device (Personal Area Network)"}


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    with running_agent(RECORDED, workdir=tmp_path_factory.mktemp("snmpsim-real"), log_level="error") as running:
        yield running


async def poll(engine: SnmpEngine, agent: Agent, community: str, fast_v2c: bool = True) -> PollResult:
    return await poll_device(engine, Target(community, agent.host, agent.port, outbound=Outbound.of("127.0.0.0/8")),
                             V2cCredentials(community),
                             deadline_s=10, fast_v2c=fast_v2c)


async def test_an_agent_without_ifxtable_names_its_interfaces_by_ifdescr(engine: SnmpEngine, agent: Agent,
                                                                          fast_v2c: bool) -> None:
    sample = sampled(await poll(engine, agent, "winxp", fast_v2c))
    assert not sample.hc and not sample.partial and not sample.poller_clock
    assert sample.sys_uptime_ticks == 82795  # as recorded
    by_index = {i.if_index: i for i in sample.interfaces}
    assert {index: i.name for index, i in by_index.items()} == WINXP_NAMES  # the trailing NUL byte dropped
    wlan = by_index[WINXP_WLAN]
    assert (wlan.in_octets, wlan.out_octets, wlan.high_speed_mbps) == (911220674, 21194412, 54)  # ifSpeed 54 Mb/s
    assert (wlan.oper_status, by_index[65540].oper_status) == (OperStatus.up, OperStatus.down)
    assert wlan.alias is None  # ifAlias lives in ifXTable: the agent has none


async def test_an_agent_without_sysuptime_is_reachable(engine: SnmpEngine, agent: Agent, fast_v2c: bool) -> None:
    result = await poll(engine, agent, "eaton9px", fast_v2c)
    assert result.unreachable is None and result.reachable is not None
    assert result.identity is not None and result.identity.sys_object_id == "1.3.6.1.4.1.705.1"
    assert result.identity.sys_name == ""  # not in the recording either
    sample = sampled(result)
    assert sample.sys_uptime_ticks is None and sample.poller_clock
    assert sample.interfaces == () and not sample.partial


async def test_rates_of_an_agent_without_sysuptime_are_timed_by_the_pollers_clock(engine: SnmpEngine,
                                                                                   agent: Agent) -> None:
    first = sampled(await poll(engine, agent, "winxp_no_uptime"))
    await asyncio.sleep(6)  # the poller's clock is read around each request: its jitter over 6 s stays within 4 %
    second = sampled(await poll(engine, agent, "winxp_no_uptime"))
    assert first.poller_clock and second.poller_clock and first.sys_uptime_ticks is None
    rates = {rate.if_index: rate for rate in rates_between(first, second)}
    assert set(rates) == set(WINXP_NAMES)
    wlan = rates[WINXP_WLAN]
    assert wlan.interval_s == pytest.approx((second.sampled_at - first.sampled_at).total_seconds())
    assert wlan.in_bps == pytest.approx(WINXP_WLAN_IN_OCTETS_PER_S * 8, rel=0.04)
    assert wlan.out_bps == pytest.approx(WINXP_WLAN_OUT_OCTETS_PER_S * 8, rel=0.04)
    assert wlan.in_utilisation == pytest.approx(WINXP_WLAN_IN_OCTETS_PER_S * 8 / 54e6, rel=0.04)
    assert rates[1].in_bps == 0  # the recorded loopback's counters stand still


def device(host: str, port: int, community: str) -> dict[str, Any]:
    return {"name": f"{community}-{secrets.token_hex(3)}", "device_type": "other", "management_ip": host,
            "snmp_port": port, "polling_interval_s": 5, "snmp": {"version": "2c", "community": community}}


def test_recorded_agents_end_to_end(api: httpx.Client, agent: Agent) -> None:
    """Registered through the API and polled by the pollers: the UPS is up, the XP host's interfaces have names,
    and the copy without sysUpTime has rates (timed by the poller's clock)."""
    made = {}
    for community in RECORDED:
        answer = api.post("/api/devices/", params={"wait": "true"}, json=device(agent.host, agent.port, community))
        assert answer.status_code == 201, answer.text
        made[community] = answer.json()["device_id"]

    polled = api.post(f"/api/devices/{made['eaton9px']}/poll")
    assert polled.status_code == 200, polled.text
    assert polled.json()["reachable"] is True, polled.json()
    ups = api.get(f"/api/devices/{made['eaton9px']}", params={"after": polled.json()["consistency_token"]}).json()
    assert ups["status"] == "up" and ups["last_error"] is None

    def named() -> list[dict[str, Any]]:
        found = api.get(f"/api/devices/{made['winxp']}/interfaces").json()
        return found if len(found) == 3 else []

    interfaces = wait_until(named, timeout=30, interval=0.5, what="the XP host's interfaces")
    assert {i["if_index"]: i["name"] for i in interfaces} == WINXP_NAMES

    def rated() -> dict[str, Any] | None:
        found = api.get(f"/api/devices/{made['winxp_no_uptime']}/interfaces").json()
        return next((i for i in found if i["if_index"] == WINXP_WLAN and i["in_bps"] is not None), None)

    wlan = wait_until(rated, timeout=40, interval=0.5, what="a rate of the agent without sysUpTime")
    assert wlan["in_bps"] == pytest.approx(WINXP_WLAN_IN_OCTETS_PER_S * 8, rel=0.05)
    assert api.get(f"/api/devices/{made['winxp_no_uptime']}").json()["status"] == "up"
