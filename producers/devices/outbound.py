"""Where pollers, probes and discovery sweeps may connect (server-side request forgery).

A device's management IP and a camera's URL are chosen by operators: without a rule, a probe connects anywhere —
the API's own loopback services, link-local and cloud metadata addresses, the compose network — with stored
credentials attached. Every outbound poll and probe therefore resolves its host first and checks every address it
would use: loopback, link-local, unspecified, multicast and the metadata addresses are refused unless a network
inside them is listed explicitly, and when OPSLEDGER_OUTBOUND_ALLOW_NETWORKS is set only its networks are reachable.
The connection then goes to the checked address, never to the name again (a second lookup could answer otherwise).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
ALWAYS_REFUSED: tuple[Network, ...] = tuple(ipaddress.ip_network(n) for n in (
    "127.0.0.0/8", "::1/128",  # loopback: the host's own services
    "0.0.0.0/8", "::/128",  # "this host"
    "169.254.0.0/16", "fe80::/10",  # link-local, 169.254.169.254 (cloud metadata) among them
    "100.100.100.200/32", "fd00:ec2::254/128",  # other clouds' metadata services
    "224.0.0.0/4", "ff00::/8", "255.255.255.255/32",  # multicast and broadcast
))


class OutboundRefused(ValueError):
    """The address is not one pollers and probes may connect to."""


def networks(text: str) -> tuple[Network, ...]:
    """OPSLEDGER_OUTBOUND_ALLOW_NETWORKS: comma-separated CIDRs; ValueError for anything else."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip())


@dataclass(frozen=True)
class Outbound:
    allowed: tuple[Network, ...] = ()  # empty: every address but ALWAYS_REFUSED

    @classmethod
    def of(cls, allow_networks: str) -> Outbound:
        return cls(networks(allow_networks))

    def permits(self, address: str | Address) -> bool:
        ip = ipaddress.ip_address(address)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
        refused = [n for n in ALWAYS_REFUSED if n.version == ip.version and ip in n]
        listed = [n for n in self.allowed if n.version == ip.version and ip in n]
        if refused:  # only a network listed inside a refused range opens it (0.0.0.0/0 does not open loopback)
            return any(a.subnet_of(r) for a in listed for r in refused)  # type: ignore[arg-type]
        return not self.allowed or bool(listed)

    def check(self, address: str) -> str:
        if not self.permits(address):
            raise OutboundRefused(f"{address} is not an address probes may reach (OPSLEDGER_OUTBOUND_ALLOW_NETWORKS)")
        return address

    async def resolve(self, host: str, port: int, kind: socket.SocketKind = socket.SOCK_STREAM) -> tuple[int, str]:
        """(address family, the first permitted address of `host`); OutboundRefused when it has none."""
        try:
            ip = ipaddress.ip_address(host.strip("[]"))
            return (socket.AF_INET6 if ip.version == 6 else socket.AF_INET), self.check(str(ip))
        except ValueError as not_literal:
            if isinstance(not_literal, OutboundRefused):
                raise
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=kind)
        for family, _, _, _, sockaddr in found:
            if self.permits(str(sockaddr[0])):
                return family, str(sockaddr[0])
        raise OutboundRefused(f"{host} resolves to no address probes may reach (OPSLEDGER_OUTBOUND_ALLOW_NETWORKS)")
