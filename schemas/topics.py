"""Topic names, in one place."""

from __future__ import annotations

INGRESS_READINGS = "ingress.readings"
INGRESS_EVALUATIONS = "ingress.evaluations"
FILES = "files"
DEADLETTER = "deadletter"
AUDIT = "audit"
CYLINDER_SCANS = "cylinders.scans"
CYLINDER_EVENTS = "cylinders.events"
