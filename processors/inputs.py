"""The topics the Faust processors consume (their consumer-group lag is what "drained" means), and the
internal topics Faust writes (table changelogs), which the archive keeps so an embedded broker can be restored."""

from __future__ import annotations

from schemas.topics import CYLINDER_SCANS, INGRESS_READINGS

PROCESSOR_INPUTS = (INGRESS_READINGS, CYLINDER_SCANS)
CYLINDER_TABLE = "cylinders"


def changelog_topics(app_id: str) -> tuple[str, ...]:
    return (f"{app_id}-{CYLINDER_TABLE}-changelog",)
