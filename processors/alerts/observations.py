"""What an event means to alert rules: the observations (metric samples, reachability, the event itself) it holds,
each about a subject with the labels alerts copy. Pure; the alert agent routes each observation to every rule that
looks at it. Device and camera events come from the poller and prober (issue 5): they plug in once registered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from processors.alerts.rules import (
    AnomalyObserved,
    ImageHealth,
    MetricSample,
    Observation,
    Reachability,
    SourceEvent,
)
from schemas.alerts.rules import Metric
from schemas.analytics.events import AnomalyCleared, AnomalyDetected
from schemas.analytics.series import labels_of
from schemas.cylinders.events import CylinderEvent
from schemas.devices.cameras import CameraStreamChecked
from schemas.devices.events import DeviceReachable, DeviceUnreachable, InterfaceRateComputed
from schemas.envelope import Envelope
from schemas.images.health import CameraImageDegraded, CameraImageRecovered
from schemas.ingress.events import IngressLimitExceeded


def observations_of(envelope: Envelope, with_fields: bool = True) -> list[Observation]:
    """Every observation in `envelope`: typed ones (metrics, reachability) first, then the event itself (for
    event-kind rules: ingress, cylinder, generic). `with_fields=False` leaves the event's payload out (no rule
    compares its fields: dumping it for every event cost more than the rest of the routing)."""
    data, cause = envelope.data, str(envelope.event_id)
    subject, labels = envelope.subject, {}
    typed: list[Observation] = []
    if isinstance(data, IngressLimitExceeded):
        subject, labels = data.node_id, {"node_id": data.node_id}
    elif isinstance(data, CylinderEvent):
        subject, labels = data.qr_code, {"qr_code": data.qr_code}
    elif isinstance(data, InterfaceRateComputed):
        subject, labels, typed = interface_metrics(data, cause)
    elif isinstance(data, DeviceReachable | DeviceUnreachable):
        subject, labels = data.device_id, {"device": data.device_id}
        typed = [Reachability(observation_id=f"{cause}:reach", subject=subject, labels=labels, target="device",
                              reachable=isinstance(data, DeviceReachable))]
    elif isinstance(data, AnomalyDetected | AnomalyCleared):
        subject, labels = data.series, labels_of(data.series)
        typed = [AnomalyObserved(observation_id=f"{cause}:anomaly", subject=subject, labels=labels,
                                 series=data.series, active=isinstance(data, AnomalyDetected), score=data.score,
                                 value=data.value)]
    elif isinstance(data, CameraStreamChecked):
        subject, labels = data.camera_id, {"device": data.camera_id, "camera": data.camera_id}
        up = data.reachable and (data.status_code is None or 200 <= data.status_code < 300)
        typed = [Reachability(observation_id=f"{cause}:reach", subject=subject, labels=labels, target="camera",
                              reachable=up)]
    elif isinstance(data, CameraImageDegraded | CameraImageRecovered):
        # one alert per camera and kind: a frozen picture clearing must not clear a black one
        subject = f"{data.camera_id}/{data.kind}"
        labels = {"device": data.camera_id, "camera": data.camera_id, "kind": data.kind}
        typed = [ImageHealth(observation_id=f"{cause}:image", subject=subject, labels=labels, problem=data.kind,
                             degraded=isinstance(data, CameraImageDegraded))]
    event = SourceEvent(observation_id=cause, subject=subject, labels=labels, event_type=envelope.type,
                        fields=data.model_dump(mode="json") if with_fields else {})
    return [*typed, event]


def interface_metrics(rate: InterfaceRateComputed, cause: str) -> tuple[str, dict[str, str], list[Observation]]:
    """An interface's rates as metric samples about "device/interface". Utilisation is in percent (the busier
    direction); error_rate is errors per second, both directions."""
    interface = rate.name or str(rate.if_index)
    subject = f"{rate.device_id}/{interface}"
    labels = {"device": rate.device_id, "interface": interface, "if_index": str(rate.if_index)}
    values: dict[Metric, float | None] = {
        Metric.in_bps: rate.in_bps, Metric.out_bps: rate.out_bps,
        Metric.utilisation: _most(rate.in_utilisation, rate.out_utilisation, scale=100.0),
        Metric.error_rate: _sum(rate.in_errors_per_s, rate.out_errors_per_s),
    }
    samples: list[Observation] = [
        MetricSample(observation_id=f"{cause}:{metric.value}", subject=subject, labels=labels, metric=metric,
                     value=value) for metric, value in values.items() if value is not None]
    return subject, labels, samples


def _most(*values: float | None, scale: float) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) * scale if known else None


def _sum(*values: float | None) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


KINDS: dict[str, type[Observation]] = {"metric": MetricSample, "reachability": Reachability,
                                       "image_health": ImageHealth, "event": SourceEvent, "anomaly": AnomalyObserved}


def to_wire(observation: Observation) -> dict[str, Any]:
    kind = next(k for k, cls in KINDS.items() if isinstance(observation, cls))
    body = asdict(observation)
    body["labels"] = dict(observation.labels)
    return {"kind": kind, **body}


def from_wire(body: Mapping[str, Any]) -> Observation:
    fields = dict(body)
    kind = fields.pop("kind")
    if kind == "metric":
        fields["metric"] = Metric(fields["metric"])
    return KINDS[kind](**fields)
