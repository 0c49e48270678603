"""LLDP topology: neighbour rows from a walk, and nodes and edges from the read model (no SNMP, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from api.routes.devices.topology import build_topology
from producers.devices.snmp.walk import neighbours_of

AT = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


def device(device_id: str, sys_name: str | None) -> dict[str, Any]:
    return {"device_id": device_id, "name": device_id, "device_type": "switch", "status": "up", "sys_name": sys_name}


def link(device_id: str, local: str, sys_name: str, remote: str, chassis: str = "", seconds: int = 0) -> dict[str, Any]:
    return {"device_id": device_id, "local_port": local, "remote_chassis_id": chassis, "remote_port": remote,
            "remote_sys_name": sys_name, "last_seen_at": AT + timedelta(seconds=seconds)}


def test_neighbour_rows_name_their_local_port_and_render_binary_ids_as_hex() -> None:
    columns = {
        "chassis_id": {(0, 3, 1): bytes.fromhex("001a2b3c4d02"), (0, 4, 1): b"SEP0017", (0, 5, 1): b""},
        "port_id": {(0, 3, 1): b"Gi1/0/2", (0, 4, 1): b"eth0"},
        "sys_name": {(0, 3, 1): b"dist-b"},
        "local_port_id": {(3,): b"Gi1/0/3"},
    }
    found = [(n.local_port, n.remote_chassis_id, n.remote_port, n.remote_sys_name)
             for n in neighbours_of("d", columns, AT)]
    # port 4 has no lldpLocPortId: its number stands in; port 5's row has no chassis id: not a neighbour
    assert found == [("Gi1/0/3", "00:1a:2b:3c:4d:02", "Gi1/0/2", "dist-b"), ("4", "SEP0017", "eth0", "")]


def test_a_link_reported_from_both_ends_is_one_confirmed_edge() -> None:
    devices = [device("a", "core-a"), device("b", "dist-b"), device("c", "access-c")]
    links = [link("a", "Gi1", "dist-b", "Gi2"), link("b", "Gi2", "CORE-A", "Gi1", seconds=5),
             link("c", "Gi1", "access-c-twin", "Gi9"), link("c", "Gi2", "", "eth0", chassis="00:aa")]
    out = build_topology(devices, links)
    edges = [(e.from_, e.from_port, e.to, e.to_port, e.confirmed) for e in out.edges]
    assert edges == [("a", "Gi1", "b", "Gi2", True), ("c", "Gi1", "lldp:access-c-twin", "Gi9", False),
                     ("c", "Gi2", "lldp:00:aa", "eth0", False)]
    assert out.edges[0].last_seen_at == AT + timedelta(seconds=5)
    assert [n.id for n in out.nodes] == ["a", "b", "c", "lldp:00:aa", "lldp:access-c-twin"]


def test_one_sided_and_ambiguous_neighbours_are_not_confirmed() -> None:
    devices = [device("a", "core-a"), device("b", "dist-b"), device("x1", "dup"), device("x2", "dup")]
    out = build_topology(devices, [link("a", "Gi1", "dist-b", "Gi2"), link("b", "Gi3", "dup", "Gi1")])
    assert [(e.to, e.confirmed) for e in out.edges] == [("b", False), ("lldp:dup", False)]
