"""Every projection by name."""

from __future__ import annotations

from projections.alerts.projection import AlertsProjection
from projections.archive import ArchiveProjection
from projections.cylinders.projection import CylindersProjection
from projections.devices.projection import DevicesProjection
from projections.files.projection import FilesProjection
from projections.identity.projection import AuditProjection
from projections.ingress.projection import IngressProjection
from projections.runner import Projection


def all_projections() -> dict[str, Projection]:
    found: list[Projection] = [ArchiveProjection(), IngressProjection(), FilesProjection(), AuditProjection(),
                               CylindersProjection(), AlertsProjection(),
                               DevicesProjection()]
    return {p.name: p for p in found}
