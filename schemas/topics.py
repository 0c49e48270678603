"""Topic names, in one place."""

from __future__ import annotations

INGRESS_READINGS = "ingress.readings"
INGRESS_EVALUATIONS = "ingress.evaluations"
FILES = "files"
DEADLETTER = "deadletter"
AUDIT = "audit"
CYLINDER_SCANS = "cylinders.scans"
CYLINDER_EVENTS = "cylinders.events"
ALERT_RULES = "alerts.rules"  # rule and silence definitions: every processor worker reads all of it
ALERT_COMMANDS = "alerts.commands"  # requests about alerts (acknowledge, resolve, raise), keyed by fingerprint
ALERT_EVENTS = "alerts.events"  # the lifecycle of alerts, decided by the processor, keyed by fingerprint
DEVICE_REGISTRY = "devices.registry"  # devices and cameras as registered (commands), keyed by device/camera id
DEVICE_SAMPLES = "devices.samples"  # what the pollers saw (raw facts), and discovery sweeps, keyed by device id / ip
DEVICE_RATES = "devices.rates"  # derived by the processor from samples: rates and status changes, keyed by device id
CAMERA_CHECKS = "cameras.checks"  # RTSP probe results, keyed by camera id
IMAGE_UPLOADS = "images.uploads"  # ImageUploaded (API uploads, camera snapshots), keyed by image id
IMAGE_ANALYSES = "images.analyses"  # derived by the processor: ImageAnalysed / ImageRejected, keyed by image id
IMAGE_SNAPSHOTS = "images.snapshots"  # camera frames as health sees them (derived) and failed grabs, keyed by camera
IMAGE_HEALTH = "images.health"  # derived: CameraImageDegraded / Recovered, keyed by camera id
ANALYTICS_POINTS = "analytics.points"  # batches of one series' points (ML clients, ingress levels), keyed by series
ANALYTICS_SCORES = "analytics.scores"  # every point with its detector verdict, keyed like the input it came from
ANALYTICS_ROLLUPS = "analytics.rollups"  # closed 1 min / 5 min / 1 h buckets, keyed like the input
ANALYTICS_ANOMALIES = "analytics.anomalies"  # anomalies (keyed by series) and capacity forecasts (by interface)
ANALYTICS_COMMANDS = "analytics.commands"  # requests to the analytics processor (capacity forecasts now)
