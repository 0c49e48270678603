"""Discovery (admin): sweep a bounded range for SNMP agents (DeviceDiscovered on devices.samples), list what was
found and is not registered yet. Declared before the devices router so /discovered is not taken for a device id."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from psycopg.rows import dict_row

from api.commands import emit
from api.deps import DbConn, Producer, SettingsDep
from api.identity.principal import CurrentPrincipal
from api.problems import Problem
from api.routes.devices.deps import Consistent, Engine
from api.routes.devices.models import DiscoveredOut, DiscoverIn, DiscoveryOut
from producers.devices import commands
from producers.devices.outbound import Outbound
from producers.devices.snmp.credentials import CredentialsError
from producers.devices.snmp.discovery import hosts_of, sweep

router = APIRouter(prefix="/api/devices", tags=["devices"])
DISCOVERED = ("SELECT DISTINCT ON (x.ip) x.ip, x.sys_name, x.sys_descr, x.sys_object_id, x.snmp_version"
              " FROM discovered_devices x WHERE NOT EXISTS (SELECT 1 FROM devices d WHERE d.management_ip = x.ip"
              " AND NOT d.removed) ORDER BY x.ip, x.at DESC LIMIT %s")


@router.post("/discover", response_model=DiscoveryOut)
async def discover(body: DiscoverIn, request: Request, response: Response, producer: Producer,
                   settings: SettingsDep, principal: CurrentPrincipal, engine: Engine) -> DiscoveryOut:
    """Sweep a bounded range (OPSLEDGER_DISCOVERY_MAX_HOSTS, OPSLEDGER_DISCOVERY_RATE_PER_S) with each set of
    credentials in turn; every agent that answers becomes DeviceDiscovered. Register one with POST /api/devices/."""
    try:
        hosts = hosts_of(body.cidr, settings.discovery_max_hosts, Outbound.of(settings.outbound_allow_networks))
    except ValueError as e:
        raise Problem(400, f"cidr: {e}") from e
    try:
        creds = [commands.snmp_credentials(spec, secrets) for spec, secrets in body.credential_specs()]
    except CredentialsError as e:
        raise Problem(422, f"The SNMP credentials cannot work: {e}") from e
    found = await sweep(engine, hosts, body.port, creds, rate_per_s=settings.discovery_rate_per_s,
                        timeout_s=settings.snmp_timeout_s)
    sweep_id = f"sweep-{uuid.uuid4().hex[:12]}"
    events = [commands.discovered(sweep_id, f, body.credentials[f.credentials_index].version, actor=principal.actor,
                                  correlation_id=request.state.request_id) for f in found]
    token = (await emit(request, response, producer, events)).consistency_token
    response.status_code = 200  # the sweep happened: what it found is in the log
    return DiscoveryOut(sweep_id=sweep_id, addresses=len(hosts), consistency_token=token,
                        found=[DiscoveredOut(ip=f.ip, sys_name=f.sys_name, sys_descr=f.sys_descr,
                                             sys_object_id=f.sys_object_id,
                                             snmp_version=body.credentials[f.credentials_index].version)
                               for f in found])


@router.get("/discovered", response_model=list[DiscoveredOut], dependencies=[Consistent])
async def discovered(conn: DbConn, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[DiscoveredOut]:
    """Agents found by sweeps and not registered yet (by management IP), newest first."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(DISCOVERED, (limit,))
        return [DiscoveredOut(**r) for r in await cur.fetchall()]
