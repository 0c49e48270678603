"""processors.analytics.points.reading_points: ingress readings as points of their nodes' level series, one event per
run of a node's readings whose times strictly increase."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.analytics.machine import SeriesState, fold, new_state
from processors.analytics.points import by_series, points_of, reading_points
from producers.ingress.commands import submit_reading
from schemas.analytics.events import MetricPointsSubmitted
from schemas.analytics.params import Params
from schemas.envelope import Envelope
from tests.helpers.factories import reading

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def submitted(node: str, level: float, second: int) -> Envelope:
    event = submit_reading(reading(node_id=node, level_dbmv=level), actor="t", correlation_id=f"c-{node}-{second}")
    return event.model_copy(update={"occurred_at": T0 + timedelta(seconds=second)})


def levels(point: Envelope) -> list[tuple[int, float]]:
    assert isinstance(point.data, MetricPointsSubmitted)
    return [(int((p.t - T0).total_seconds()), p.value) for p in point.data.points]


def test_one_reading_is_one_point_of_its_node_series_with_an_id_from_the_reading() -> None:
    event = submitted("N-7", -12.5, 0)
    [point] = reading_points([event])
    assert point.subject == "ingress/N-7/level_dbmv" and levels(point) == [(0, -12.5)]
    assert point.causation_id == event.event_id and point.correlation_id == event.correlation_id
    [again] = reading_points([event])
    assert again.event_id == point.event_id  # a redelivery repeats it
    assert reading_points([point]) == []


def test_a_batch_gives_one_event_per_node_in_arrival_order() -> None:
    batch = [submitted("A", 1, 0), submitted("B", 2, 0), submitted("A", 3, 5), submitted("A", 4, 9)]
    points = reading_points(batch)
    assert [(p.subject, levels(p)) for p in points] == [
        ("ingress/A/level_dbmv", [(0, 1), (5, 3), (9, 4)]), ("ingress/B/level_dbmv", [(0, 2)])]
    assert points[0].causation_id == batch[0].event_id and points[0].correlation_id is None
    assert points[0].event_id not in {p.event_id for p in reading_points(batch[:1])}  # another cut, another id
    assert [p.event_id for p in reading_points(batch)] == [p.event_id for p in points]


def test_runs_with_the_same_ends_and_other_readings_between_have_other_ids() -> None:
    """A redelivery can bring a reading from another partition between a run's first and last: another content, so
    another id (one id names one fact)."""
    first, middle, last = submitted("A", 1, 0), submitted("A", 2, 5), submitted("A", 3, 9)
    [short] = reading_points([first, last])
    [full] = reading_points([first, middle, last])
    assert levels(short) != levels(full) and short.event_id != full.event_id


def test_a_reading_not_after_the_one_before_starts_a_new_run_so_the_order_folded_is_the_order_arrived() -> None:
    batch = [submitted("A", 1, 10), submitted("A", 2, 20), submitted("A", 3, 15), submitted("A", 4, 15),
             submitted("A", 5, 30)]
    assert [levels(p) for p in reading_points(batch)] == [[(10, 1), (20, 2)], [(15, 3)], [(15, 4), (30, 5)]]


def scored_by_series(batches: list[list[Envelope]]) -> dict[str, list[tuple[float, float, float | None]]]:
    """Every point each series scored, folding the events reading_points makes of each batch in turn (each at the
    next offset of `analytics.points`, as the topic would give them)."""
    states: dict[str, SeriesState] = {}
    scored: dict[str, list[tuple[float, float, float | None]]] = {}
    offset = 0
    for batch in batches:
        for point in reading_points(batch):
            for series, points in by_series(points_of(point.data)).items():
                state = states.setdefault(series, new_state(120))
                out = fold(state, "analytics.points:0", offset, points, capacity=False, params=Params(),
                           threshold=0.8, horizon_h=24 * 7)
                scored.setdefault(series, []).extend(
                    (s.t, s.value, None if s.verdict is None else s.verdict.score) for s in out.scored)
            offset += 1
    return scored


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.tuples(st.sampled_from("ABC"), st.integers(-30, 60)), min_size=1, max_size=60),
       cuts=st.lists(st.integers(1, 12), min_size=1, max_size=20), overlap=st.integers(0, 10))
def test_however_a_batch_is_cut_or_redelivered_each_series_scores_what_one_by_one_scores(
        steps: list[tuple[str, int]], cuts: list[int], overlap: int) -> None:
    """Readings whose times go back now and then (late, or repeated) fold the same, point for point, whether each is
    its own event or they come in batches cut anywhere; a redelivered stretch (the tail of a batch sent again at the
    start of the next, cut differently) scores nothing twice."""
    second, events = 0, []
    for i, (node, step) in enumerate(steps):
        second += step
        events.append(submitted(node, float(i % 7), 3600 + second))
    one_by_one = scored_by_series([[e] for e in events])
    batches, at, k = [], 0, 0
    while at < len(events):
        size = cuts[k % len(cuts)]
        back = min(overlap, at) if k % 2 else 0  # every other batch starts with a redelivery of what came before
        batches.append(events[at - back:at + size])
        at, k = at + size, k + 1
    assert scored_by_series(batches) == one_by_one
