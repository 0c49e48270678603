"""Devices: the list with status, one device (interfaces, live rates, bandwidth chart, poll now), the LLDP topology
map, cameras with stream info and probes, and discovery results to register."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.console.client import gather

from .common import ApiDep, show

router = APIRouter(include_in_schema=False)
STEP_RANGE = {"1m": timedelta(hours=1), "5m": timedelta(hours=6), "1h": timedelta(days=2)}


@router.get("/devices", response_class=HTMLResponse)
async def device_list(request: Request, api: ApiDep,
                      status: Annotated[str | None, Query(max_length=20)] = None) -> HTMLResponse:
    devices = await api.get("/api/devices/", status=status if status in ("up", "down", "unknown") else None)
    return show(request, "devices.html", devices=devices, status=status)


@router.get("/devices/{device_id}", response_class=HTMLResponse)
async def device_page(request: Request, device_id: uuid.UUID, api: ApiDep,
                      if_index: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
                      step: Literal["1m", "5m", "1h"] = "1m") -> HTMLResponse:
    device, interfaces = await gather(api.get(f"/api/devices/{device_id}"),
                                      api.get(f"/api/devices/{device_id}/interfaces"))
    chosen = if_index or _busiest(interfaces)
    bandwidth = None
    if chosen is not None:
        end = datetime.now(UTC)
        bandwidth = await api.maybe(f"/api/devices/{device_id}/interfaces/{chosen}/bandwidth", step=step,
                                    **{"from": (end - STEP_RANGE[step]).isoformat(), "to": end.isoformat()})
    return show(request, "device.html", device=device, interfaces=interfaces, if_index=chosen, step=step,
                steps=tuple(STEP_RANGE), chart=_chart(bandwidth))


def _busiest(interfaces: list[dict[str, Any]]) -> int | None:
    rated = [i for i in interfaces if i.get("in_bps") is not None]
    if not rated:
        return interfaces[0]["if_index"] if interfaces else None
    return int(max(rated, key=lambda i: (i["in_bps"] or 0) + (i["out_bps"] or 0))["if_index"])


def _chart(bandwidth: dict[str, Any] | None) -> dict[str, Any] | None:
    """Columns for uPlot: seconds, then avg and max of bits/s in and out."""
    if not bandwidth:
        return None
    points = bandwidth["points"]
    return {"step_s": bandwidth["step_s"],
            "series": ["in avg", "in max", "out avg", "out max"],
            "columns": [[datetime.fromisoformat(p["at"]).timestamp() for p in points],
                        [p["in_bps"]["avg"] for p in points], [p["in_bps"]["max"] for p in points],
                        [p["out_bps"]["avg"] for p in points], [p["out_bps"]["max"] for p in points]]}


@router.get("/topology", response_class=HTMLResponse)
async def topology(request: Request, api: ApiDep) -> HTMLResponse:
    graph = await api.get("/api/topology")
    return show(request, "topology.html", graph=graph, layout=layout(graph))


def layout(graph: dict[str, Any], size: float = 640) -> dict[str, Any]:
    """A circle layout (registered devices first): readable for the tens of switches a site has, and drawn by the
    server as SVG, so the map needs no script at all."""
    nodes = graph["nodes"]
    centre, radius = size / 2, size / 2 - 90
    placed = {}
    for i, node in enumerate(nodes):
        angle = 2 * math.pi * i / max(1, len(nodes)) - math.pi / 2
        placed[node["id"]] = {**node, "x": round(centre + radius * math.cos(angle), 1),
                              "y": round(centre + radius * math.sin(angle), 1)}
    edges = [{**e, "a": placed[e["from"]], "b": placed[e["to"]]} for e in graph["edges"]
             if e["from"] in placed and e["to"] in placed]
    return {"size": size, "nodes": list(placed.values()), "edges": edges}


@router.get("/cameras", response_class=HTMLResponse)
async def cameras(request: Request, api: ApiDep) -> HTMLResponse:
    return show(request, "cameras.html", cameras=await api.get("/api/cameras/"))


@router.get("/discovery", response_class=HTMLResponse)
async def discovery(request: Request, api: ApiDep) -> HTMLResponse:
    found, devices = await gather(api.get("/api/devices/discovered"), api.get("/api/devices/"))
    registered = {d["management_ip"] for d in devices}
    return show(request, "discovery.html", found=found, registered=registered)
