"""Device and camera read models: the registry, each device's status and interfaces (with the last rates), cameras'
last probe, discovered agents, LLDP neighbours (topology_links). Every rate interval is a point of the interface's
series, kept by the analytics read models (raw and rolled up, with retention).

Idempotent under redelivery: registry changes need a higher version; poll facts need a later time than the one
already applied (a redelivered poll changes nothing, an old one arriving late cannot undo a newer one); rate
intervals update an interface only when newer; a neighbour sighting by (device, local port), newest wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import psycopg
from psycopg import sql

from projections.records import Record, Tables
from schemas.devices.cameras import CameraRegistered, CameraRemoved, CameraStreamChecked, CameraUpdated
from schemas.devices.events import (
    DeviceDiscovered,
    DeviceIdentified,
    DeviceReachable,
    DeviceRegistered,
    DeviceRemoved,
    DeviceSpec,
    DeviceUnreachable,
    DeviceUpdated,
    InterfaceCountersSampled,
    InterfaceRateComputed,
    TopologyLinkObserved,
)
from schemas.envelope import Envelope
from schemas.topics import CAMERA_CHECKS, DEVICE_RATES, DEVICE_REGISTRY, DEVICE_SAMPLES

SPEC_FIELDS = tuple(DeviceSpec.model_fields)
INSERT_DEVICE = sql.SQL(
    "INSERT INTO {devices} (device_id, version, spec, name, device_type, management_ip, site, registered_at,"
    " registered_by, updated_at, last_event_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (device_id) DO NOTHING")
UPDATE_DEVICE = sql.SQL(
    "UPDATE {devices} SET version = %s, spec = %s, name = %s, device_type = %s, management_ip = %s, site = %s,"
    " updated_at = %s, last_event_id = %s WHERE device_id = %s AND version < %s AND NOT removed")
REMOVE_DEVICE = sql.SQL(
    "UPDATE {devices} SET version = %s, removed = true, updated_at = %s, last_event_id = %s"
    " WHERE device_id = %s AND version < %s")
REACHABLE = sql.SQL(
    "UPDATE {devices} SET status_since = CASE WHEN status = 'up' THEN status_since ELSE %s END, status = 'up',"
    " last_poll_at = %s, last_response_ms = %s, consecutive_failures = 0"
    " WHERE device_id = %s AND (last_poll_at IS NULL OR last_poll_at < %s)")
UNREACHABLE = sql.SQL(
    "UPDATE {devices} SET status_since = CASE WHEN status = 'down' THEN status_since ELSE %s END, status = 'down',"
    " last_poll_at = %s, last_error = %s, last_error_at = %s, consecutive_failures = consecutive_failures + 1"
    " WHERE device_id = %s AND (last_poll_at IS NULL OR last_poll_at < %s)")
IDENTIFIED = sql.SQL("UPDATE {devices} SET sys_name = %s, sys_descr = %s, sys_object_id = %s WHERE device_id = %s")
POLLED = sql.SQL("UPDATE {devices} SET last_poll_ms = %s, last_poll_partial = %s WHERE device_id = %s")
UPSERT_INTERFACE = sql.SQL(
    "INSERT INTO {interfaces} AS i (device_id, if_index, name, alias, oper_status, admin_status, speed_mbps,"
    " sampled_at, oper_changed_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (device_id, if_index) DO UPDATE SET name = EXCLUDED.name, alias = EXCLUDED.alias,"
    " oper_changed_at = CASE WHEN i.oper_status = EXCLUDED.oper_status THEN i.oper_changed_at"
    " ELSE EXCLUDED.sampled_at END,"
    " oper_status = EXCLUDED.oper_status, admin_status = EXCLUDED.admin_status, speed_mbps = EXCLUDED.speed_mbps,"
    " sampled_at = EXCLUDED.sampled_at WHERE i.sampled_at < EXCLUDED.sampled_at")
LAST_RATE = sql.SQL(
    "UPDATE {interfaces} SET in_bps = %s, out_bps = %s, in_utilisation = %s, out_utilisation = %s,"
    " in_errors_per_s = %s, out_errors_per_s = %s, rate_at = %s"
    " WHERE device_id = %s AND if_index = %s AND (rate_at IS NULL OR rate_at < %s)")
INSERT_CAMERA = sql.SQL(
    "INSERT INTO {cameras} (camera_id, version, name, url, location, probe_interval_s, snapshot_interval_s,"
    " credentials_version, registered_at, updated_at, last_event_id)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (camera_id) DO NOTHING")
UPDATE_CAMERA = sql.SQL(
    "UPDATE {cameras} SET version = %s, name = %s, url = %s, location = %s, probe_interval_s = %s,"
    " snapshot_interval_s = %s, credentials_version = %s, updated_at = %s, last_event_id = %s"
    " WHERE camera_id = %s AND version < %s AND NOT removed")
REMOVE_CAMERA = sql.SQL(
    "UPDATE {cameras} SET version = %s, removed = true, updated_at = %s, last_event_id = %s"
    " WHERE camera_id = %s AND version < %s")
CHECKED = sql.SQL(
    "UPDATE {cameras} SET status_since = CASE WHEN status = %s THEN status_since ELSE %s END, status = %s,"
    " checked_at = %s, reachable = %s, status_code = %s, latency_ms = %s, codec = %s, width = %s, height = %s,"
    " error = %s WHERE camera_id = %s AND (checked_at IS NULL OR checked_at < %s)")
LINK_SEEN = sql.SQL(
    "INSERT INTO {links} AS l (device_id, local_port, remote_chassis_id, remote_port, remote_sys_name, first_seen_at,"
    " last_seen_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (device_id, local_port) DO UPDATE SET"
    " first_seen_at = CASE WHEN (l.remote_chassis_id, l.remote_port) = (EXCLUDED.remote_chassis_id,"
    " EXCLUDED.remote_port) THEN l.first_seen_at ELSE EXCLUDED.first_seen_at END,"
    " remote_chassis_id = EXCLUDED.remote_chassis_id, remote_port = EXCLUDED.remote_port,"
    " remote_sys_name = EXCLUDED.remote_sys_name, last_seen_at = EXCLUDED.last_seen_at"
    " WHERE l.last_seen_at < EXCLUDED.last_seen_at")
DISCOVERED = sql.SQL(
    "INSERT INTO {discovered} (sweep_id, ip, at, sys_name, sys_descr, sys_object_id, snmp_version)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING")


def spec_json(data: DeviceSpec) -> str:
    return orjson.dumps(data.model_dump(mode="json", include=set(SPEC_FIELDS))).decode()


def camera_status(check: CameraStreamChecked) -> str:
    return "up" if check.reachable and check.status_code == 200 and check.error is None else "down"


class DevicesProjection:
    name = "devices"
    topics = (DEVICE_REGISTRY, DEVICE_SAMPLES, DEVICE_RATES, CAMERA_CHECKS)
    tables = ("devices", "device_interfaces", "cameras", "discovered_devices", "topology_links")
    decode = True

    async def apply(self, conn: psycopg.AsyncConnection, records: Sequence[Record], tables: Tables) -> None:
        last_rates: list[tuple[Any, ...]] = []
        async with conn.cursor() as cur:
            for record in records:
                if record.event is None:
                    continue
                data = record.event.data
                if isinstance(data, InterfaceRateComputed):  # the hot path: batched below
                    last_rates.append((data.in_bps, data.out_bps, data.in_utilisation, data.out_utilisation,
                                       data.in_errors_per_s, data.out_errors_per_s, data.at, data.device_id,
                                       data.if_index, data.at))
                else:
                    await self._apply_one(cur, record.event, tables)
            if last_rates:
                await cur.executemany(LAST_RATE.format(interfaces=tables["device_interfaces"]), last_rates)

    async def _apply_one(self, cur: psycopg.AsyncCursor[Any], envelope: Envelope, tables: Tables) -> None:
        d = envelope.data
        devices, cameras = tables["devices"], tables["cameras"]
        if isinstance(d, InterfaceCountersSampled):
            rows = [(d.device_id, i.if_index, i.name, i.alias, i.oper_status.value, i.admin_status.value,
                     i.high_speed_mbps, d.sampled_at, d.sampled_at) for i in d.interfaces]
            if rows:
                await cur.executemany(UPSERT_INTERFACE.format(interfaces=tables["device_interfaces"]), rows)
            await cur.execute(POLLED.format(devices=devices), (d.poll_ms, d.partial, d.device_id))
        elif isinstance(d, DeviceReachable):
            await cur.execute(REACHABLE.format(devices=devices), (d.at, d.at, d.response_ms, d.device_id, d.at))
        elif isinstance(d, DeviceUnreachable):
            await cur.execute(UNREACHABLE.format(devices=devices), (d.at, d.at, d.reason, d.at, d.device_id, d.at))
        elif isinstance(d, DeviceIdentified):
            await cur.execute(IDENTIFIED.format(devices=devices), (d.sys_name, d.sys_descr, d.sys_object_id,
                                                                   d.device_id))
        elif isinstance(d, TopologyLinkObserved):
            await cur.execute(LINK_SEEN.format(links=tables["topology_links"]),
                              (d.device_id, d.local_port, d.remote_chassis_id, d.remote_port, d.remote_sys_name, d.at,
                               d.at))
        elif isinstance(d, DeviceRegistered):
            await cur.execute(INSERT_DEVICE.format(devices=devices),
                              (d.device_id, d.version, spec_json(d), d.name, d.device_type.value, d.management_ip,
                               d.site, d.at, envelope.actor, d.at, envelope.event_id))
        elif isinstance(d, DeviceUpdated):
            await cur.execute(UPDATE_DEVICE.format(devices=devices),
                              (d.version, spec_json(d), d.name, d.device_type.value, d.management_ip, d.site, d.at,
                               envelope.event_id, d.device_id, d.version))
        elif isinstance(d, DeviceRemoved):
            await cur.execute(REMOVE_DEVICE.format(devices=devices),
                              (d.version, d.at, envelope.event_id, d.device_id, d.version))
        elif isinstance(d, CameraRegistered):
            await cur.execute(INSERT_CAMERA.format(cameras=cameras),
                              (d.camera_id, d.version, d.name, d.url, d.location, d.probe_interval_s,
                               d.snapshot_interval_s, d.credentials_version, d.at, d.at, envelope.event_id))
        elif isinstance(d, CameraUpdated):
            await cur.execute(UPDATE_CAMERA.format(cameras=cameras),
                              (d.version, d.name, d.url, d.location, d.probe_interval_s, d.snapshot_interval_s,
                               d.credentials_version, d.at, envelope.event_id, d.camera_id, d.version))
        elif isinstance(d, CameraRemoved):
            await cur.execute(REMOVE_CAMERA.format(cameras=cameras),
                              (d.version, d.at, envelope.event_id, d.camera_id, d.version))
        elif isinstance(d, CameraStreamChecked):
            status = camera_status(d)
            await cur.execute(CHECKED.format(cameras=cameras),
                              (status, d.checked_at, status, d.checked_at, d.reachable, d.status_code, d.latency_ms,
                               d.codec, d.width, d.height, d.error, d.camera_id, d.checked_at))
        elif isinstance(d, DeviceDiscovered):
            await cur.execute(DISCOVERED.format(discovered=tables["discovered_devices"]),
                              (d.sweep_id, d.ip, d.at, d.sys_name, d.sys_descr, d.sys_object_id,
                               d.snmp_version.value))
        # InterfaceOperStatusChanged and DeviceStatusChanged: the sample and reachability facts already set the state
