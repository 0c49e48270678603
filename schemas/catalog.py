"""The event catalogue: every event type registered with its topic. Import this to get the registry."""

from __future__ import annotations

from typing import Any

from schemas import topics
from schemas.alerts.lifecycle import (
    AlertAcknowledged,
    AlertAcknowledgeRequested,
    AlertCommandRefused,
    AlertFlapping,
    AlertRaised,
    AlertRaiseRequested,
    AlertResolved,
    AlertResolveRequested,
    AlertSilenced,
    AlertStable,
    AlertSuppressed,
    AlertUnacknowledged,
    AlertUnsilenced,
    AlertUnsuppressed,
)
from schemas.alerts.rules import AlertRuleCreated, AlertRuleDeleted, AlertRuleUpdated
from schemas.alerts.silences import SilenceCreated, SilenceDeleted, SilenceExpired
from schemas.analytics.events import (
    AnomalyCleared,
    AnomalyDetected,
    CapacityForecastRequested,
    CapacityForecastUpdated,
    MetricPointsScored,
    MetricPointsSubmitted,
    MetricRollupsClosed,
)
from schemas.cylinders.events import (
    CustodyCorrected,
    CylinderAdded,
    CylinderOverdue,
    CylinderRefilled,
    CylinderReturned,
    CylinderSentToRefill,
    CylinderShipped,
    CylinderTrashed,
    LabelReprinted,
    RetestDueSoon,
    ScanRecorded,
    ScanRejected,
)
from schemas.devices.cameras import CameraRegistered, CameraRemoved, CameraStreamChecked, CameraUpdated
from schemas.devices.events import (
    DeviceDiscovered,
    DeviceIdentified,
    DeviceReachable,
    DeviceRegistered,
    DeviceRemoved,
    DeviceStatusChanged,
    DeviceUnreachable,
    DeviceUpdated,
    InterfaceCountersSampled,
    InterfaceOperStatusChanged,
    InterfaceRateComputed,
    TopologyLinkObserved,
)
from schemas.files.events import FileUploaded
from schemas.identity.events import AuditRecorded
from schemas.images.events import ImageAnalysed, ImageRejected, ImageUploaded
from schemas.images.health import (
    CameraImageDegraded,
    CameraImageRecovered,
    CameraSnapshotAnalysed,
    CameraSnapshotFailed,
)
from schemas.ingress.events import (
    IngressLimitExceeded,
    IngressReadingCorrected,
    IngressReadingRetracted,
    IngressReadingSubmitted,
)
from schemas.registry import Registry


def upcast_submitted_v1_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1 readings had no install phase; they were all taken after the install."""
    reading = dict(data.get("reading", {}))
    reading.setdefault("install_phase", "after")
    return {**data, "reading": reading}


REGISTRY = Registry()
REGISTRY.register(IngressReadingSubmitted, topics.INGRESS_READINGS, version=2,
                  upcasters={1: upcast_submitted_v1_v2})
REGISTRY.register(IngressReadingCorrected, topics.INGRESS_READINGS)
REGISTRY.register(IngressReadingRetracted, topics.INGRESS_READINGS)
REGISTRY.register(IngressLimitExceeded, topics.INGRESS_EVALUATIONS)
REGISTRY.register(FileUploaded, topics.FILES)
REGISTRY.register(AuditRecorded, topics.AUDIT)
REGISTRY.register(ScanRecorded, topics.CYLINDER_SCANS)
for _derived in (CylinderAdded, CylinderShipped, CylinderReturned, CustodyCorrected, CylinderSentToRefill,
                 CylinderRefilled, CylinderTrashed, LabelReprinted, ScanRejected, CylinderOverdue, RetestDueSoon):
    REGISTRY.register(_derived, topics.CYLINDER_EVENTS)
for _definition in (AlertRuleCreated, AlertRuleUpdated, AlertRuleDeleted, SilenceCreated, SilenceDeleted,
                    SilenceExpired):
    REGISTRY.register(_definition, topics.ALERT_RULES)
for _command in (AlertAcknowledgeRequested, AlertResolveRequested, AlertRaiseRequested):
    REGISTRY.register(_command, topics.ALERT_COMMANDS)
for _lifecycle in (AlertRaised, AlertAcknowledged, AlertUnacknowledged, AlertResolved, AlertFlapping, AlertStable,
                   AlertSilenced, AlertUnsilenced, AlertSuppressed, AlertUnsuppressed, AlertCommandRefused):
    REGISTRY.register(_lifecycle, topics.ALERT_EVENTS)
for _registration in (DeviceRegistered, DeviceUpdated, DeviceRemoved, CameraRegistered, CameraUpdated, CameraRemoved):
    REGISTRY.register(_registration, topics.DEVICE_REGISTRY)
for _fact in (InterfaceCountersSampled, DeviceReachable, DeviceUnreachable, DeviceIdentified, DeviceDiscovered,
              TopologyLinkObserved):
    REGISTRY.register(_fact, topics.DEVICE_SAMPLES)
for _derived_device in (InterfaceRateComputed, InterfaceOperStatusChanged, DeviceStatusChanged):
    REGISTRY.register(_derived_device, topics.DEVICE_RATES)
REGISTRY.register(CameraStreamChecked, topics.CAMERA_CHECKS)
REGISTRY.register(ImageUploaded, topics.IMAGE_UPLOADS)
REGISTRY.register(ImageAnalysed, topics.IMAGE_ANALYSES)
REGISTRY.register(ImageRejected, topics.IMAGE_ANALYSES)
REGISTRY.register(CameraSnapshotAnalysed, topics.IMAGE_SNAPSHOTS)
REGISTRY.register(CameraSnapshotFailed, topics.IMAGE_SNAPSHOTS)
REGISTRY.register(CameraImageDegraded, topics.IMAGE_HEALTH)
REGISTRY.register(CameraImageRecovered, topics.IMAGE_HEALTH)
REGISTRY.register(MetricPointsSubmitted, topics.ANALYTICS_POINTS)
REGISTRY.register(MetricPointsScored, topics.ANALYTICS_SCORES)
REGISTRY.register(MetricRollupsClosed, topics.ANALYTICS_ROLLUPS)
for _analysed in (AnomalyDetected, AnomalyCleared, CapacityForecastUpdated):
    REGISTRY.register(_analysed, topics.ANALYTICS_ANOMALIES)
REGISTRY.register(CapacityForecastRequested, topics.ANALYTICS_COMMANDS)


def all_topics() -> list[str]:
    """Every topic the platform owns, the dead-letter topic included."""
    return sorted({*REGISTRY.topics(), topics.DEADLETTER})
