"""Network devices polled over SNMP (shared DOMAIN.md "SNMP polling"): raw poller facts and the rates derived from them.

Raw counters are facts as the device reported them; rates are derived by processors/rates.py from two samples.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from schemas.envelope import Payload

COUNTER64_MAX = 2**64 - 1
DEVICE_ID = Field(min_length=1, max_length=200)


class OperStatus(StrEnum):
    """ifOperStatus (RFC 2863); a value outside the enumeration is recorded as unknown."""

    up = "up"
    down = "down"
    testing = "testing"
    unknown = "unknown"
    dormant = "dormant"
    not_present = "notPresent"
    lower_layer_down = "lowerLayerDown"


class AdminStatus(StrEnum):
    up = "up"
    down = "down"
    testing = "testing"
    unknown = "unknown"  # not in RFC 2863: the agent did not answer or answered outside the enumeration


OPER_STATUS_BY_NUMBER = dict(enumerate(OperStatus, start=1))
ADMIN_STATUS_BY_NUMBER = {1: AdminStatus.up, 2: AdminStatus.down, 3: AdminStatus.testing}


class InterfaceCounters(Payload):
    """One interface's row of ifTable/ifXTable as sampled; None where the agent gave no value (or the walk was cut)."""

    if_index: int = Field(ge=1, le=2**31 - 1)
    name: str | None = Field(default=None, max_length=255,
                             description="ifName, or ifDescr where the agent has no ifName")
    alias: str | None = Field(default=None, max_length=255, description="ifAlias")
    in_octets: int | None = Field(default=None, ge=0, le=COUNTER64_MAX)
    out_octets: int | None = Field(default=None, ge=0, le=COUNTER64_MAX)
    in_errors: int | None = Field(default=None, ge=0, le=2**32 - 1)
    out_errors: int | None = Field(default=None, ge=0, le=2**32 - 1)
    in_discards: int | None = Field(default=None, ge=0, le=2**32 - 1)
    out_discards: int | None = Field(default=None, ge=0, le=2**32 - 1)
    oper_status: OperStatus = OperStatus.unknown
    admin_status: AdminStatus = AdminStatus.unknown
    high_speed_mbps: int | None = Field(default=None, ge=0, le=2**32 - 1, description="ifHighSpeed; 0 = unknown")
    uptime_ticks: int | None = Field(default=None, ge=0, le=2**32 - 1, description=(
        "sysUpTime read in the same response as this row's octets: a big poll's responses are spread over time"))


class InterfaceCountersSampled(Payload):
    """One poll of a device's interface counters. `hc` says whether the octets are 64-bit (ifHC*) or 32-bit.
    An agent without sysUpTime (DOMAIN.md: real agents are partial) has `sys_uptime_ticks` None and `poller_clock`
    set: rates between its samples are timed by the poller's clock (`sampled_at`)."""

    device_id: str = DEVICE_ID
    sampled_at: datetime
    sys_uptime_ticks: int | None = Field(ge=0, le=2**32 - 1, description="sysUpTime in 1/100 s, wraps at 2^32; "
                                                                         "None when the agent has none")
    poller_clock: bool = Field(default=False, description="the agent has no sysUpTime: rates are timed by the "
                                                          "poller's clock (sampled_at), not the device's")
    hc: bool
    interfaces: tuple[InterfaceCounters, ...]
    partial: bool = Field(default=False, description="the deadline cut the walk: some rows or columns are missing")
    poll_ms: float | None = Field(default=None, ge=0, description="how long the whole poll took")


class DeviceReachable(Payload):
    """The device answered a poll (emitted on every successful poll; consumers fold it into up/down transitions)."""

    device_id: str = DEVICE_ID
    at: datetime
    response_ms: float = Field(ge=0)


class DeviceUnreachable(Payload):
    """A poll got no usable answer: a timeout, an authentication failure, an SNMP error."""

    device_id: str = DEVICE_ID
    at: datetime
    reason: str = Field(min_length=1, max_length=500)


class InterfaceOperStatusChanged(Payload):
    """ifOperStatus differs from the previous poll's (previous is None on the first poll)."""

    device_id: str = DEVICE_ID
    if_index: int = Field(ge=1, le=2**31 - 1)
    name: str | None = Field(default=None, max_length=255)
    previous: OperStatus | None
    current: OperStatus
    at: datetime


class DeviceIdentified(Payload):
    """What the device says it is (system group)."""

    device_id: str = DEVICE_ID
    at: datetime
    sys_name: str = Field(max_length=255)
    sys_descr: str = Field(max_length=255)
    sys_object_id: str = Field(max_length=255, pattern=r"^([0-9]+(\.[0-9]+)*)?$")


class TopologyLinkObserved(Payload):
    """One LLDP neighbour as a poll saw it (LLDP-MIB lldpRemTable), emitted per neighbour per poll.

    Identifiers are as the devices report them: text, or colon-separated hex where the agent gave binary (a MAC).
    """

    device_id: str = DEVICE_ID
    local_port: str = Field(min_length=1, max_length=255, description="lldpLocPortId, else the LLDP port number")
    remote_chassis_id: str = Field(max_length=255, description="lldpRemChassisId")
    remote_port: str = Field(max_length=255, description="lldpRemPortId")
    remote_sys_name: str = Field(max_length=255, description="lldpRemSysName; empty if the neighbour sends none")
    at: datetime


class InterfaceRateComputed(Payload):
    """Rates over one interval between two samples of one interface (no reset, no reboot inside it)."""

    device_id: str = DEVICE_ID
    if_index: int = Field(ge=1, le=2**31 - 1)
    name: str | None = Field(default=None, max_length=255)
    at: datetime = Field(description="the later sample's time")
    interval_s: float = Field(gt=0, description="from the device's sysUpTime")
    in_bps: float = Field(ge=0)
    out_bps: float = Field(ge=0)
    in_utilisation: float | None = Field(default=None, ge=0, le=1, description="of ifHighSpeed; None if unknown")
    out_utilisation: float | None = Field(default=None, ge=0, le=1)
    in_errors_per_s: float | None = Field(default=None, ge=0)
    out_errors_per_s: float | None = Field(default=None, ge=0)
    in_discards_per_s: float | None = Field(default=None, ge=0)
    out_discards_per_s: float | None = Field(default=None, ge=0)


# ---- the registry: what an operator declared (commands emit these; secrets never travel in them) ----

class DeviceType(StrEnum):
    switch = "switch"
    router = "router"
    access_point = "access_point"
    firewall = "firewall"
    server = "server"
    other = "other"


class SnmpVersion(StrEnum):
    v2c = "2c"
    v3 = "3"


class DeviceStatus(StrEnum):
    up = "up"
    down = "down"
    unknown = "unknown"


def canonical_ip(value: str) -> str:
    """An IPv4 or IPv6 address in its canonical text (so the same device is not registered twice as two spellings)."""
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError as e:
        raise ValueError(f"{value!r} is not an IPv4 or IPv6 address") from e


IP_FORMATS = {"anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}  # what canonical_ip takes, as the document says it
IpAddress = Annotated[str, Field(min_length=2, max_length=45, json_schema_extra=IP_FORMATS),
                      AfterValidator(canonical_ip)]
Tag = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[\w.:/-]+$")]
AUTH_PROTOCOLS = Literal["none", "MD5", "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512"]
PRIV_PROTOCOLS = Literal["none", "DES", "AES-128", "AES-192", "AES-256"]


class DeviceSpec(Payload):
    """A device as registered. The SNMP secrets (community, auth and privacy keys) are stored encrypted in Postgres
    (device_secrets, row `credentials_version`), never here."""

    name: str = Field(min_length=1, max_length=200)
    device_type: DeviceType
    management_ip: IpAddress
    snmp_port: int = Field(default=161, ge=1, le=65535)
    vendor: str | None = Field(default=None, max_length=100)
    model: str | None = Field(default=None, max_length=100)
    site: str | None = Field(default=None, max_length=100)
    tags: tuple[Tag, ...] = Field(default=(), max_length=50)
    polling_interval_s: int = Field(default=60, ge=5, le=86_400)
    snmp_version: SnmpVersion
    snmp_user: str | None = Field(default=None, min_length=1, max_length=100, description="SNMPv3 USM user")
    auth_protocol: AUTH_PROTOCOLS = "none"
    priv_protocol: PRIV_PROTOCOLS = "none"
    context_name: str = Field(default="", max_length=100)
    credentials_version: int = Field(ge=1, description="the device_secrets row holding this version's secrets")

    @model_validator(mode="after")
    def _v3_needs_a_user(self) -> DeviceSpec:
        if self.snmp_version is SnmpVersion.v3 and self.snmp_user is None:
            raise ValueError("SNMPv3 needs snmp_user")
        if self.priv_protocol != "none" and self.auth_protocol == "none":
            raise ValueError("SNMPv3 privacy needs authentication (there is no noAuthPriv level)")
        return self


class DeviceRegistered(DeviceSpec):
    """A device was added to the registry (version 1)."""

    device_id: str = DEVICE_ID
    version: int = Field(ge=1, le=1)
    at: datetime


class DeviceUpdated(DeviceSpec):
    """A device's registration changed; `version` is the new version."""

    device_id: str = DEVICE_ID
    version: int = Field(ge=2)
    at: datetime


class DeviceRemoved(Payload):
    """A device left the registry (its secrets were deleted with it); `version` is the new version."""

    device_id: str = DEVICE_ID
    version: int = Field(ge=2)
    at: datetime


class DeviceStatusChanged(Payload):
    """Derived by the processor from the poll facts: the device went up or down (previous None: first poll)."""

    device_id: str = DEVICE_ID
    previous: DeviceStatus | None
    current: DeviceStatus
    at: datetime
    reason: str | None = Field(default=None, max_length=500)


class DeviceDiscovered(Payload):
    """A discovery sweep found an SNMP agent answering at `ip`; an admin may register it (POST /api/devices/)."""

    sweep_id: str = Field(min_length=1, max_length=100)
    ip: IpAddress
    at: datetime
    sys_name: str = Field(default="", max_length=255)
    sys_descr: str = Field(default="", max_length=255)
    sys_object_id: str = Field(default="", max_length=255)
    snmp_version: SnmpVersion
