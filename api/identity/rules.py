"""THE authorization matrix: every route names the roles and the API-key scope that may call it.

The app refuses to start when a route has no rule here (api.app.check_rules), so a new route cannot slip
through unprotected. README.md shows the same matrix for people.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from schemas import topics

ROLES = ("admin", "operator", "worker", "viewer")
SCOPES = ("ingress:read", "ingress:write", "files:read", "files:write", "events:read", "metrics:read",
          "scans:write", "cylinders:read", "metrics:write", "alerts:read", "devices:read", "images:read",
          "images:write", "ml:read", "ml:write")


@dataclass(frozen=True)
class Rule:
    roles: frozenset[str]
    scope: str | None = None  # the API-key scope that grants it; None: no API key may call it
    public: bool = False
    # Live push: any signed-in principal passes the route; each topic it streams is then checked against
    # TOPIC_READ (and TYPE_READ), so the route itself names no single scope.
    by_topic: bool = False
    page: bool = False  # a console page: no API key, and a visitor without a session is sent to sign in


PUBLIC = Rule(frozenset(), public=True)
ANY_USER = Rule(frozenset(ROLES))
ADMIN = Rule(frozenset({"admin"}))
READERS = frozenset(ROLES)
WRITERS = frozenset({"admin", "operator", "worker"})
ANALYSTS = frozenset({"admin", "operator", "viewer"})
OPERATORS = Rule(frozenset({"admin", "operator"}))
ALERTS_READ = Rule(READERS, "alerts:read")
DEVICES_READ = Rule(READERS, "devices:read")
STREAM = Rule(READERS, by_topic=True)
IMAGES_READ = Rule(READERS, "images:read")  # workers: their own ingress readings' images only (in the reads)
ML_READ = Rule(ANALYSTS, "ml:read")

RULES: dict[tuple[str, str], Rule] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/asyncapi.json"): PUBLIC,
    ("GET", "/metrics"): Rule(frozenset({"admin"}), "metrics:read"),
    ("POST", "/api/auth/register"): PUBLIC,
    ("POST", "/api/auth/login"): PUBLIC,
    ("POST", "/api/auth/refresh"): PUBLIC,
    ("GET", "/api/auth/oidc/login"): PUBLIC,
    ("GET", "/api/auth/oidc/callback"): PUBLIC,
    ("POST", "/api/auth/oidc/exchange"): PUBLIC,
    ("POST", "/api/auth/logout"): ANY_USER,
    ("GET", "/api/auth/profile"): ANY_USER,
    ("POST", "/api/auth/password"): ANY_USER,
    ("GET", "/api/auth/sessions"): ANY_USER,
    ("DELETE", "/api/auth/sessions/{session_id}"): ANY_USER,
    ("POST", "/api/auth/password/reset"): PUBLIC,
    ("POST", "/api/auth/users/{user_id}/reset-token"): ADMIN,
    ("GET", "/api/auth/users"): ADMIN,
    ("POST", "/api/auth/users"): ADMIN,
    ("PATCH", "/api/auth/users/{user_id}"): ADMIN,
    ("GET", "/api/auth/api-keys"): ADMIN,
    ("POST", "/api/auth/api-keys"): ADMIN,
    ("DELETE", "/api/auth/api-keys/{key_id}"): ADMIN,
    ("POST", "/api/auth/api-keys/{key_id}/rotate"): ADMIN,
    ("GET", "/api/audit"): ADMIN,
    ("POST", "/api/ingress"): Rule(WRITERS, "ingress:write"),
    ("GET", "/api/ingress"): Rule(READERS, "ingress:read"),
    ("GET", "/api/ingress/{reading_id}"): Rule(READERS, "ingress:read"),
    ("PUT", "/api/ingress/{reading_id}"): Rule(WRITERS, "ingress:write"),
    ("DELETE", "/api/ingress/{reading_id}"): Rule(WRITERS, "ingress:write"),
    ("GET", "/api/ingress/{reading_id}/history"): Rule(READERS, "ingress:read"),
    ("POST", "/api/files"): Rule(WRITERS, "files:write"),
    ("GET", "/api/files/{sha256}"): Rule(READERS, "files:read"),
    ("POST", "/api/scans"): Rule(WRITERS, "scans:write"),
    ("POST", "/api/cylinders/ship"): Rule(WRITERS, "scans:write"),
    ("POST", "/api/cylinders/return"): Rule(WRITERS, "scans:write"),
    ("POST", "/api/cylinders/refill/send"): Rule(WRITERS, "scans:write"),
    ("POST", "/api/cylinders/refill/receive"): Rule(WRITERS, "scans:write"),
    ("POST", "/api/cylinders/add"): ADMIN,
    ("POST", "/api/cylinders/trash"): ADMIN,
    ("POST", "/api/cylinders/reprint"): ADMIN,
    ("GET", "/api/cylinders"): Rule(READERS, "cylinders:read"),
    ("GET", "/api/cylinders/labels.svg"): Rule(READERS, "cylinders:read"),
    ("GET", "/api/cylinders/{qr_code}"): Rule(READERS, "cylinders:read"),
    ("GET", "/api/cylinders/{qr_code}/history"): Rule(READERS, "cylinders:read"),
    ("GET", "/api/cylinders/{qr_code}/qr.svg"): Rule(READERS, "cylinders:read"),
    ("GET", "/api/cylinders/{qr_code}/qr.png"): Rule(READERS, "cylinders:read"),
    ("GET", "/api/customers"): Rule(READERS, "cylinders:read"),
    ("GET", "/api/customers/{customer}/balance"): Rule(READERS, "cylinders:read"),
    ("GET", "/api/admin/inventory"): ADMIN,
    ("GET", "/api/admin/shipments"): ADMIN,
    ("GET", "/api/admin/reports"): ADMIN,
    ("GET", "/api/alerts/rules"): ADMIN,
    ("POST", "/api/alerts/rules"): ADMIN,
    ("GET", "/api/alerts/rules/{rule_id}"): ADMIN,
    ("PUT", "/api/alerts/rules/{rule_id}"): ADMIN,
    ("DELETE", "/api/alerts/rules/{rule_id}"): ADMIN,
    ("GET", "/api/alerts/"): ALERTS_READ,
    ("POST", "/api/alerts/"): OPERATORS,
    ("GET", "/api/alerts/summary"): ALERTS_READ,
    ("POST", "/api/alerts/acknowledge-all"): OPERATORS,
    ("GET", "/api/alerts/{alert_id}"): ALERTS_READ,
    ("POST", "/api/alerts/{alert_id}/acknowledge"): OPERATORS,
    ("POST", "/api/alerts/{alert_id}/resolve"): OPERATORS,
    ("GET", "/api/silences"): ALERTS_READ,
    ("POST", "/api/silences"): OPERATORS,
    ("GET", "/api/silences/{silence_id}"): ALERTS_READ,
    ("DELETE", "/api/silences/{silence_id}"): OPERATORS,
    ("GET", "/api/devices/"): DEVICES_READ,
    ("POST", "/api/devices/"): OPERATORS,
    ("GET", "/api/devices/status"): DEVICES_READ,
    ("POST", "/api/devices/discover"): ADMIN,
    ("GET", "/api/devices/discovered"): ADMIN,
    ("GET", "/api/devices/{device_id}"): DEVICES_READ,
    ("PUT", "/api/devices/{device_id}"): OPERATORS,
    ("DELETE", "/api/devices/{device_id}"): OPERATORS,
    ("POST", "/api/devices/{device_id}/poll"): OPERATORS,
    ("GET", "/api/devices/{device_id}/interfaces"): DEVICES_READ,
    ("GET", "/api/devices/{device_id}/interfaces/{if_index}/bandwidth"): DEVICES_READ,
    ("GET", "/api/bandwidth/top"): DEVICES_READ,
    ("GET", "/api/topology"): DEVICES_READ,
    ("GET", "/api/cameras/"): DEVICES_READ,
    ("POST", "/api/cameras/"): OPERATORS,
    ("GET", "/api/cameras/{camera_id}"): DEVICES_READ,
    ("PUT", "/api/cameras/{camera_id}"): OPERATORS,
    ("DELETE", "/api/cameras/{camera_id}"): OPERATORS,
    ("GET", "/api/cameras/{camera_id}/stream"): DEVICES_READ,
    ("POST", "/api/cameras/{camera_id}/test"): OPERATORS,
    ("POST", "/api/cameras/{camera_id}/snapshot"): OPERATORS,
    ("POST", "/api/images"): Rule(WRITERS, "images:write"),
    ("GET", "/api/images"): IMAGES_READ,
    ("GET", "/api/images/status"): IMAGES_READ,
    ("GET", "/api/images/{image_id}"): IMAGES_READ,
    ("GET", "/api/images/{image_id}/thumbnail"): IMAGES_READ,
    ("GET", "/api/images/{image_id}/original"): IMAGES_READ,
    ("GET", "/api/ingress/nodes"): Rule(ANALYSTS, "ingress:read"),  # every node's readings: not a worker's view
    ("GET", "/api/analytics/capacity"): DEVICES_READ,
    ("POST", "/api/analytics/capacity/refresh"): OPERATORS,
    ("POST", "/api/ml/series/{series}/points"): Rule(frozenset({"admin", "operator"}), "ml:write"),
    ("GET", "/api/ml/series/{series}/scores"): ML_READ,
    ("POST", "/api/ml/predict"): ML_READ,
    ("GET", "/api/ml/models"): ML_READ,
    ("POST", "/api/ml/keys/{key_id}/signing"): ADMIN,
    ("DELETE", "/api/ml/keys/{key_id}/signing"): ADMIN,
    ("GET", "/api/events"): Rule(ANALYSTS, "events:read"),
    ("GET", "/api/events/{event_id}"): Rule(ANALYSTS, "events:read"),
    ("GET", "/api/stream"): STREAM,
    ("WS", "/ws"): STREAM,  # WebSocket routes are not in OpenAPI: check_rules lists them from app.routes
}

# Where ownership matters: these roles see and change every reading; the others only their own.
SEES_ALL_READINGS = frozenset({"admin", "operator", "viewer"})
EDITS_ALL_READINGS = frozenset({"admin", "operator"})

# Live push and the archive (/api/events): who may read the events of a topic — the same people as the REST reads of
# what the topic feeds. Topics not listed (the Faust changelogs) are admin's alone.
INGRESS_READ_ALL = Rule(SEES_ALL_READINGS, "ingress:read")  # workers read only their own readings: no live feed
TOPIC_READ: dict[str, Rule] = {
    topics.ALERT_EVENTS: ALERTS_READ,
    topics.ALERT_COMMANDS: ALERTS_READ,  # requests and refusals are in every alert's history
    topics.ALERT_RULES: ADMIN,  # rules are admin's (silences travel on this topic too)
    topics.CYLINDER_EVENTS: Rule(READERS, "cylinders:read"),
    topics.CYLINDER_SCANS: Rule(READERS, "cylinders:read"),
    topics.DEVICE_REGISTRY: DEVICES_READ,
    topics.DEVICE_SAMPLES: DEVICES_READ,
    topics.DEVICE_RATES: DEVICES_READ,
    topics.CAMERA_CHECKS: DEVICES_READ,
    topics.INGRESS_READINGS: INGRESS_READ_ALL,
    topics.INGRESS_EVALUATIONS: INGRESS_READ_ALL,
    # workers download only the files they uploaded or that hang on their own readings: no feed of everyone's
    topics.FILES: Rule(SEES_ALL_READINGS, "files:read"),
    # image uploads name ingress readings a worker may not read: no live feed for workers (as for ingress)
    topics.IMAGE_UPLOADS: Rule(SEES_ALL_READINGS, "images:read"),
    topics.IMAGE_ANALYSES: Rule(SEES_ALL_READINGS, "images:read"),
    topics.IMAGE_SNAPSHOTS: IMAGES_READ,
    topics.IMAGE_HEALTH: IMAGES_READ,
    topics.AUDIT: ADMIN,
    topics.DEADLETTER: ADMIN,
    topics.ANALYTICS_POINTS: ML_READ,
    topics.ANALYTICS_SCORES: ML_READ,
    topics.ANALYTICS_ROLLUPS: ML_READ,
    topics.ANALYTICS_ANOMALIES: ML_READ,
    topics.ANALYTICS_COMMANDS: Rule(frozenset({"admin", "operator"})),
}
# Event types narrower than their topic (checked on top of TOPIC_READ).
TYPE_READ: dict[str, Rule] = {
    "DeviceDiscovered": ADMIN,  # GET /api/devices/discovered is admin's
}


def page(api_route: tuple[str, str] | Rule) -> Rule:
    """A console page is shown to whoever may call the API route it renders (never to an API key)."""
    rule = api_route if isinstance(api_route, Rule) else RULES[api_route]
    return replace(rule, scope=None, page=True, by_topic=False)


# The console (api/console): each page names the API route whose rule it follows, so a page and the API it
# shows can never disagree; its buttons are shown by the rule of the API route they call (api.console.render.can).
CONSOLE_RULES: dict[tuple[str, str], Rule] = {
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/session/refresh"): PUBLIC,  # authenticated by the refresh cookie and the CSRF header, in the route
    ("GET", "/session/resume"): PUBLIC,  # the same, for a page load whose access cookie has expired
    ("POST", "/session/logout"): page(ANY_USER),
    ("GET", "/"): page(ANY_USER),
    ("GET", "/alerts"): page(("GET", "/api/alerts/")),
    ("GET", "/alerts/{alert_id}"): page(("GET", "/api/alerts/{alert_id}")),
    ("GET", "/devices"): page(("GET", "/api/devices/")),
    ("GET", "/devices/{device_id}"): page(("GET", "/api/devices/{device_id}")),
    ("GET", "/topology"): page(("GET", "/api/topology")),
    ("GET", "/cameras"): page(("GET", "/api/cameras/")),
    ("GET", "/discovery"): page(("GET", "/api/devices/discovered")),
    ("GET", "/cylinders"): page(("GET", "/api/cylinders")),
    ("GET", "/cylinders/scan"): page(("POST", "/api/scans")),
    ("GET", "/cylinders/customers"): page(("GET", "/api/customers")),
    ("GET", "/cylinders/reports"): page(("GET", "/api/admin/reports")),
    ("GET", "/cylinders/labels"): page(("GET", "/api/cylinders/labels.svg")),
    ("GET", "/ingress"): page(("GET", "/api/ingress")),
    ("GET", "/ingress/new"): page(("POST", "/api/ingress")),
    ("GET", "/events"): page(("GET", "/api/events")),
    ("GET", "/events/timeline"): page(("GET", "/api/events")),
    ("GET", "/admin"): page(("GET", "/api/auth/users")),
    ("GET", "/admin/keys"): page(("GET", "/api/auth/api-keys")),
    ("GET", "/admin/rules"): page(("GET", "/api/alerts/rules")),
    ("GET", "/admin/audit"): page(("GET", "/api/audit")),
}
