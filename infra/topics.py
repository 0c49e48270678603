"""The platform's topic layout, in one place: what the Faust processors consume (their consumer-group lag is what
"drained" means), the internal topics Faust writes (table changelogs, which the archive keeps so an embedded broker
can be restored; work queues, which it does not), and every topic the archive reads."""

from __future__ import annotations

from schemas.catalog import REGISTRY, all_topics
from schemas.topics import (
    ALERT_COMMANDS,
    ALERT_EVENTS,
    ALERT_RULES,
    CYLINDER_EVENTS,
    CYLINDER_SCANS,
    DEADLETTER,
    DEVICE_RATES,
    DEVICE_SAMPLES,
    INGRESS_EVALUATIONS,
    INGRESS_READINGS,
)

# Alert rules may watch any event (generic rules): every topic but the alert engine's own is a source.
ALERT_SOURCES = tuple(t for t in REGISTRY.topics() if t not in (ALERT_RULES, ALERT_COMMANDS, ALERT_EVENTS, DEADLETTER))
# The domain agents read these (their inputs) or write them (what they derive), and hand every such event to the alert
# router themselves (processors/alerts/routing.py); the alert-sources agent reads only the other sources.
ROUTED_IN_PROCESS = (INGRESS_READINGS, INGRESS_EVALUATIONS, CYLINDER_SCANS, CYLINDER_EVENTS, DEVICE_SAMPLES,
                     DEVICE_RATES)
ALERT_ONLY_SOURCES = tuple(t for t in ALERT_SOURCES if t not in ROUTED_IN_PROCESS)
PROCESSOR_INPUTS = tuple(sorted({INGRESS_READINGS, CYLINDER_SCANS, DEVICE_SAMPLES, *ALERT_ONLY_SOURCES,
                                 ALERT_COMMANDS}))
# PostgreSQL NOTIFY channel: "records were just produced" (the outbox relay says so after each batch), so dozing
# projections fetch at once instead of waiting out an idle fetch (projections/doorbell.py)
PRODUCED_CHANNEL = "opsledger_produced"
CYLINDER_TABLE = "cylinders"
ALERT_TABLE = "alerts"
DEVICE_TABLE = "devices"
CAMERA_HEALTH_TABLE = "camera-health"


def changelog_topics(app_id: str) -> tuple[str, ...]:
    tables = (CYLINDER_TABLE, ALERT_TABLE, DEVICE_TABLE, CAMERA_HEALTH_TABLE)
    return tuple(f"{app_id}-{table}-changelog" for table in tables)


def check_topic(app_id: str) -> str:
    """The daily check's ticks, one per cylinder, keyed like the scans: a Faust table may only change inside a
    stream's iteration, so the timer sends ticks and an agent applies them. Ticks are not facts: not archived (a
    lost tick is sent again by the next run)."""
    return f"{app_id}-cylinder-checks"


def alert_internal_topics(app_id: str) -> tuple[str, str]:
    """The alert agents' internal topics, keyed by fingerprint like the alert table: observations routed from source
    events (with their rule), and timer ticks. Not facts (they follow from archived events): not archived."""
    return f"{app_id}-alert-observations", f"{app_id}-alert-ticks"


def internal_topics(app_id: str) -> tuple[str, ...]:
    """Work the agents pass to themselves (not facts, not archived): what is in them at a stop is drained first."""
    return (*alert_internal_topics(app_id), check_topic(app_id))


def platform_topics(app_id: str) -> tuple[str, ...]:
    """Every topic the archive keeps: the registry's, the dead letters and Faust's table changelogs (they too must
    survive a broker restore)."""
    return (*all_topics(), *changelog_topics(app_id))
