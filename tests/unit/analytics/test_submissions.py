"""Only an ML client's batch is a submission the platform keeps a verdict for (a client may wait for it, with its
consistency token): ingress levels, which the processors batch themselves, make no `metric_submissions` row."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from producers.analytics.commands import submit_points
from projections.analytics.rows import Rows
from projections.records import Record
from schemas.analytics.events import MetricPointsSubmitted
from schemas.catalog import REGISTRY

T = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.mark.parametrize(("series", "kept"), [("ml/demand/site-1", True), ("ingress/N-7/level_dbmv", False)])
def test_a_batch_is_a_submission_only_when_a_client_sent_it(series: str, kept: bool) -> None:
    event = submit_points(series, [(T, 1.0)], actor="t", correlation_id=None)
    assert isinstance(event.data, MetricPointsSubmitted) and event.data.from_client is kept
    rows = Rows()
    rows.add(Record("analytics.points", 0, 7, 0, None, REGISTRY.encode(event), (), event))
    assert [r[0] for r in rows.submissions] == ([event.event_id] if kept else [])

