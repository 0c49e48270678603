"""Every projection by name."""

from __future__ import annotations

from projections.alerts import AlertsProjection
from projections.archive import ArchiveProjection
from projections.audit import AuditProjection
from projections.cylinders import CylindersProjection
from projections.devices import DevicesProjection
from projections.files import FilesProjection
from projections.ingress import IngressProjection
from projections.runner import Projection


def all_projections() -> dict[str, Projection]:
    found: list[Projection] = [ArchiveProjection(), IngressProjection(), FilesProjection(), AuditProjection(),
                               CylindersProjection(), AlertsProjection(),
                               DevicesProjection()]
    return {p.name: p for p in found}
