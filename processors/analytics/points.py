"""The metric points an event carries: one model for every numeric series the platform sees (pure).

Interface rates give four series per interface (in and out bits/s, utilisation of the busier direction as a fraction
of ifHighSpeed, errors per second both ways); a reachable poll gives the device's response time; a camera probe its
latency; MetricPointsSubmitted (ML clients, ingress levels) its own batch. Each point is (series key, seconds since
the epoch, value); the event's Kafka key stays the partitioning key, so a series always arrives on one partition.
"""

from __future__ import annotations

import math

from schemas.analytics.events import MetricPoint, MetricPointsSubmitted
from schemas.analytics.series import camera_series, device_series, ingress_series, interface_series, valid_key
from schemas.catalog import REGISTRY
from schemas.devices.cameras import CameraStreamChecked
from schemas.devices.events import DeviceReachable, InterfaceRateComputed
from schemas.envelope import Envelope, Payload, derived_event_id
from schemas.ingress.events import IngressReadingSubmitted

Point = tuple[str, float, float]
SOURCE = "processors.analytics"


def reading_point(event: Envelope) -> Envelope | None:
    """A submitted ingress reading as a point of its node's ingress level series (a MetricPointsSubmitted for
    `analytics.points`, its id derived from the reading's event, so a redelivery repeats it); None for other events.
    Sent by the `ingress-limits` agent, the one agent reading `ingress.readings` (processors/ingress/agents.py)."""
    if not isinstance(event.data, IngressReadingSubmitted):
        return None
    reading = event.data.reading
    payload = MetricPointsSubmitted(series=ingress_series(reading.node_id),
                                    points=(MetricPoint(t=event.occurred_at, value=reading.level_dbmv),))
    name = REGISTRY.of(MetricPointsSubmitted).name
    return REGISTRY.event(payload, event_id=derived_event_id(event.event_id, f"{name}:{event.data.reading_id}"),
                          occurred_at=event.occurred_at, source=SOURCE, subject=payload.series,
                          causation_id=event.event_id, correlation_id=event.correlation_id)


def points_of(data: Payload) -> list[Point]:
    """Every finite point in the payload, under a valid key; [] for payloads that carry none."""
    found: list[Point]
    if isinstance(data, InterfaceRateComputed):
        found = interface_points(data)
    elif isinstance(data, MetricPointsSubmitted):
        found = [(data.series, p.t.timestamp(), p.value) for p in data.points]
    elif isinstance(data, DeviceReachable):
        found = [(device_series(data.device_id, "response_ms"), data.at.timestamp(), data.response_ms)]
    elif isinstance(data, CameraStreamChecked) and data.latency_ms is not None:
        found = [(camera_series(data.camera_id, "latency_ms"), data.checked_at.timestamp(), data.latency_ms)]
    else:
        return []
    return [p for p in found if math.isfinite(p[2]) and valid_key(p[0])]


def interface_points(rate: InterfaceRateComputed) -> list[Point]:
    t = rate.at.timestamp()
    found = [(interface_series(rate.device_id, rate.if_index, "in_bps"), t, rate.in_bps),
             (interface_series(rate.device_id, rate.if_index, "out_bps"), t, rate.out_bps)]
    busier = [u for u in (rate.in_utilisation, rate.out_utilisation) if u is not None]
    if busier:
        found.append((interface_series(rate.device_id, rate.if_index, "utilisation"), t, max(busier)))
    errors = [e for e in (rate.in_errors_per_s, rate.out_errors_per_s) if e is not None]
    if errors:
        found.append((interface_series(rate.device_id, rate.if_index, "errors_per_s"), t, sum(errors)))
    return found


def by_series(points: list[Point]) -> dict[str, list[tuple[float, float]]]:
    """Points grouped per series, each series' points in the order given."""
    grouped: dict[str, list[tuple[float, float]]] = {}
    for series, t, value in points:
        grouped.setdefault(series, []).append((t, value))
    return grouped
