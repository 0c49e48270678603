"""The platform's topic layout, in one place: what the Faust processors consume (their consumer-group lag is what
"drained" means), the internal topics Faust writes (table changelogs, which the archive keeps so an embedded broker
can be restored; work queues, which it does not), and every topic the archive reads."""

from __future__ import annotations

from schemas.catalog import REGISTRY, all_topics
from schemas.topics import (
    ALERT_COMMANDS,
    ALERT_EVENTS,
    ALERT_RULES,
    ANALYTICS_COMMANDS,
    ANALYTICS_POINTS,
    ANALYTICS_ROLLUPS,
    ANALYTICS_SCORES,
    CAMERA_CHECKS,
    CYLINDER_EVENTS,
    CYLINDER_SCANS,
    DEADLETTER,
    DEVICE_RATES,
    DEVICE_SAMPLES,
    INGRESS_EVALUATIONS,
    INGRESS_READINGS,
)

# Alert rules may watch any event (generic rules): every topic but the alert engine's own is a source, and but the
# analytics bulk (every point's score, every closed bucket, ML uploads: anomaly rules watch AnomalyDetected /
# AnomalyCleared on analytics.anomalies instead).
ANALYTICS_BULK = (ANALYTICS_POINTS, ANALYTICS_SCORES, ANALYTICS_ROLLUPS)
ALERT_SOURCES = tuple(t for t in REGISTRY.topics()
                      if t not in (ALERT_RULES, ALERT_COMMANDS, ALERT_EVENTS, DEADLETTER, *ANALYTICS_BULK))
# The domain agents read these (their inputs) or write them (what they derive), and hand every such event to the alert
# router themselves (processors/alerts/routing.py); the alert-sources agent reads only the other sources.
ROUTED_IN_PROCESS = (INGRESS_READINGS, INGRESS_EVALUATIONS, CYLINDER_SCANS, CYLINDER_EVENTS, DEVICE_SAMPLES,
                     DEVICE_RATES)
ALERT_ONLY_SOURCES = tuple(t for t in ALERT_SOURCES if t not in ROUTED_IN_PROCESS)
# what the analytics agent folds: interface rates, reachability (response times), camera probes, submitted points
ANALYTICS_SOURCES = (DEVICE_RATES, DEVICE_SAMPLES, CAMERA_CHECKS, ANALYTICS_POINTS)
PROCESSOR_INPUTS = tuple(sorted({INGRESS_READINGS, CYLINDER_SCANS, DEVICE_SAMPLES, *ALERT_ONLY_SOURCES, ALERT_COMMANDS,
                                 *ANALYTICS_SOURCES, ANALYTICS_COMMANDS}))
# PostgreSQL NOTIFY channel: "records were just produced" (the outbox relay says so after each batch), so dozing
# projections fetch at once instead of waiting out an idle fetch (projections/doorbell.py)
PRODUCED_CHANNEL = "opsledger_produced"
CYLINDER_TABLE = "cylinders"
ALERT_TABLE = "alerts"
DEVICE_TABLE = "devices"
CAMERA_HEALTH_TABLE = "camera-health"
ANALYTICS_TABLE = "analytics"
TOPOLOGY_TABLE = "topology"  # root cause: the network as one value


def changelog_topics(app_id: str) -> tuple[str, ...]:
    tables = (CYLINDER_TABLE, ALERT_TABLE, DEVICE_TABLE, CAMERA_HEALTH_TABLE, ANALYTICS_TABLE, TOPOLOGY_TABLE)
    return tuple(f"{app_id}-{table}-changelog" for table in tables)


def check_topic(app_id: str) -> str:
    """The daily check's ticks, one per cylinder, keyed like the scans: a Faust table may only change inside a
    stream's iteration, so the timer sends ticks and an agent applies them. Ticks are not facts: not archived (a
    lost tick is sent again by the next run)."""
    return f"{app_id}-cylinder-checks"


def alert_internal_topics(app_id: str) -> tuple[str, str, str]:
    """The alert agents' internal topics, keyed by fingerprint like the alert table: observations routed from source
    events (with their rule), and timer ticks; and the root-cause facts, all under one key (the network). Not facts
    of their own (they follow from archived events): not archived."""
    return f"{app_id}-alert-observations", f"{app_id}-alert-ticks", f"{app_id}-alert-topology"


def analytics_requests_topic(app_id: str) -> str:
    """A capacity-forecast request fanned out to every partition: the worker holding partition p of the analytics
    sources (and so those series) answers for them. Not facts: not archived."""
    return f"{app_id}-analytics-requests"


def internal_topics(app_id: str) -> tuple[str, ...]:
    """Work the agents pass to themselves (not facts, not archived): what is in them at a stop is drained first."""
    return (*alert_internal_topics(app_id), check_topic(app_id), analytics_requests_topic(app_id))


def platform_topics(app_id: str) -> tuple[str, ...]:
    """Every topic the archive keeps: the registry's, the dead letters and Faust's table changelogs (they too must
    survive a broker restore)."""
    return (*all_topics(), *changelog_topics(app_id))
