"""Cylinder read models: current state, history, raw scans, shipments (for balances as of any date).

Idempotent under redelivery: every row is keyed by an event id inserted first with ON CONFLICT DO NOTHING; only
a newly inserted event goes on to change state, and state updates also require a higher version.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg import sql

from projections.records import Record, Tables
from schemas.cylinders.events import (
    CustodyCorrected,
    CylinderAdded,
    CylinderEvent,
    CylinderOverdue,
    CylinderRefilled,
    CylinderReturned,
    CylinderSentToRefill,
    CylinderShipped,
    CylinderTrashed,
    LabelReprinted,
    RetestDueSoon,
    ScanRecorded,
    ScanRejected,
)
from schemas.envelope import Envelope
from schemas.topics import CYLINDER_EVENTS, CYLINDER_SCANS

INSERT_SCAN = sql.SQL(
    "INSERT INTO {scans} (event_id, qr_code, client_scan_id, action, counterparty, location, scanned_at, worker,"
    " src_partition, src_offset) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING")
# Every derived event is ONE statement: its history row first; the state changes only if that row is new (a
# redelivery changes nothing). Self-contained statements need no answer before the next, so a batch is pipelined.
NEW_HISTORY = ("WITH new AS (INSERT INTO {history} (event_id, qr_code, version, type, at, worker, scan_id, envelope)"
               " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING RETURNING 1)")
IF_NEW = " AND EXISTS (SELECT 1 FROM new)"
INSERT_CYLINDER = (" INSERT INTO {cylinders} (qr_code, status, location, retest_due, version, added_at, last_scan_at,"
                   " last_scan_by, last_action) SELECT %s, 'available', %s, %s, %s, %s, %s, %s, 'add'"
                   " WHERE EXISTS (SELECT 1 FROM new) ON CONFLICT (qr_code) DO NOTHING")
UPDATE = " UPDATE {cylinders} SET version = %s{sets} WHERE qr_code = %s AND version < %s" + IF_NEW
SCANNED = ", last_scan_at = %s, last_scan_by = %s, last_action = %s"
SHIP = (", shipment AS (INSERT INTO {shipments} (qr_code, shipped_at, customer, sent_by)"
        " SELECT %s, %s, %s, %s WHERE EXISTS (SELECT 1 FROM new) ON CONFLICT DO NOTHING)")
RETURN = (", shipment AS (UPDATE {shipments} SET returned_at = %s, received_by = %s WHERE qr_code = %s"
          " AND returned_at IS NULL" + IF_NEW + ")")
CORRECT = (", shipment AS (UPDATE {shipments} SET returned_by = %s WHERE qr_code = %s AND returned_at IS NULL"
           + IF_NEW + ")")

# per event type: extra SET clauses on `cylinders` and a function of the event giving their values
STATE_CHANGES: dict[type[CylinderEvent], tuple[str, object]] = {
    CylinderShipped: (", status = 'sent', holder = %s, overdue = false", lambda e: [e.customer]),
    CustodyCorrected: (", holder = %s", lambda e: [e.actual_holder]),
    CylinderReturned: (", status = 'returned', holder = NULL, overdue = false", lambda e: []),
    CylinderSentToRefill: (", status = 'in_refill', station = %s", lambda e: [e.station]),
    CylinderRefilled: (", status = 'available', station = NULL", lambda e: []),
    CylinderTrashed: (", status = 'trashed', holder = NULL, station = NULL", lambda e: []),
    LabelReprinted: (", reprints = reprints + 1", lambda e: []),
    ScanRejected: (", last_rejection = %s", lambda e: [f"{e.action.value}: {e.reason}"]),
    CylinderOverdue: (", overdue = true", lambda e: []),
    RetestDueSoon: (", retest_due_soon = true", lambda e: []),
}
SCAN_EVENTS = {CylinderShipped: "ship", CylinderReturned: "return", CylinderSentToRefill: "refill_send",
               CylinderRefilled: "refill_receive", CylinderTrashed: "trash", LabelReprinted: "reprint"}


class CylindersProjection:
    name = "cylinders"
    topics = (CYLINDER_SCANS, CYLINDER_EVENTS)
    tables = ("cylinders", "cylinder_history", "cylinder_scans", "shipments")
    decode = True

    async def apply(self, conn: psycopg.AsyncConnection, records: Sequence[Record], tables: Tables) -> None:
        scans = [(r.event.event_id, d.qr_code, d.client_scan_id, d.action.value, d.counterparty, d.location,
                  d.scanned_at, d.worker, r.partition, r.offset)
                 for r in records if r.event is not None and isinstance(d := r.event.data, ScanRecorded)]
        statements = [statement(r.event, r.value or b"null", tables) for r in records
                      if r.event is not None and isinstance(r.event.data, CylinderEvent)]
        async with conn.cursor() as cur:
            if scans:
                await cur.executemany(INSERT_SCAN.format(scans=tables["cylinder_scans"]), scans)
            if statements:
                async with conn.pipeline():
                    for query, params in statements:
                        await cur.execute(query, params)


def statement(envelope: Envelope, raw: bytes, tables: Tables) -> tuple[sql.Composed, list[object]]:
    """The one statement applying a derived event, and its parameters in placeholder order."""
    e = envelope.data
    assert isinstance(e, CylinderEvent)
    params: list[object] = [envelope.event_id, e.qr_code, e.version, envelope.type, e.at, e.worker, e.scan_id,
                            raw.decode()]
    text = NEW_HISTORY
    if isinstance(e, CylinderAdded):
        params += [e.qr_code, e.location, e.retest_due, e.version, e.at, e.at, e.worker]
        return named(text + INSERT_CYLINDER, tables), params
    if isinstance(e, CylinderShipped):
        text += SHIP
        params += [e.qr_code, e.at, e.customer, e.worker]
    elif isinstance(e, CustodyCorrected):
        text += CORRECT
        params += [e.actual_holder, e.qr_code]
    elif isinstance(e, CylinderTrashed | CylinderReturned):  # trashed at a customer: it leaves their balance
        text += RETURN
        params += [e.at, e.worker, e.qr_code]
    sets, values = STATE_CHANGES[type(e)]
    params += [e.version, *values(e)]  # type: ignore[operator]
    if type(e) in SCAN_EVENTS:
        sets += SCANNED
        params += [e.at, e.worker, SCAN_EVENTS[type(e)]]
    params += [e.qr_code, e.version]
    return named(text + UPDATE.format(cylinders="{cylinders}", sets=sets), tables), params


def named(text: str, tables: Tables) -> sql.Composed:
    return sql.SQL(text).format(history=tables["cylinder_history"], cylinders=tables["cylinders"],
                                shipments=tables["shipments"])
