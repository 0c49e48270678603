"""Pure cylinder state machine: decide(state, scan) -> events, evolve(state, event) -> state, timers(state, now).

Available -> Sent -> Returned -> In Refill -> Available; Trashed is final. A scan that does not fit is answered
with ScanRejected (never dropped); a return by someone other than the recorded holder is accepted after a
CustodyCorrected. No I/O: the Faust agent loads the state, calls these, stores and sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from schemas.cylinders.events import (
    CustodyCorrected,
    CylinderAdded,
    CylinderEvent,
    CylinderOverdue,
    CylinderRefilled,
    CylinderReturned,
    CylinderSentToRefill,
    CylinderShipped,
    CylinderStatus,
    CylinderTrashed,
    LabelReprinted,
    RetestDueSoon,
    ScanAction,
    ScanRecorded,
    ScanRejected,
)

SEEN_SCANS_KEPT = 64  # a handheld's retry comes within minutes; a repeat after 64 newer scans is taken as new
RECENT_OUTCOMES_KEPT = 4  # more than a cylinder sees between two offset commits of the processor


@dataclass(frozen=True)
class Rules:
    retest_years: int = 10
    retest_warn_days: int = 30
    overdue_days: int = 60


class Cylinder(BaseModel):
    """What the processor remembers of one cylinder (a Faust table value)."""

    model_config = ConfigDict(frozen=True)

    qr_code: str
    status: CylinderStatus | None = None
    holder: str | None = None
    station: str | None = None
    retest_due: date | None = None
    version: int = 0
    last_scan_at: datetime | None = None
    seen_scans: tuple[str, ...] = ()
    overdue_flagged: bool = False
    retest_warned_for: date | None = None
    # the events the last few scans led to, to send again when such a scan is redelivered (see remember())
    recent_outcomes: tuple[tuple[str, tuple[dict[str, Any], ...]], ...] = ()


def seen_key(worker: str, client_scan_id: str) -> str:
    """Unambiguous whatever the names contain (the worker's length goes first)."""
    return f"{len(worker)}:{worker}:{client_scan_id}"


def scan_key(scan: ScanRecorded) -> str:
    return seen_key(scan.worker, scan.client_scan_id)


def _common(state: Cylinder, scan: ScanRecorded, offset: int = 1) -> dict[str, Any]:
    return {"qr_code": state.qr_code, "version": state.version + offset, "at": scan.scanned_at,
            "worker": scan.worker, "scan_id": scan.client_scan_id}


def _reject(state: Cylinder, scan: ScanRecorded, reason: str) -> list[CylinderEvent]:
    return [ScanRejected(**_common(state, scan), action=scan.action, reason=reason, status=state.status)]


def decide(state: Cylinder, scan: ScanRecorded, rules: Rules) -> list[CylinderEvent]:
    """The events a scan causes; [] for a scan already seen (a handheld retrying is harmless)."""
    if scan_key(scan) in state.seen_scans:
        return []
    action, status, who = scan.action, state.status, scan.counterparty
    if action is ScanAction.add:
        if status is not None:
            return _reject(state, scan, "this code is already in use")
        due = scan.retest_due or _years_after(scan.scanned_at.date(), rules.retest_years)
        return [CylinderAdded(**_common(state, scan), retest_due=due, location=scan.location)]
    if status is None:
        return _reject(state, scan, "no cylinder has this code")
    if status is CylinderStatus.trashed:
        return _reject(state, scan, "the cylinder was trashed")
    if action is ScanAction.ship:
        if status is not CylinderStatus.available:
            return _reject(state, scan, f"only an available cylinder can be shipped (it is {status.value})")
        if not who:
            return _reject(state, scan, "shipping needs the customer")
        return [CylinderShipped(**_common(state, scan), customer=who)]
    if action is ScanAction.return_:
        if status is not CylinderStatus.sent:
            return _reject(state, scan, f"only a cylinder at a customer can come back (it is {status.value})")
        customer = who or state.holder or "unknown"
        if who and state.holder and who != state.holder:
            return [CustodyCorrected(**_common(state, scan), recorded_holder=state.holder, actual_holder=who),
                    CylinderReturned(**_common(state, scan, 2), customer=customer)]
        return [CylinderReturned(**_common(state, scan), customer=customer)]
    if action is ScanAction.refill_send:
        if status is not CylinderStatus.returned:
            return _reject(state, scan, f"only a returned (empty) cylinder goes to refill (it is {status.value})")
        return [CylinderSentToRefill(**_common(state, scan), station=who)]
    if action is ScanAction.refill_receive:
        if status is not CylinderStatus.in_refill:
            return _reject(state, scan, f"only a cylinder at the refill station comes back full (it is {status.value})")
        if state.retest_due is not None and state.retest_due < scan.scanned_at.date():
            return _reject(state, scan, f"re-test was due on {state.retest_due.isoformat()}: it may not be filled")
        return [CylinderRefilled(**_common(state, scan), station=who or state.station)]
    if action is ScanAction.trash:
        return [CylinderTrashed(**_common(state, scan), reason=who)]
    return [LabelReprinted(**_common(state, scan))]


def evolve(state: Cylinder, event: CylinderEvent) -> Cylinder:
    changes: dict[str, Any] = {"version": event.version}
    if event.scan_id is not None and event.worker is not None:
        key = seen_key(event.worker, event.scan_id)
        if key not in state.seen_scans:
            changes["seen_scans"] = (*state.seen_scans, key)[-SEEN_SCANS_KEPT:]
        changes["last_scan_at"] = max(event.at, state.last_scan_at or event.at)
    match event:
        case CylinderAdded():
            changes.update(status=CylinderStatus.available, retest_due=event.retest_due)
        case CylinderShipped():
            changes.update(status=CylinderStatus.sent, holder=event.customer, overdue_flagged=False)
        case CustodyCorrected():
            changes.update(holder=event.actual_holder)
        case CylinderReturned():
            changes.update(status=CylinderStatus.returned, holder=None, overdue_flagged=False)
        case CylinderSentToRefill():
            changes.update(status=CylinderStatus.in_refill, station=event.station)
        case CylinderRefilled():
            changes.update(status=CylinderStatus.available, station=None)
        case CylinderTrashed():
            changes.update(status=CylinderStatus.trashed, holder=None, station=None)
        case CylinderOverdue():
            changes.update(overdue_flagged=True)
        case RetestDueSoon():
            changes.update(retest_warned_for=event.retest_due)
    return state.model_copy(update=changes)


def remember(state: Cylinder, scan: ScanRecorded, events: list[CylinderEvent]) -> Cylinder:
    """Keep what a scan led to. If the processor dies after its state was saved but before those events reached
    the broker, the redelivered scan is a duplicate for decide(); recent_outcome() gives its events again."""
    stored = tuple({"type": type(e).__name__, "data": e.model_dump(mode="json")} for e in events)
    recent = (*state.recent_outcomes, (scan_key(scan), stored))[-RECENT_OUTCOMES_KEPT:]
    return state.model_copy(update={"recent_outcomes": recent})


def recent_outcome(state: Cylinder, scan: ScanRecorded) -> list[dict[str, Any]]:
    """The stored events of a recent scan (as {"type", "data"}), or [] when it is not among the recent ones."""
    key = scan_key(scan)
    return [dict(e) for k, events in state.recent_outcomes if k == key for e in events]


def timers(state: Cylinder, now: datetime, rules: Rules) -> list[CylinderEvent]:
    """Daily checks: a lost candidate (once per stay at a customer) and a re-test coming due (once per due date)."""
    found: list[CylinderEvent] = []
    version = state.version
    if state.status is CylinderStatus.sent and not state.overdue_flagged and state.last_scan_at is not None:
        idle = now - state.last_scan_at
        if idle > timedelta(days=rules.overdue_days):
            version += 1
            found.append(CylinderOverdue(qr_code=state.qr_code, version=version, at=now, customer=state.holder,
                                         days_without_scan=idle.days))
    due = state.retest_due
    if (due is not None and state.status not in (None, CylinderStatus.trashed) and state.retest_warned_for != due
            and due - now.date() <= timedelta(days=rules.retest_warn_days)):
        found.append(RetestDueSoon(qr_code=state.qr_code, version=version + 1, at=now, retest_due=due))
    return found


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)
