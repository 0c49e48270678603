"""The console's pages, one module per domain (each with its `router`)."""

from __future__ import annotations

from . import admin, alerts, cylinders, devices, events, ingress, overview

PAGES = (overview, alerts, devices, cylinders, ingress, events, admin)
