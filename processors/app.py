"""The one Faust app. Built by create_app() (never at import time) so settings decide the broker."""

from __future__ import annotations

from typing import Any

import faust

from infra import kafka_clients
from infra.settings import Settings
from infra.topics import (
    ALERT_ONLY_SOURCES,
    ANALYTICS_SOURCES,
    alert_internal_topics,
    analytics_requests_topic,
    check_topic,
)
from processors.alerts import agents as alerts
from processors.alerts import incidents
from processors.analytics import agents as analytics
from processors.codec import CODEC_NAME, only_codec
from processors.cylinders import agents as cylinders
from processors.devices import agents as devices
from processors.faust_patches import (
    pace_fetches,
    use_bounded_flush,
    use_direct_producer,
    use_eager_drain,
    use_exact_highwaters,
    use_fenced_acks,
    use_quiet_idle,
    use_refetch_left_out,
    use_seek_before_resume,
    use_worker_consumer_waits,
)
from processors.images import agents as images
from processors.ingress import agents as ingress
from schemas import topics


def create_app(settings: Settings) -> faust.App:
    app = faust.App(
        settings.processor_id,
        **kafka_clients.faust_broker(settings),
        store="memory://",
        processing_guarantee="at_least_once",
        autodiscover=False,
        web_enabled=False,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,
        topic_allow_declare=False,  # topics are created by infra.topics with their partition counts
        key_serializer="raw",
        value_serializer=CODEC_NAME,
        broker_session_timeout=settings.kafka_session_timeout_s,
        broker_heartbeat_interval=max(0.1, settings.kafka_session_timeout_s / 5),
        broker_rebalance_timeout=max(1.0, settings.kafka_session_timeout_s * 2),
        broker_commit_every=1000,
        broker_commit_interval=0.5,
        stream_wait_empty=False,
        producer_acks=-1,
        producer_linger_ms=5,
        producer_max_batch_size=256 * 1024,
        consumer_auto_offset_reset="earliest",
        stream_buffer_maxsize=65536,
        broker_max_poll_records=5000,
        consumer_max_fetch_size=4 * 1024 * 1024,
        # on: a record is decoded once for every agent reading its topic (infra/settings.py: why it is off)
        cython_optimizations=settings.faust_cython_optimizations,
    )
    tansu = settings.kafka_broker == "tansu"  # Tansu's sharp edges (ARCHITECTURE.md); Apache Kafka needs neither
    if tansu:
        use_exact_highwaters(settings.kafka_bootstrap_servers)
    use_worker_consumer_waits(settings.kafka_fetch_max_wait_ms if tansu else None)
    pace_fetches(app, settings.kafka_fetch_max_wait_ms, settings.kafka_idle_fetch_wait_ms)
    if settings.faust_eager_drain:
        use_eager_drain()
    use_fenced_acks(app)
    use_seek_before_resume()
    use_refetch_left_out()
    use_quiet_idle()
    use_bounded_flush()
    use_direct_producer()
    wire(app, settings)
    return app


def topic(app: faust.App, *names: str) -> Any:
    return app.topic(*names, key_type=bytes, value_serializer=CODEC_NAME, internal=False)


def wire(app: faust.App, settings: Settings) -> None:
    """The alert engine first: the domain agents hand their events to its router (one Faust pass per record)."""
    deadletter = app.topic(topics.DEADLETTER, key_type=bytes, value_serializer="raw")
    observations, ticks, topology = alert_internal_topics(settings.processor_id)
    router = alerts.register(app, settings, sources=topic(app, *ALERT_ONLY_SOURCES),
                             commands=topic(app, topics.ALERT_COMMANDS),
                             observed=app.topic(observations, key_type=bytes, value_serializer="json"),
                             ticks=app.topic(ticks, key_type=bytes, value_serializer="json"),
                             events=topic(app, topics.ALERT_EVENTS), rules_topic=topic(app, topics.ALERT_RULES))
    cylinders.register(app, settings, scans=topic(app, topics.CYLINDER_SCANS),
                       events=topic(app, topics.CYLINDER_EVENTS),
                       checks=app.topic(check_topic(settings.processor_id), key_type=bytes, value_serializer="json"),
                       deadletter=deadletter, router=router)
    ingress.register(app, settings, readings=topic(app, topics.INGRESS_READINGS),
                     evaluations=topic(app, topics.INGRESS_EVALUATIONS), points=topic(app, topics.ANALYTICS_POINTS),
                     deadletter=deadletter, router=router)
    devices.register(app, settings, samples=topic(app, topics.DEVICE_SAMPLES), derived=topic(app, topics.DEVICE_RATES),
                     deadletter=deadletter, router=router)
    images.register(app, settings, uploads=topic(app, topics.IMAGE_UPLOADS), analyses=topic(app, topics.IMAGE_ANALYSES),
                    snapshots=topic(app, topics.IMAGE_SNAPSHOTS), health=topic(app, topics.IMAGE_HEALTH),
                    deadletter=deadletter)
    incidents.register(app, settings,  # every rate and sample read for a few rare types: the others left undecoded
                       sources=app.topic(topics.ALERT_EVENTS, topics.DEVICE_RATES, topics.DEVICE_SAMPLES,
                                         key_type=bytes, value_serializer=only_codec("facts", incidents.FACT_TYPES),
                                         internal=False),
                       facts=app.topic(topology, key_type=bytes, value_serializer="json"),
                       events=topic(app, topics.ALERT_EVENTS))
    derived = (topics.ANALYTICS_POINTS, topics.ANALYTICS_SCORES, topics.ANALYTICS_ROLLUPS, topics.ANALYTICS_ANOMALIES)
    analytics.register(app, settings, sources=topic(app, *ANALYTICS_SOURCES),
                       commands=topic(app, topics.ANALYTICS_COMMANDS),
                       requests=app.topic(analytics_requests_topic(settings.processor_id), key_type=bytes,
                                          value_serializer="json"),
                       outputs={name: topic(app, name) for name in derived})
