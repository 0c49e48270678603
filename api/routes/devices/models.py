"""What the device and camera routes take and give. Secrets come in (SecretStr) and never go out: responses say only
whether secrets are stored."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, field_validator

from api.fields import Int
from api.text import Secret, Text
from schemas.devices.cameras import RTSP_URL, masked_url, rtsp_url_without_credentials
from schemas.devices.events import AUTH_PROTOCOLS, PRIV_PROTOCOLS, DeviceSpec, DeviceType, IpAddress, Tag
from schemas.envelope import json_number


class SnmpV2cIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Literal["2c"]
    community: Secret | None = Field(default=None, description="required on create; omitted on update: keep it")

    def secrets(self) -> dict[str, str | None] | None:
        return None if self.community is None else {"community": self.community.get_secret_value()}


class SnmpV3In(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Literal["3"]
    user: Text = Field(min_length=1, max_length=100)
    auth_protocol: AUTH_PROTOCOLS = "none"
    auth_key: Secret | None = Field(default=None, min_length=8,
                                    description="8+ characters; omitted on update: keep the stored keys")
    priv_protocol: PRIV_PROTOCOLS = "none"
    priv_key: Secret | None = Field(default=None, min_length=8)
    context_name: Text = Field(default="", max_length=100)

    @field_validator("auth_key", "priv_key")
    @classmethod
    def _long_enough(cls, key: SecretStr | None) -> SecretStr | None:
        if key is not None and len(key.get_secret_value()) < 8:
            raise ValueError("SNMPv3 pass phrases must be at least 8 characters (RFC 3414)")
        return key

    def secrets(self) -> dict[str, str | None] | None:
        if self.auth_key is None and self.priv_key is None:
            return None
        return {"auth_key": self.auth_key.get_secret_value() if self.auth_key else None,
                "priv_key": self.priv_key.get_secret_value() if self.priv_key else None}


class DeviceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text = Field(min_length=1, max_length=200)
    device_type: DeviceType
    management_ip: IpAddress
    snmp_port: Int = Field(default=161, ge=1, le=65535)
    vendor: Text | None = Field(default=None, max_length=100)
    model: Text | None = Field(default=None, max_length=100)
    site: Text | None = Field(default=None, max_length=100)
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    polling_interval_s: Int = Field(default=60, ge=5, le=86_400)
    snmp: Annotated[SnmpV2cIn | SnmpV3In, Field(discriminator="version")]


class SnmpOut(BaseModel):
    version: str
    user: str | None = None
    auth_protocol: str = "none"
    priv_protocol: str = "none"
    context_name: str = ""
    secrets: Literal["stored (redacted)"] = "stored (redacted)"


class DeviceOut(BaseModel):
    device_id: uuid.UUID
    version: int
    name: str
    device_type: str
    management_ip: str
    snmp_port: int
    vendor: str | None
    model: str | None
    site: str | None
    tags: list[str]
    polling_interval_s: int
    snmp: SnmpOut
    status: str
    status_since: datetime | None
    last_poll_at: datetime | None
    last_poll_ms: float | None
    last_response_ms: float | None
    last_poll_partial: bool | None
    last_error: str | None
    last_error_at: datetime | None
    consecutive_failures: int
    sys_name: str | None
    sys_descr: str | None
    sys_object_id: str | None
    registered_at: datetime
    updated_at: datetime


def device_out(row: dict[str, Any]) -> DeviceOut:
    spec = row["spec"]
    snmp = SnmpOut(version=spec["snmp_version"], user=spec.get("snmp_user"), auth_protocol=spec["auth_protocol"],
                   priv_protocol=spec["priv_protocol"], context_name=spec.get("context_name", ""))
    return DeviceOut(**{k: v for k, v in row.items() if k in DeviceOut.model_fields and k != "snmp"},
                     **{k: spec[k] for k in ("snmp_port", "vendor", "model", "tags", "polling_interval_s")},
                     snmp=snmp)


class DeviceSummary(BaseModel):
    total: int
    by_status: dict[str, int]
    by_type: dict[str, int]
    by_site: dict[str, int]


class PollOut(BaseModel):
    """What an immediate poll saw; the same facts are on devices.samples (read the device with the token)."""

    device_id: uuid.UUID
    reachable: bool
    error: str | None
    response_ms: float | None
    poll_ms: float
    interfaces: int
    partial: bool
    sys_name: str | None
    consistency_token: str | None


class InterfaceOut(BaseModel):
    if_index: int
    name: str | None
    alias: str | None
    oper_status: str
    admin_status: str
    speed_mbps: int | None
    sampled_at: datetime
    oper_changed_at: datetime | None
    in_bps: float | None
    out_bps: float | None
    in_utilisation: float | None
    out_utilisation: float | None
    in_errors_per_s: float | None
    out_errors_per_s: float | None
    rate_at: datetime | None


class Stats(BaseModel):
    min: float
    avg: float
    max: float
    p95: float


class BandwidthPoint(BaseModel):
    at: datetime = Field(description="start of the bucket")
    samples: int
    in_bps: Stats
    out_bps: Stats
    utilisation: Stats | None = Field(description="the busier direction, as a fraction of ifHighSpeed")


class BandwidthOut(BaseModel):
    device_id: uuid.UUID
    if_index: int
    step_s: int
    points: list[BandwidthPoint]


class TopInterface(BaseModel):
    device_id: uuid.UUID
    device_name: str
    if_index: int
    name: str | None
    samples: int
    utilisation: float | None
    in_bps: float
    out_bps: float


def split_camera_url(url: str) -> tuple[str, str | None]:
    """(URL as published, full URL to keep secret or None): password-like values in the path and query are masked in
    the first (schemas.devices.cameras.masked_url)."""
    rtsp_url_without_credentials(url)
    public = masked_url(url)
    return (url, None) if public == url else (public, url)


class CameraIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text = Field(min_length=1, max_length=200)
    url: str = Field(min_length=8, max_length=2000, pattern=RTSP_URL,
                     description="rtsp:// or rtsps://, credentials apart")
    location: Text | None = Field(default=None, max_length=200)
    probe_interval_s: Int = Field(default=60, ge=5, le=86_400)
    # the bounds before the JSON-number check: after it, pydantic writes them into the document as `ge`/`le`
    snapshot_interval_s: Annotated[int, Field(ge=10, le=86_400), BeforeValidator(json_number)] | None = Field(
        default=None, description="the pollers grab a frame this often for image health")
    username: Text | None = Field(default=None, min_length=1, max_length=200)
    password: Secret | None = Field(default=None, description="omitted on update: keep the stored one")

    @field_validator("url")
    @classmethod
    def _rtsp(cls, url: str) -> str:
        return rtsp_url_without_credentials(url)


class CameraOut(BaseModel):
    camera_id: uuid.UUID
    version: int
    name: str
    url: str
    location: str | None
    probe_interval_s: int
    snapshot_interval_s: int | None
    credentials: Literal["none", "stored (redacted)"]
    status: str
    status_since: datetime | None
    checked_at: datetime | None
    reachable: bool | None
    status_code: int | None
    latency_ms: float | None
    codec: str | None
    width: int | None
    height: int | None
    error: str | None
    registered_at: datetime
    updated_at: datetime


def camera_out(row: dict[str, Any]) -> CameraOut:
    credentials: Literal["none", "stored (redacted)"] = (
        "none" if row["credentials_version"] is None else "stored (redacted)")
    return CameraOut(**{k: v for k, v in row.items() if k in CameraOut.model_fields}, credentials=credentials)


class StreamOut(BaseModel):
    camera_id: uuid.UUID
    url: str
    status: str
    codec: str | None
    width: int | None
    height: int | None
    checked_at: datetime | None
    error: str | None


class DiscoverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cidr: str = Field(min_length=3, max_length=50,
                      description="e.g. 10.0.0.0/24; bounded by OPSLEDGER_DISCOVERY_MAX_HOSTS")
    port: Int = Field(default=161, ge=1, le=65535)
    credentials: list[Annotated[SnmpV2cIn | SnmpV3In, Field(discriminator="version")]] = Field(
        min_length=1, max_length=5, description="tried in order at each address")

    def credential_specs(self) -> list[tuple[DeviceSpec, dict[str, str | None]]]:
        specs = []
        for creds in self.credentials:
            fields: dict[str, Any] = {"name": "discovery", "device_type": "other", "management_ip": "127.0.0.1",
                                      "snmp_version": creds.version, "credentials_version": 1}
            if isinstance(creds, SnmpV3In):
                fields.update(snmp_user=creds.user, auth_protocol=creds.auth_protocol,
                              priv_protocol=creds.priv_protocol, context_name=creds.context_name)
            specs.append((DeviceSpec.model_validate(fields), creds.secrets() or {}))
        return specs


class DiscoveredOut(BaseModel):
    ip: str
    sys_name: str
    sys_descr: str
    sys_object_id: str
    snmp_version: str


class DiscoveryOut(BaseModel):
    sweep_id: str
    addresses: int
    found: list[DiscoveredOut]
    consistency_token: str | None
