"""Network topology from LLDP: the registered devices, the neighbours they report, and the links between them.

A link comes from a device's lldpRemTable row (projections/devices.py, topology_links). The remote end is resolved to
a registered device when exactly one registered device identified itself (sysName, DeviceIdentified) by the name the
neighbour advertises; otherwise it is an unknown node named by that sysName (or its chassis id). A link is
`confirmed` when the resolved device also reports this one; a link seen from both ends with matching ports is one
edge. Links not reported for `OPSLEDGER_TOPOLOGY_STALE_INTERVALS` of the reporting device's poll interval are left
out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from psycopg.rows import dict_row
from pydantic import BaseModel, Field

from api.deps import DbConn, SettingsDep
from api.routes.devices.deps import Consistent
from schemas.envelope import utc_now

router = APIRouter(tags=["devices"])
DEVICES = """
SELECT device_id, name, device_type, status, sys_name FROM devices WHERE NOT removed ORDER BY name, device_id
"""
LINKS = """
SELECT l.device_id, l.local_port, l.remote_chassis_id, l.remote_port, l.remote_sys_name, l.last_seen_at
FROM topology_links l
JOIN devices d ON d.device_id = l.device_id AND NOT d.removed
WHERE l.last_seen_at >= %(now)s - make_interval(secs => (d.spec->>'polling_interval_s')::float * %(intervals)s)
ORDER BY l.device_id, l.local_port
"""
UNKNOWN_PREFIX = "lldp:"


class TopologyNode(BaseModel):
    id: str = Field(description="a registered device's id, or `lldp:` + the sysName (else chassis id) of a neighbour "
                                "no registered device matches")
    registered: bool
    name: str
    sys_name: str | None = None
    chassis_id: str | None = Field(default=None, description="unknown neighbours: as advertised")
    device_type: str | None = None
    status: str | None = None


class TopologyEdge(BaseModel):
    from_: str = Field(alias="from", description="the reporting device")
    from_port: str
    to: str = Field(description="a node id")
    to_port: str
    confirmed: bool = Field(description="the other end, a registered device, also reports this device")
    last_seen_at: datetime


class TopologyOut(BaseModel):
    nodes: list[TopologyNode]
    edges: list[TopologyEdge]


def build_topology(devices: Sequence[dict[str, Any]], links: Sequence[dict[str, Any]]) -> TopologyOut:
    """Pure: rows of `devices` (registered, not removed) and fresh `topology_links` to nodes and edges."""
    by_name: dict[str, list[str]] = {}
    for device in devices:
        if device["sys_name"]:
            by_name.setdefault(device["sys_name"].casefold(), []).append(device["device_id"])

    def resolve(link: dict[str, Any]) -> str | None:
        ids = by_name.get(link["remote_sys_name"].casefold()) if link["remote_sys_name"] else None
        return ids[0] if ids and len(ids) == 1 and ids[0] != link["device_id"] else None

    resolved = [(link, resolve(link)) for link in links]
    reports = {(link["device_id"], to) for link, to in resolved if to is not None}
    nodes = [TopologyNode(id=d["device_id"], registered=True, name=d["name"], sys_name=d["sys_name"],
                          device_type=d["device_type"], status=d["status"]) for d in devices]
    unknown: dict[str, TopologyNode] = {}
    edges: dict[frozenset[tuple[str, str]], TopologyEdge] = {}
    for link, to in resolved:
        if to is None:
            label = link["remote_sys_name"] or link["remote_chassis_id"] or "unnamed"
            to = UNKNOWN_PREFIX + label
            unknown.setdefault(to, TopologyNode(id=to, registered=False, name=label,
                                                sys_name=link["remote_sys_name"] or None,
                                                chassis_id=link["remote_chassis_id"] or None))
        ends = frozenset({(link["device_id"], link["local_port"]), (to, link["remote_port"])})
        seen = edges.get(ends)
        if seen is not None:  # the same link reported by its other end: one edge, seen at the later sighting
            seen.last_seen_at = max(seen.last_seen_at, link["last_seen_at"])
            continue
        edges[ends] = TopologyEdge.model_validate({
            "from": link["device_id"], "from_port": link["local_port"], "to": to, "to_port": link["remote_port"],
            "confirmed": (to, link["device_id"]) in reports, "last_seen_at": link["last_seen_at"]})
    return TopologyOut(nodes=nodes + sorted(unknown.values(), key=lambda n: n.id), edges=list(edges.values()))


@router.get("/api/topology", response_model=TopologyOut, dependencies=[Consistent])
async def topology(conn: DbConn, settings: SettingsDep) -> TopologyOut:
    """Nodes (registered devices, then neighbours no registered device matches) and LLDP links as edges
    {from, from_port, to, to_port, confirmed}; links not seen lately are left out."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(DEVICES)
        devices = await cur.fetchall()
        await cur.execute(LINKS, {"now": utc_now(), "intervals": settings.topology_stale_intervals})
        links = await cur.fetchall()
    return build_topology(devices, links)
