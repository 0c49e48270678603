"""processors.analytics.points.reading_point: an ingress reading as a point of its node's level series."""

from __future__ import annotations

from processors.analytics.points import reading_point
from producers.ingress.commands import submit_reading
from schemas.analytics.events import MetricPointsSubmitted
from tests.helpers.factories import reading


def test_a_submitted_reading_is_one_point_of_its_node_series_with_an_id_from_the_reading() -> None:
    event = submit_reading(reading(node_id="N-7", level_dbmv=-12.5), actor="t", correlation_id="c")
    point = reading_point(event)
    assert point is not None and point.subject == "ingress/N-7/level_dbmv"
    assert isinstance(point.data, MetricPointsSubmitted)
    assert [(p.t, p.value) for p in point.data.points] == [(event.occurred_at, -12.5)]
    assert point.causation_id == event.event_id and point.correlation_id == "c"
    again = reading_point(event)
    assert again is not None and again.event_id == point.event_id  # a redelivery repeats it
    assert reading_point(point) is None
