"""Prometheus metrics. Broker and projection figures are read at scrape time, so every API replica agrees."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)
REQUEST_LATENCY = Histogram(
    "opsledger_http_request_duration_seconds", "HTTP request latency", ["method", "route", "status"],
    registry=REGISTRY, buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EVENTS_PRODUCED = Counter("opsledger_events_produced_total", "Events this API process produced", ["topic"],
                          registry=REGISTRY)
TOPIC_END_OFFSET = Gauge("opsledger_topic_records", "Records in each topic (sum of partition end offsets)",
                         ["topic"], registry=REGISTRY)
EVENTS_CONSUMED = Gauge("opsledger_events_consumed", "Records each projection has applied, per topic",
                        ["projection", "topic"], registry=REGISTRY)
PROJECTION_LAG = Gauge("opsledger_projection_lag", "Records not yet applied, per projection", ["projection"],
                       registry=REGISTRY)
PROCESSOR_LAG = Gauge("opsledger_processor_lag", "Records the Faust processors have not committed yet",
                      registry=REGISTRY)
DEADLETTERED = Gauge("opsledger_deadlettered", "Records on the dead-letter topic", registry=REGISTRY)
LIVE_CLIENTS = Gauge("opsledger_live_clients", "Streaming clients (SSE and WebSocket) of this API process",
                     registry=REGISTRY)
LIVE_DROPPED = Counter("opsledger_live_clients_dropped_total", "Streaming clients ended for falling behind",
                       registry=REGISTRY)
