"""Network devices polled over SNMP (shared DOMAIN.md "SNMP polling"): raw poller facts and the rates derived from them.

Raw counters are facts as the device reported them; rates are derived by processors/rates.py from two samples.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

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
    name: str | None = Field(default=None, max_length=255, description="ifName")
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
    """One poll of a device's interface counters. `hc` says whether the octets are 64-bit (ifHC*) or 32-bit."""

    device_id: str = DEVICE_ID
    sampled_at: datetime
    sys_uptime_ticks: int = Field(ge=0, le=2**32 - 1, description="sysUpTime in 1/100 s, wraps at 2^32")
    hc: bool
    interfaces: tuple[InterfaceCounters, ...]
    partial: bool = Field(default=False, description="the deadline cut the walk: some rows or columns are missing")


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
