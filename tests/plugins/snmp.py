"""Plugin: what the SNMP poller tests share — a pysnmp engine per test module, and both SNMPv2c paths (our fast codec,
producers/devices/snmp/ber.py, and pysnmp) for the tests that are cheap enough to run twice."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

from producers.devices.snmp.session import close_engine


@pytest.fixture(scope="module")
async def engine() -> AsyncIterator[SnmpEngine]:
    snmp_engine = SnmpEngine()
    yield snmp_engine
    close_engine(snmp_engine)


@pytest.fixture(params=[True, False], ids=["fast-v2c", "pysnmp-v2c"])
def fast_v2c(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)
