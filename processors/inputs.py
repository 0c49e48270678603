"""The topics the Faust processors consume (their consumer-group lag is what "drained" means), and the
internal topics Faust writes (table changelogs), which the archive keeps so an embedded broker can be restored."""

from __future__ import annotations

from schemas.topics import CYLINDER_SCANS, INGRESS_READINGS

PROCESSOR_INPUTS = (INGRESS_READINGS, CYLINDER_SCANS)
CYLINDER_TABLE = "cylinders"


def changelog_topics(app_id: str) -> tuple[str, ...]:
    return (f"{app_id}-{CYLINDER_TABLE}-changelog",)


def check_topic(app_id: str) -> str:
    """The daily check's ticks, one per cylinder, keyed like the scans: a Faust table may only change inside a
    stream's iteration, so the timer sends ticks and an agent applies them. Ticks are not facts: not archived (a
    lost tick is sent again by the next run)."""
    return f"{app_id}-cylinder-checks"
