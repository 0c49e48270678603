"""Device and camera command handlers (registry events; no I/O), and the mapping from a registered device and its
decrypted secrets to what the SNMP poller and the RTSP probe need."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from producers.devices.rtsp.probe import ProbeResult
from producers.devices.snmp.credentials import AuthProtocol, Credentials, PrivProtocol, V2cCredentials, V3Credentials
from producers.devices.snmp.discovery import Found
from producers.devices.snmp.poll import PollResult
from schemas.catalog import REGISTRY
from schemas.devices.cameras import CameraRegistered, CameraRemoved, CameraSpec, CameraStreamChecked, CameraUpdated
from schemas.devices.events import (
    DeviceDiscovered,
    DeviceRegistered,
    DeviceRemoved,
    DeviceSpec,
    DeviceUpdated,
    SnmpVersion,
)
from schemas.envelope import Envelope, Payload, utc_now

SOURCE = "api.devices"
POLLER_SOURCE = "producers.pollers"
Secrets = Mapping[str, str | None]


def _event(data: Payload, subject: str, actor: str | None, correlation_id: str | None,
           source: str = SOURCE) -> Envelope:
    return REGISTRY.event(data, source=source, subject=subject, actor=actor, correlation_id=correlation_id)


def save_device(device_id: str, version: int, spec: DeviceSpec, *, actor: str | None,
                correlation_id: str | None) -> Envelope:
    """DeviceRegistered for version 1, DeviceUpdated for any later version."""
    model = DeviceRegistered if version == 1 else DeviceUpdated
    data = model.model_validate({**spec.model_dump(), "device_id": device_id, "version": version, "at": utc_now()})
    return _event(data, device_id, actor, correlation_id)


def remove_device(device_id: str, seen_version: int, *, actor: str | None, correlation_id: str | None) -> Envelope:
    return _event(DeviceRemoved(device_id=device_id, version=seen_version + 1, at=utc_now()), device_id, actor,
                  correlation_id)


def save_camera(camera_id: str, version: int, spec: CameraSpec, *, actor: str | None,
                correlation_id: str | None) -> Envelope:
    model = CameraRegistered if version == 1 else CameraUpdated
    data = model.model_validate({**spec.model_dump(), "camera_id": camera_id, "version": version, "at": utc_now()})
    return _event(data, camera_id, actor, correlation_id)


def remove_camera(camera_id: str, seen_version: int, *, actor: str | None, correlation_id: str | None) -> Envelope:
    return _event(CameraRemoved(camera_id=camera_id, version=seen_version + 1, at=utc_now()), camera_id, actor,
                  correlation_id)


def snmp_credentials(spec: DeviceSpec, secrets: Secrets) -> Credentials:
    """Raises producers.snmp.credentials.CredentialsError (a ValueError) for credentials that cannot work."""
    if spec.snmp_version is SnmpVersion.v2c:
        return V2cCredentials(secrets.get("community") or "")
    return V3Credentials(spec.snmp_user or "", AuthProtocol(spec.auth_protocol), secrets.get("auth_key"),
                         PrivProtocol(spec.priv_protocol), secrets.get("priv_key"), context_name=spec.context_name)


def poll_events(result: PollResult, *, with_identity: bool = True, actor: str | None = None,
                correlation_id: str | None = None, source: str = POLLER_SOURCE) -> list[Envelope]:
    """The facts of one poll as events keyed by the device (identity only when asked: it is sent on change)."""
    found = [e for e in result.events() if with_identity or e is not result.identity]
    return [_event(data, result.device_id, actor, correlation_id, source) for data in found]


def stream_checked(camera_id: str, url: str, checked_at: datetime, result: ProbeResult, *,
                   actor: str | None = None, correlation_id: str | None = None,
                   source: str = POLLER_SOURCE) -> Envelope:
    data = CameraStreamChecked(camera_id=camera_id, checked_at=checked_at, url=url, reachable=result.reachable,
                               status_code=result.status_code, latency_ms=result.latency_ms, codec=result.codec,
                               width=result.width, height=result.height,
                               error=result.error[:500] if result.error else None)
    return _event(data, camera_id, actor, correlation_id, source)


def discovered(sweep_id: str, found: Found, snmp_version: str, *, actor: str | None,
               correlation_id: str | None) -> Envelope:
    data = DeviceDiscovered(sweep_id=sweep_id, ip=found.ip, at=utc_now(), sys_name=found.sys_name,
                            sys_descr=found.sys_descr, sys_object_id=found.sys_object_id,
                            snmp_version=SnmpVersion(snmp_version))
    return _event(data, found.ip, actor, correlation_id, "api.devices.discover")
