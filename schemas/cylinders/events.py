"""Gas cylinders tracked by QR-code scans (shared DOMAIN.md: the last scan sets the state; the state gates the next)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import Field

from schemas.envelope import Payload

QR_CODE = r"^CYL-[0-9A-HJKMNP-TV-Z]{12}[0-9A-HJKMNP-TV-Z]$"  # Crockford base32, 12 random + 1 check character


class ScanAction(StrEnum):
    add = "add"
    ship = "ship"
    return_ = "return"
    refill_send = "refill_send"
    refill_receive = "refill_receive"
    trash = "trash"
    reprint = "reprint"


class CylinderStatus(StrEnum):
    available = "available"
    sent = "sent"
    returned = "returned"
    in_refill = "in_refill"
    trashed = "trashed"


class ScanRecorded(Payload):
    """A handheld (or the API on its behalf) scanned a cylinder: an immutable fact, accepted or not."""

    client_scan_id: str = Field(min_length=1, max_length=100)
    qr_code: str = Field(pattern=QR_CODE)
    action: ScanAction
    counterparty: str | None = Field(default=None, max_length=200, description="customer or refill station")
    location: str | None = Field(default=None, max_length=200)
    scanned_at: datetime
    worker: str = Field(min_length=1, max_length=100)
    retest_due: date | None = Field(default=None, description="add only: when the cylinder must be re-tested")


class CylinderEvent(Payload):
    """What every derived cylinder event carries: the cylinder, the scan behind it and the cylinder's new version."""

    qr_code: str = Field(pattern=QR_CODE)
    version: int = Field(ge=1)
    at: datetime
    worker: str | None = Field(default=None, max_length=100)
    scan_id: str | None = Field(default=None, max_length=100)


class CylinderAdded(CylinderEvent):
    """A new cylinder is in stock, full."""

    retest_due: date
    location: str | None = Field(default=None, max_length=200)


class CylinderShipped(CylinderEvent):
    """Sent to a customer, who now holds it."""

    customer: str = Field(min_length=1, max_length=200)


class CylinderReturned(CylinderEvent):
    """Back from a customer, empty."""

    customer: str = Field(min_length=1, max_length=200)


# Event types a scan never ends with (a correction is always followed by the return it corrects): an outcome read
# that finds one of these last has caught the projection between two events of one scan.
NEVER_LAST = frozenset({"CustodyCorrected"})


class CustodyCorrected(CylinderEvent):
    """The books said one customer held it; another returned it. An accounting adjustment, the return still counts."""

    recorded_holder: str | None = Field(max_length=200)
    actual_holder: str = Field(min_length=1, max_length=200)


class CylinderSentToRefill(CylinderEvent):
    """Handed to a refill station."""

    station: str | None = Field(default=None, max_length=200)


class CylinderRefilled(CylinderEvent):
    """Back from the refill station, full and available."""

    station: str | None = Field(default=None, max_length=200)


class CylinderTrashed(CylinderEvent):
    """Condemned: final for normal actions."""

    reason: str | None = Field(default=None, max_length=200)


class LabelReprinted(CylinderEvent):
    """A new label with the same code was printed."""


class ScanRejected(CylinderEvent):
    """A scan that does not fit the cylinder's state: recorded and flagged, never dropped."""

    action: ScanAction
    reason: str = Field(max_length=300)
    status: CylinderStatus | None


class CylinderOverdue(CylinderEvent):
    """Lost candidate: at a customer with no scan for longer than the configured number of days (emitted once)."""

    customer: str | None = Field(max_length=200)
    days_without_scan: int = Field(ge=0)


class RetestDueSoon(CylinderEvent):
    """The cylinder's re-test date is near (emitted once per due date)."""

    retest_due: date
