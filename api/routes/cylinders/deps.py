"""What the cylinder routes share: reads wait for the scans named by a consistency token AND for the processor's
decision on each, so a scanner sees the state its own scans set."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import Depends
from psycopg_pool import AsyncConnectionPool

from api.consistency import Span, wait_decided
from api.deps import consistent_with
from schemas.topics import CYLINDER_EVENTS, CYLINDER_SCANS

UNDECIDED = ("SELECT 1 FROM cylinder_scans s WHERE s.src_partition = %s AND s.src_offset BETWEEN %s AND %s"
             " AND NOT EXISTS (SELECT 1 FROM cylinder_history h WHERE h.scan_id = s.client_scan_id"
             " AND h.worker = s.worker) LIMIT 1")


async def wait_scans_decided(pool: AsyncConnectionPool, spans: Sequence[Span], timeout_s: float) -> None:
    """After the scans are recorded: wait until the processor's decision on each (its derived events) is projected
    too. 504 problem after timeout_s."""
    await wait_decided(pool, spans, timeout_s, topic=CYLINDER_SCANS, undecided=UNDECIDED, projection="cylinders")


Consistent = Depends(consistent_with("cylinders", (CYLINDER_SCANS, CYLINDER_EVENTS), wait_scans_decided))
