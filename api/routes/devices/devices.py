"""Network devices: the registry as events (DeviceRegistered / Updated / Removed on devices.registry), secrets
encrypted in device_secrets in the same request, status and interfaces from the read models, an immediate poll.

Versions as ETags: PUT needs If-Match (428 without, 412 when stale), DELETE takes it when given."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from psycopg.rows import dict_row

from api.commands import (
    Accepted,
    IfMatch,
    ReadBack,
    RequiredIfMatch,
    Versioned,
    check_version,
    emit,
    if_match_version,
    saved,
)
from api.deps import DbConn, Pool, Producer, SettingsDep
from api.identity.principal import CurrentPrincipal
from api.problems import Problem
from api.routes.devices.deps import TOPICS, Box, Consistent, Engine
from api.routes.devices.models import (
    DeviceIn,
    DeviceOut,
    DeviceSummary,
    InterfaceOut,
    PollOut,
    device_out,
)
from infra import secrets as secret_store
from infra.secrets import SecretBox, SecretsUnavailable
from producers.devices import commands
from producers.devices.pollers import device_from
from producers.devices.snmp.credentials import CredentialsError
from producers.devices.snmp.poll import poll_device
from schemas.devices.events import DeviceSpec, DeviceStatus, DeviceType, SnmpVersion

router = APIRouter(prefix="/api/devices", tags=["devices"])
COLUMNS = ("SELECT device_id, version, spec, name, device_type, management_ip, site, removed, registered_at,"
           " updated_at, last_event_id, status, status_since, last_poll_at, last_poll_ms, last_response_ms,"
           " last_poll_partial, last_error, last_error_at, consecutive_failures, sys_name, sys_descr, sys_object_id"
           " FROM devices")
INTERFACES = ("SELECT if_index, name, alias, oper_status, admin_status, speed_mbps, sampled_at, oper_changed_at,"
              " in_bps, out_bps, in_utilisation, out_utilisation, in_errors_per_s, out_errors_per_s, rate_at"
              " FROM device_interfaces WHERE device_id = %s ORDER BY if_index")
SUMMARY = "SELECT {column} AS key, count(*) FROM devices WHERE NOT removed GROUP BY 1"
SAVED: dict[int | str, dict[str, Any]] = {201: {"description": "with ?wait=true: the device as stored"}}


DEVICES = Versioned("device", COLUMNS + " WHERE device_id = %s", gone="removed")
READ_BACK = ReadBack("devices", TOPICS, DEVICES.load, device_out, gone="removed")


def spec_of(body: DeviceIn, credentials_version: int) -> DeviceSpec:
    snmp = body.snmp
    fields: dict[str, Any] = {**body.model_dump(exclude={"snmp"}), "credentials_version": credentials_version,
                              "snmp_version": snmp.version}
    if snmp.version == "3":
        fields.update(snmp_user=snmp.user, auth_protocol=snmp.auth_protocol, priv_protocol=snmp.priv_protocol,
                      context_name=snmp.context_name)
    try:
        return DeviceSpec.model_validate(fields)
    except ValueError as e:
        raise Problem(422, f"The device is not valid: {e}") from e


def checked(spec: DeviceSpec, secrets: dict[str, str | None]) -> None:
    try:
        commands.snmp_credentials(spec, secrets)
    except CredentialsError as e:
        raise Problem(422, f"The SNMP credentials cannot work: {e}") from e


@router.get("/", response_model=list[DeviceOut], dependencies=[Consistent])
async def list_devices(conn: DbConn, status: DeviceStatus | None = None, device_type: DeviceType | None = None,
                       site: Annotated[str | None, Query(max_length=100)] = None,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[DeviceOut]:
    where, params = ["NOT removed"], []
    for column, value in (("status", status), ("device_type", device_type), ("site", site)):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(str(value))
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(COLUMNS + " WHERE " + " AND ".join(where) + " ORDER BY name, device_id LIMIT %s",
                          [*params, limit])
        return [device_out(r) for r in await cur.fetchall()]


@router.post("/", response_model=Accepted | DeviceOut, status_code=202, responses=SAVED)
async def register_device(body: DeviceIn, request: Request, response: Response, pool: Pool, producer: Producer,
                          settings: SettingsDep, principal: CurrentPrincipal, box: Box,
                          wait: bool = False) -> Accepted | DeviceOut:
    """Register a device. Its SNMP secrets are encrypted into device_secrets; the event names only their version."""
    device_id = str(uuid.uuid4())
    secrets = body.snmp.secrets()
    if secrets is None and body.snmp.version == "2c":
        raise Problem(422, "A new SNMPv2c device needs its community.")
    spec = spec_of(body, 1)
    checked(spec, secrets or {})
    async with pool.connection() as conn:
        await secret_store.put(conn, box, device_id, 1, secrets or {})
    event = commands.save_device(device_id, 1, spec, actor=principal.actor, correlation_id=request.state.request_id)
    return await saved(request, response, pool, settings, producer, event, READ_BACK, wait=wait,
                         created=True, location=f"/api/devices/{device_id}")


@router.get("/status", response_model=DeviceSummary, dependencies=[Consistent])
async def status_summary(conn: DbConn) -> DeviceSummary:
    counts: dict[str, dict[str, int]] = {}
    for column in ("status", "device_type", "site"):
        rows = await (await conn.execute(SUMMARY.format(column=column))).fetchall()
        counts[column] = {str(key) if key is not None else "(none)": n for key, n in rows}
    return DeviceSummary(total=sum(counts["status"].values()), by_status=counts["status"],
                         by_type=counts["device_type"], by_site=counts["site"])


@router.get("/{device_id}", response_model=DeviceOut, dependencies=[Consistent])
async def get_device(device_id: uuid.UUID, pool: Pool, response: Response) -> DeviceOut:
    row = await DEVICES.current(pool, device_id)
    response.headers["ETag"] = f'"{row["version"]}"'
    return device_out(row)


async def stored_secrets(pool: Pool, box: SecretBox, device_id: str, version: int) -> dict[str, str | None]:
    try:
        async with pool.connection() as conn:
            return await secret_store.get(conn, box, device_id, version)
    except SecretsUnavailable as e:
        raise Problem(409, f"The stored SNMP secrets cannot be read ({e}); send them again.") from e


@router.put("/{device_id}", response_model=Accepted | DeviceOut, status_code=202,
            responses={200: {"description": "with ?wait=true: the device as stored"}})
async def update_device(device_id: uuid.UUID, body: DeviceIn, request: Request, response: Response, pool: Pool,
                        producer: Producer, settings: SettingsDep, principal: CurrentPrincipal, box: Box,
                        if_match: RequiredIfMatch, wait: bool = False) -> Accepted | DeviceOut:
    """Replace a device's registration. SNMP secrets left out are kept, unless the SNMP version or user changes."""
    seen = if_match_version(if_match, required=True)
    row = await DEVICES.current(pool, device_id)
    check_version(row["version"], seen, "device")
    version, before = row["version"] + 1, DeviceSpec.model_validate(row["spec"])
    secrets = body.snmp.secrets()
    if secrets is None:
        same_user = body.snmp.version == before.snmp_version.value and (
            before.snmp_version is SnmpVersion.v2c or getattr(body.snmp, "user", None) == before.snmp_user)
        if not same_user:
            raise Problem(422, "Send the SNMP secrets again when the SNMP version or user changes.")
        # stored secrets go only where they went before: else an operator could aim them at a host of their own
        if (str(body.management_ip), body.snmp_port) != (str(before.management_ip), before.snmp_port):
            raise Problem(422, "Send the SNMP secrets again when the management IP or SNMP port changes.")
        spec = spec_of(body, before.credentials_version)
        checked(spec, await stored_secrets(pool, box, str(device_id), before.credentials_version))
    else:
        spec = spec_of(body, version)
        checked(spec, secrets)
        async with pool.connection() as conn:
            await secret_store.put(conn, box, str(device_id), version, secrets)
    event = commands.save_device(str(device_id), version, spec, actor=principal.actor,
                                 correlation_id=request.state.request_id)
    return await saved(request, response, pool, settings, producer, event, READ_BACK, wait=wait,
                         created=False, location=f"/api/devices/{device_id}")


@router.delete("/{device_id}", response_model=Accepted, status_code=202,
               responses={200: {"description": "with ?wait=true: removed"}})
async def remove_device(device_id: uuid.UUID, request: Request, response: Response, pool: Pool, producer: Producer,
                        settings: SettingsDep, principal: CurrentPrincipal,
                        if_match: IfMatch = None, wait: bool = False) -> Accepted | DeviceOut:
    """Remove a device from the registry; its stored secrets are deleted once the removal is recorded."""
    seen = if_match_version(if_match, required=False)
    row = await DEVICES.current(pool, device_id)
    check_version(row["version"], seen, "device")
    event = commands.remove_device(str(device_id), row["version"], actor=principal.actor,
                                   correlation_id=request.state.request_id)
    answer = await saved(request, response, pool, settings, producer, event, READ_BACK, wait=wait,
                         created=False, location=f"/api/devices/{device_id}")
    async with pool.connection() as conn:
        await secret_store.forget(conn, str(device_id))
    return answer


@router.post("/{device_id}/poll", response_model=PollOut)
async def poll_now(device_id: uuid.UUID, request: Request, response: Response, pool: Pool, producer: Producer,
                   settings: SettingsDep, principal: CurrentPrincipal, box: Box, engine: Engine) -> PollOut:
    """Poll the device now (bounded by the poller deadline) and record what was seen as poll facts. Read the device
    (or its interfaces) with the returned consistency token to see the result in the read models."""
    row = await DEVICES.current(pool, device_id)
    spec = DeviceSpec.model_validate(row["spec"])
    secrets = await stored_secrets(pool, box, str(device_id), spec.credentials_version)
    try:
        device = device_from(str(device_id), spec, secrets, settings)
    except CredentialsError as e:
        raise Problem(409, f"The stored SNMP credentials cannot work: {e}") from e
    result = await poll_device(engine, device.target, device.creds, deadline_s=settings.poller_deadline_s)
    events = commands.poll_events(result, actor=principal.actor, correlation_id=request.state.request_id,
                                  source="api.devices.poll")
    token = (await emit(request, response, producer, events)).consistency_token or ""
    response.status_code = 200  # the poll happened: its facts are in the log
    sample = result.sample
    return PollOut(device_id=device_id, reachable=result.ok,
                   error=result.unreachable.reason if result.unreachable else None,
                   response_ms=result.reachable.response_ms if result.reachable else None,
                   poll_ms=round(result.elapsed_s * 1000, 1), interfaces=len(sample.interfaces) if sample else 0,
                   partial=result.partial, sys_name=result.identity.sys_name if result.identity else None,
                   consistency_token=token)


@router.get("/{device_id}/interfaces", response_model=list[InterfaceOut], dependencies=[Consistent])
async def interfaces(device_id: uuid.UUID, pool: Pool, conn: DbConn) -> list[InterfaceOut]:
    await DEVICES.current(pool, device_id)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(INTERFACES, (str(device_id),))
        return [InterfaceOut(**r) for r in await cur.fetchall()]

