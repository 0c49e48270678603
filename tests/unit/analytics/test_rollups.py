"""Rollups: coarse buckets are their fine buckets merged; streaming agrees with batch; late points are counted."""

from __future__ import annotations

import json
import math

from ddsketch import DDSketch
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.analytics.rollups import Bucket, RollupState, bucket_points, close, evolve, rollup
from processors.analytics.sketch import ALPHA, Sketch

PROPERTY = settings(max_examples=150, deadline=None)
T0 = 1_704_067_200
# The sketch's bounded store (2048 bins at 1 %) covers a dynamic range of about 1e17 within one bucket; beyond
# that its lowest bins collapse (documented DDSketch behaviour). Metric values: 0, or 1e-6 .. 1e9 in magnitude.
magnitudes = st.one_of(st.just(0.0), st.floats(min_value=1e-6, max_value=1e9))
values = st.tuples(magnitudes, st.booleans()).map(lambda m: -m[0] if m[1] else m[0])
# one value per time: a second point at a time already folded in is a duplicate (counted, not folded; tested below)
points = st.lists(st.tuples(st.floats(min_value=T0, max_value=T0 + 3 * 3600, allow_nan=False), values), min_size=1,
                  max_size=300, unique_by=lambda p: p[0])


def true_quantile(xs: list[float], q: float) -> float:
    # DDSketch's rank convention: the value at rank floor(q * (n - 1)) of the sorted values
    return sorted(xs)[math.floor(q * (len(xs) - 1))]


def within_accuracy(estimate: float, exact: float) -> bool:
    return abs(estimate - exact) <= ALPHA * abs(exact) + 1e-300


def assert_same(a: Bucket, b: Bucket) -> None:
    assert (a.width_s, a.start, a.count, a.min, a.max) == (b.width_s, b.start, b.count, b.min, b.max)
    assert a.sum == b.sum  # exact partial sums: no order dependence at all
    assert a.p95 == b.p95  # merged DDSketch bins are the same bins


@PROPERTY
@given(points)
def test_rollup_of_rollups_equals_direct_rollup(pts: list[tuple[float, float]]) -> None:
    direct = bucket_points(pts, 3600)
    via = rollup(rollup(bucket_points(pts, 60), 300), 3600)
    assert len(direct) == len(via)
    for d, v in zip(direct, via, strict=True):
        assert_same(d, v)
        members = [x for ts, x in pts if d.start <= ts < d.start + 3600]
        assert d.sum == math.fsum(members)
        assert within_accuracy(d.p95, true_quantile(members, 0.95))


@PROPERTY
@given(points, st.randoms(use_true_random=False))
def test_streaming_out_of_order_within_grace_equals_batch(pts: list[tuple[float, float]], rnd: object) -> None:
    ordered = sorted(pts)
    # Shuffle only within small windows so no point is later than the grace allows.
    jittered = sorted(ordered, key=lambda p: p[0] + rnd.uniform(0, 50))  # type: ignore[attr-defined]
    state = RollupState(grace_s=120)
    emitted: list[Bucket] = []
    for ts, x in jittered:
        state = evolve(state, ts, x)
        state, out = close(state, state.max_ts - 60)  # type: ignore[operator]
        emitted += out
    state, out = close(state, math.inf)
    emitted += out
    assert state.late_dropped == 0
    for width in (60, 300, 3600):
        streamed = [b for b in emitted if b.width_s == width]
        for s, d in zip(streamed, bucket_points(pts, width), strict=True):
            assert_same(s, d)


def test_point_later_than_grace_is_counted_not_lost() -> None:
    state = RollupState(grace_s=60)
    state = evolve(state, T0 + 10, 1.0)
    state = evolve(state, T0 + 600, 2.0)
    state, out = close(state, T0 + 600)
    assert [(b.width_s, b.start, b.count) for b in out] == [(60, T0, 1), (300, T0, 1)]
    state = evolve(state, T0 + 30, 5.0)  # its minute closed long ago
    state = evolve(state, T0 + 550, 7.0)  # within grace: folded in
    state = evolve(state, T0 + 20, math.nan)
    assert (state.late_dropped, state.invalid_dropped) == (1, 1)
    state, out = close(state, math.inf)
    hour = next(b for b in out if b.width_s == 3600)
    assert (hour.count, hour.sum, hour.min, hour.max) == (3, 10.0, 1.0, 7.0)


def test_a_repeated_time_is_counted_once_and_the_first_value_stands() -> None:
    state = RollupState(grace_s=120)
    for ts, x in ((T0 + 1, 1.0), (T0 + 2, 2.0), (T0 + 1, 50.0), (T0 + 70, 3.0), (T0 + 2, 60.0)):
        state = evolve(state, ts, x)
    assert state.duplicates == 2
    state, out = close(state, T0 + 400)
    minute = next(b for b in out if b.width_s == 60 and b.start == T0)
    assert (minute.count, minute.sum, minute.max) == (2, 3.0, 2.0)
    state = evolve(state, T0 + 1, 70.0)  # its minute has closed since: late, not a duplicate
    assert (state.late_dropped, state.duplicates, state.seen) == (1, 2, set())


def test_close_is_idempotent_for_an_old_watermark() -> None:
    state = evolve(RollupState(), T0, 1.0)
    state, out = close(state, T0 + 3600 * 2)
    assert len(out) == 3
    state, again = close(state, T0 + 3600)
    assert again == []


@PROPERTY
@given(points, st.integers(min_value=0, max_value=300))
def test_state_json_round_trip_mid_stream_changes_nothing(pts: list[tuple[float, float]], cut: int) -> None:
    cut = min(cut, len(pts))

    def run(restart: bool) -> list[dict[str, object]]:
        state = RollupState(grace_s=300)
        emitted: list[Bucket] = []
        for i, (ts, x) in enumerate(pts):
            if restart and i == cut:
                state = RollupState.from_dict(json.loads(json.dumps(state.to_dict())))
            state = evolve(state, ts, x)
            state, out = close(state, state.max_ts - 300)  # type: ignore[operator]
            emitted += out
        emitted += close(state, math.inf)[1]
        return [b.to_dict() for b in emitted]

    assert run(restart=True) == run(restart=False)


@PROPERTY
@given(st.lists(values, min_size=1, max_size=200), st.sampled_from([0.0, 0.5, 0.95, 1.0]))
def test_sketch_quantiles_are_the_librarys(xs: list[float], q: float) -> None:
    reference, ours = DDSketch(ALPHA), Sketch()
    for x in xs:
        reference.add(x)
        ours.add(x)
    assert ours.quantile(q) == reference.get_quantile_value(q)


def test_sketch_round_trip_keeps_quantiles_and_merges() -> None:
    a, b = Sketch(), Sketch()
    for i in range(1, 1001):
        (a if i % 2 else b).add(float(i) * (-1 if i % 7 == 0 else 1))
    a.add(0.0)
    restored = Sketch.from_dict(json.loads(json.dumps(a.to_dict())))
    assert [restored.quantile(q) for q in (0.0, 0.5, 0.95, 1.0)] == [a.quantile(q) for q in (0.0, 0.5, 0.95, 1.0)]
    restored.merge(b)
    a.merge(b)
    assert restored.to_dict() == a.to_dict()
    assert restored.count == 1001
