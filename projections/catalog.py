"""Every projection by name, and how far each is behind the broker."""

from __future__ import annotations

from collections.abc import Mapping

import psycopg
from aiokafka import TopicPartition

from infra.topics import platform_topics
from projections.alerts.projection import AlertsProjection
from projections.analytics.projection import AnalyticsProjection
from projections.archive import ArchiveProjection
from projections.cylinders.projection import CylindersProjection
from projections.devices.projection import DevicesProjection
from projections.files.projection import FilesProjection
from projections.identity.projection import AuditProjection
from projections.images.projection import ImagesProjection
from projections.ingress.projection import IngressProjection
from projections.runner import Projection

OFFSETS = "SELECT projection, topic, partition, next_offset FROM projection_offsets"


def all_projections(app_id: str) -> dict[str, Projection]:
    """`app_id` is the processors' Faust app id: the archive also keeps its table changelogs."""
    found: list[Projection] = [ArchiveProjection(platform_topics(app_id)), IngressProjection(), FilesProjection(),
                               AuditProjection(), CylindersProjection(), AlertsProjection(), DevicesProjection(),
                               ImagesProjection(), AnalyticsProjection()]
    return {p.name: p for p in found}


async def applied_offsets(conn: psycopg.AsyncConnection) -> dict[tuple[str, str, int], int]:
    rows = await (await conn.execute(OFFSETS)).fetchall()
    return {(name, topic, partition): offset for name, topic, partition, offset in rows}


def lag_of(projections: Mapping[str, Projection], ends: Mapping[TopicPartition, int],
           applied: Mapping[tuple[str, str, int], int]) -> dict[str, int]:
    """Records of its topics each projection has not applied yet (0 everywhere: caught up)."""
    return {name: sum(max(0, end - applied.get((name, tp.topic, tp.partition), 0))
                      for tp, end in ends.items() if tp.topic in projection.topics)
            for name, projection in projections.items()}
