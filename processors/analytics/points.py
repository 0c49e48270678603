"""The metric points an event carries: one model for every numeric series the platform sees (pure).

Interface rates give four series per interface (in and out bits/s, utilisation of the busier direction as a fraction
of ifHighSpeed, errors per second both ways); a reachable poll gives the device's response time; a camera probe its
latency; MetricPointsSubmitted (ML clients, ingress levels) its own batch. Each point is (series key, seconds since
the epoch, value); the event's Kafka key stays the partitioning key, so a series always arrives on one partition.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from schemas.analytics.events import MAX_BATCH, MetricPoint, MetricPointsSubmitted
from schemas.analytics.series import camera_series, device_series, ingress_series, interface_series, valid_key
from schemas.catalog import REGISTRY
from schemas.devices.cameras import CameraStreamChecked
from schemas.devices.events import DeviceReachable, InterfaceRateComputed
from schemas.envelope import Envelope, Payload, derived_event_id
from schemas.ingress.events import IngressReadingSubmitted

Point = tuple[str, float, float]
SOURCE = "processors.analytics"


def reading_points(events: Sequence[Envelope]) -> list[Envelope]:
    """The submitted ingress readings among `events` as points of their nodes' ingress level series: one
    MetricPointsSubmitted per run of a node's readings in arrival order whose times strictly increase (a reading
    not after the one before it starts a new run), for `analytics.points`. The analytics agent folds every series
    point by point in arrival order, so how a batch is cut changes which event carries a point, never what the point
    scores, and a batch folded twice folds nothing twice (a series refuses repeated times). Each event's id comes
    from all its readings' events, so a redelivery cut the same way repeats it and a run of other readings gets
    another id (a run's first and last alone would not do: a reading from another partition can fall between them
    in a redelivery). Sent by the `ingress-limits` agent, the one agent reading `ingress.readings`
    (processors/ingress/agents.py)."""
    runs: dict[str, list[tuple[Envelope, IngressReadingSubmitted]]] = {}
    done: list[list[tuple[Envelope, IngressReadingSubmitted]]] = []
    for event in events:
        if not isinstance(event.data, IngressReadingSubmitted):
            continue
        series = ingress_series(event.data.reading.node_id)
        run = runs.get(series)
        if run is not None and (event.occurred_at <= run[-1][0].occurred_at or len(run) >= MAX_BATCH):
            done.append(run)
            run = None
        if run is None:
            run = runs[series] = []
        run.append((event, event.data))
    done.extend(runs.values())
    return [_run_event(run) for run in done]


def _run_event(run: list[tuple[Envelope, IngressReadingSubmitted]]) -> Envelope:
    (first, reading), (last, _) = run[0], run[-1]
    series = ingress_series(reading.reading.node_id)
    payload = MetricPointsSubmitted(series=series, points=tuple(MetricPoint(t=e.occurred_at, value=r.reading.level_dbmv)
                                                                for e, r in run))
    name = REGISTRY.of(MetricPointsSubmitted).name
    about = f"{name}:" + "+".join(str(e.event_id) for e, _ in run)  # every reading's event: one id, one content
    return REGISTRY.event(payload, event_id=derived_event_id(first.event_id, about), occurred_at=last.occurred_at,
                          source=SOURCE, subject=series, causation_id=first.event_id,
                          correlation_id=first.correlation_id if len(run) == 1 else None)


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
