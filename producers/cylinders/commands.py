"""Scan command handlers: turn scans into ScanRecorded events (no I/O). A repeated client scan id gives the same
event id, so a handheld that retries is harmless."""

from __future__ import annotations

from datetime import date, datetime

from schemas.catalog import REGISTRY
from schemas.cylinders.events import ScanAction, ScanRecorded
from schemas.envelope import Envelope, stable_event_id

SOURCE = "api.scans"


def record_scan(*, client_scan_id: str, qr_code: str, action: ScanAction, scanned_at: datetime, worker: str,
                actor: str, counterparty: str | None = None, location: str | None = None,
                retest_due: date | None = None, correlation_id: str | None = None) -> Envelope:
    scan = ScanRecorded(client_scan_id=client_scan_id, qr_code=qr_code, action=action, counterparty=counterparty,
                        location=location, scanned_at=scanned_at, worker=worker, retest_due=retest_due)
    return REGISTRY.event(scan, event_id=stable_event_id(scanned_at, f"scan:{worker}:{client_scan_id}"),
                          occurred_at=scanned_at, source=SOURCE, subject=qr_code, actor=actor,
                          correlation_id=correlation_id)
