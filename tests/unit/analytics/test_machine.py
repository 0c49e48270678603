"""One series' fold: idempotent by source offset, the same whatever the checkpoints and restarts (a restored state
read again from its checkpoint's offset gives what an uninterrupted run gives), refusals counted as totals, and a
utilisation series forecast once a day of its own time."""

from __future__ import annotations

import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.analytics.derive import derived
from processors.analytics.machine import Outcome, SeriesState, fold, new_state
from schemas.analytics.params import Params

T0 = 1_704_067_200  # Monday 00:00 UTC
PARAMS = Params()
SOURCE = "devices.rates:0"


def inputs(n: int, seed: int, step: int = 60) -> list[list[tuple[float, float]]]:
    """One point per input, a daily curve with noise, sometimes a point out of order or repeated."""
    rng = random.Random(seed)
    found = []
    for i in range(n):
        t = T0 + i * step
        value = 0.4 + 0.3 * math.sin(2 * math.pi * (t % 86400) / 86400) + rng.gauss(0, 0.02)
        points = [(float(t), value)]
        if rng.random() < 0.05 and i > 2:
            points.append((float(t - step * 2 + 7), value))  # late but within the 120 s grace
        if rng.random() < 0.05 and i > 0:
            points.append((float(t - step), value * 2))  # a time already folded: a duplicate
        found.append(points)
    return found


def run(batches: list[list[tuple[float, float]]], state: SeriesState, first_offset: int = 0,
        capacity: bool = False) -> list[Outcome]:
    return [fold(state, SOURCE, first_offset + i, points, capacity=capacity, params=PARAMS, threshold=0.8,
                 horizon_h=24 * 30) for i, points in enumerate(batches)]


def events(outcomes: list[Outcome]) -> list[str]:
    return [f"{about}:{p.model_dump_json()}" for out in outcomes
            for about, p in derived({"s": out}, threshold=0.8, horizon_h=24 * 30) if out.folded]


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 250), st.integers(0, 40))
def test_a_restart_from_a_checkpoint_derives_what_an_uninterrupted_run_does(seed: int, cut: int, back: int) -> None:
    feed = inputs(300, seed)
    straight = events(run(feed, new_state(120)))
    # the state was checkpointed after input `cut - back`, the process died after `cut`: the checkpoint is read back
    # and the source is read again from just after it (inputs up to `cut` arrive twice, the rest once)
    checkpointed = max(0, cut - back)
    state = new_state(120)
    before = run(feed[:checkpointed], state)
    checkpoint = state.encode()
    # the dead process went on from the state it had checkpointed (not from nothing): what it derived was sent, its
    # state after the checkpoint was not persisted
    lost = run(feed[checkpointed:cut], SeriesState.decode(checkpoint), first_offset=checkpointed)
    again = run(feed[checkpointed:], SeriesState.decode(checkpoint), first_offset=checkpointed)
    assert events(before) + events(again) == straight
    assert events(lost) == events(again)[:len(events(lost))]  # derived again identically: the same ids, no news


def test_a_redelivered_input_changes_nothing() -> None:
    state = new_state(120)
    run(inputs(10, 1), state)
    snapshot = state.encode()
    again = fold(state, SOURCE, 5, [(T0 + 1.0, 99.0)], capacity=False, params=PARAMS, threshold=0.8, horizon_h=24)
    assert not again.folded and state.encode() == snapshot


def test_late_and_repeated_points_are_reported_as_growing_totals() -> None:
    state = new_state(60)
    first = fold(state, SOURCE, 0, [(T0 + 0.0, 1.0), (T0 + 600.0, 2.0)], capacity=False, params=PARAMS,
                 threshold=0.8, horizon_h=24)
    assert (first.late, first.duplicates) == (0, 0)
    second = fold(state, SOURCE, 1, [(T0 + 1.0, 5.0), (T0 + 600.0, 9.0), (T0 + 2.0, 5.0)], capacity=False,
                  params=PARAMS, threshold=0.8, horizon_h=24)
    assert (second.late, second.duplicates) == (2, 1)
    assert [s.t for s in second.scored] == []  # none of them was folded, so none scored
    third = fold(state, SOURCE, 2, [(T0 + 660.0, 1.0)], capacity=False, params=PARAMS, threshold=0.8, horizon_h=24)
    assert (third.late, third.duplicates) == (0, 0)  # unchanged totals are not said again


def test_an_out_of_order_point_is_folded_but_not_scored() -> None:
    state = new_state(120)
    out = fold(state, SOURCE, 0, [(T0 + 60.0, 1.0), (T0 + 30.0, 2.0)], capacity=False, params=PARAMS,
               threshold=0.8, horizon_h=24)
    assert [(s.t, s.verdict is None) for s in out.scored] == [(T0 + 60.0, False), (T0 + 30.0, True)]


def test_a_utilisation_series_is_forecast_once_a_day_of_its_own_time() -> None:
    state = new_state(120)
    outcomes = run(inputs(60 * 24 * 3, 7), state, capacity=True)
    made = [out.forecast for out in outcomes if out.forecast is not None]
    assert len(made) == 2  # after its first full day of hourly means, then a day later
    assert made[0].history_hours >= 24 and made[1].last_hour - made[0].last_hour == 86_400
    assert all(0.0 <= p.lower <= p.value <= p.upper <= 1.0 for p in made[-1].result.points)
    assert len(state.hours) == len(state.means) <= 28 * 24
