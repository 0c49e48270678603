"""Root cause, pure: when a device goes down, the firing alerts of devices reachable only through it (by the LLDP
topology) are its symptoms, grouped under its own alert (AlertSuppressed {root}) and notified once, as one incident.

The view (`Topology`) holds what the decision needs: each device's LLDP neighbours (resolved by sysName as
GET /api/topology does: a name exactly one device identified itself by), which devices are up or down, and the firing
alerts of each device with what they are grouped under. Reachability is judged from the devices that are up (the
pollers reach them): a device is behind a down device X when every path from an up device to it passes through X.
The root of a symptom is the outermost such X (one that is not itself behind another down device) that has a firing
alert about itself (its device_unreachable alert). `regroup` says what changed: who is grouped under whom now, who
no longer is.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, Field


class Firing(BaseModel):
    device: str
    subject: str
    fingerprint: str
    rule_id: str | None
    root: str | None = None  # the alert id it is grouped under


class Topology(BaseModel):
    """The correlator's table value (one key: the whole network)."""

    names: dict[str, str] = Field(default_factory=dict)  # device id -> sysName, case-folded
    links: dict[str, dict[str, str]] = Field(default_factory=dict)  # device id -> local port -> remote sysName
    status: dict[str, str] = Field(default_factory=dict)  # device id -> up / down
    alerts: dict[str, Firing] = Field(default_factory=dict)  # alert id -> the firing alert


def neighbours(view: Topology) -> dict[str, set[str]]:
    """Undirected adjacency of registered devices (a link seen from either end is enough)."""
    by_name: dict[str, list[str]] = {}
    for device, name in view.names.items():
        if name:
            by_name.setdefault(name, []).append(device)
    graph: dict[str, set[str]] = {d: set() for d in {*view.names, *view.links, *view.status}}
    for device, ports in view.links.items():
        for remote in ports.values():
            found = by_name.get(remote.casefold(), [])
            if len(found) == 1 and found[0] != device:
                graph[device].add(found[0])
                graph.setdefault(found[0], set()).add(device)
    return graph


def _reached(graph: dict[str, set[str]], sources: Iterable[str], without: str | None = None) -> set[str]:
    seen = {s for s in sources if s != without}
    queue = deque(seen)
    while queue:
        for nxt in graph.get(queue.popleft(), ()):
            if nxt != without and nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def roots(view: Topology) -> dict[str, str]:
    """Device -> the alert id of its root cause, for every device behind a down device with an alert of its own."""
    graph = neighbours(view)
    up = [d for d, s in view.status.items() if s == "up"]
    if not up:
        return {}  # nothing reachable: the pollers themselves are cut off, no device can be blamed
    down = sorted(d for d, s in view.status.items() if s == "down")
    reachable = _reached(graph, up)  # with every device in place: what the topology connects to the pollers
    behind = {x: reachable - _reached(graph, up, x) - {x} for x in down}
    own_alert: dict[str, str] = {}
    for alert_id, firing in sorted(view.alerts.items()):
        if firing.subject == firing.device and firing.device in behind:
            own_alert.setdefault(firing.device, alert_id)
    outermost = [x for x in down if x in own_alert and not any(x in behind[y] for y in down if y != x)]
    found: dict[str, str] = {}
    for x in outermost:
        for device in sorted(behind[x]):
            found.setdefault(device, own_alert[x])
    return found


def regroup(view: Topology) -> list[tuple[str, str | None, str | None]]:
    """(alert id, root alert id before, after) for every firing alert whose grouping changes; updates `view`."""
    wanted = roots(view)
    changes = []
    for alert_id, firing in sorted(view.alerts.items()):
        root = wanted.get(firing.device)
        if root == alert_id:
            root = None
        if root != firing.root:
            changes.append((alert_id, firing.root, root))
            firing.root = root
    return changes


def applied(view: Topology, fact: dict[str, Any]) -> bool:
    """Fold one fact routed to the correlator; True when it may change the grouping."""
    kind = fact["kind"]
    if kind == "identified":
        view.names[fact["device"]] = fact["sys_name"].casefold()
        return True
    if kind == "link":
        ports = view.links.setdefault(fact["device"], {})
        if ports.get(fact["port"]) == fact["remote"]:
            return False
        ports[fact["port"]] = fact["remote"]
        return True
    if kind == "status":
        changed = view.status.get(fact["device"]) != fact["status"]
        view.status[fact["device"]] = fact["status"]
        return changed
    if kind == "raised":
        view.alerts[fact["alert_id"]] = Firing(device=fact["device"], subject=fact["subject"],
                                               fingerprint=fact["fingerprint"], rule_id=fact["rule_id"])
        return True
    if kind == "resolved":
        return view.alerts.pop(fact["alert_id"], None) is not None
    return False
