"""Server-side request forgery: which addresses pollers, probes and sweeps may reach, after DNS resolution."""

from __future__ import annotations

import asyncio

import pytest

from producers.devices.outbound import Outbound, OutboundRefused
from producers.devices.rtsp.probe import probe

DEFAULT = Outbound()


@pytest.mark.parametrize("address", ["127.0.0.1", "127.9.9.9", "::1", "169.254.169.254", "169.254.0.1", "fe80::1",
                                     "0.0.0.0", "::", "224.0.0.1", "255.255.255.255", "::ffff:127.0.0.1",
                                     "100.100.100.200", "fd00:ec2::254"])
def test_loopback_link_local_and_metadata_are_refused_by_default(address: str) -> None:
    assert not DEFAULT.permits(address)
    assert not Outbound.of("0.0.0.0/0,::/0").permits(address)  # "everything" does not open them


@pytest.mark.parametrize("address", ["10.1.2.3", "192.168.1.20", "172.20.0.5", "203.0.113.7", "2001:db8::1"])
def test_device_networks_are_reachable_by_default(address: str) -> None:
    assert DEFAULT.permits(address)


def test_an_allow_list_narrows_and_opens_explicitly() -> None:
    lab = Outbound.of("10.20.0.0/16, 127.0.0.0/8")
    assert lab.permits("10.20.3.4") and lab.permits("127.0.0.5")
    assert not lab.permits("10.21.0.1") and not lab.permits("192.168.1.1") and not lab.permits("169.254.169.254")
    with pytest.raises(ValueError):
        Outbound.of("10.0.0.300/8")


def test_names_are_checked_after_resolution() -> None:
    with pytest.raises(OutboundRefused):
        asyncio.run(DEFAULT.resolve("localhost", 554))
    assert asyncio.run(Outbound.of("127.0.0.0/8,::1/128").resolve("localhost", 554))[1] in ("127.0.0.1", "::1")


def test_a_probe_of_a_refused_address_never_connects_and_echoes_nothing() -> None:
    result = asyncio.run(probe("rtsp://169.254.169.254/latest/meta-data", username=None, password=None,
                               timeout_s=2, outbound=DEFAULT))
    assert not result.reachable and result.status_code is None
    assert "OPSLEDGER_OUTBOUND_ALLOW_NETWORKS" in (result.error or "")


def test_a_peer_that_is_not_rtsp_is_not_quoted() -> None:
    """A banner (Redis, SSH, an HTTP error page) must not travel into CameraStreamChecked, which every reader sees."""
    async def scenario() -> str | None:
        async def banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"-ERR secret-internal-banner version 7.2.4\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(banner, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            result = await probe(f"rtsp://127.0.0.1:{port}/x", username=None, password=None, timeout_s=2,
                                 outbound=Outbound.of("127.0.0.0/8"))
        return result.error

    error = asyncio.run(scenario())
    assert error and "secret-internal-banner" not in error and "ERR" not in error
