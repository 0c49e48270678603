"""The detector: causal, deterministic, restartable from JSON, idempotent under redelivery, and it finds the obvious."""

from __future__ import annotations

import json
import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.analytics.detector import step
from processors.analytics.detector_state import DetectorState, Event, Verdict

PROPERTY = settings(max_examples=25, deadline=None)
T0 = 1_704_067_200  # Monday 00:00 UTC
STEP = 300
WARM = 9 * 288  # past the 8-day warm-up


def traffic(n: int, seed: int) -> list[tuple[int, float]]:
    """A business-day curve with proportional noise, at 5-minute steps."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        ts = T0 + i * STEP
        h = (ts % 86400) / 3600
        weekday = (ts - T0) // 86400 % 7 < 5
        day = math.exp(-(((h - 13) / 3.5) ** 2)) * (1.0 if weekday else 0.2)
        clean = 1e6 * (0.2 + day)
        out.append((ts, clean * (1 + rng.gauss(0, 0.03))))
    return out


def run(points: list[tuple[int, float]], state: DetectorState | None = None) -> list[Verdict]:
    st_ = state or DetectorState()
    return [step(st_, ts, x) for ts, x in points]


@PROPERTY
@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=WARM - 50, max_value=WARM + 300),
       st.lists(st.floats(min_value=-1e7, max_value=1e8, allow_nan=False), min_size=1, max_size=50))
def test_appending_future_points_never_changes_past_scores(seed: int, cut: int, future: list[float]) -> None:
    series = traffic(cut, seed)
    alone = run(series)
    extended = series + [(T0 + (cut + k) * STEP, x) for k, x in enumerate(future)]
    assert run(extended)[:cut] == alone


@PROPERTY
@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=1, max_value=WARM + 400))
def test_same_input_same_scores_and_json_restart_is_seamless(seed: int, cut: int) -> None:
    series = traffic(WARM + 400, seed)
    series[WARM + 100] = (series[WARM + 100][0], series[WARM + 100][1] * 3)  # something to react to
    straight = run(series)
    assert run(series) == straight
    for compact in (False, True):
        state = DetectorState()
        before = run(series[:cut], state)
        restored = DetectorState.from_dict(json.loads(json.dumps(state.to_dict(compact=compact))))
        assert before + run(series[cut:], restored) == straight


def test_redelivered_points_are_ignored_and_change_nothing() -> None:
    series = traffic(WARM + 50, 3)
    state = DetectorState()
    run(series, state)
    snapshot = json.dumps(state.to_dict())
    again = run(series[-10:], state)
    assert all(v.stale and v.score == 0.0 and v.event is None for v in again)
    assert json.dumps(state.to_dict()) == snapshot


def test_no_judgement_during_warm_up() -> None:
    series = traffic(8 * 288 - 1, 4)
    series[500] = (series[500][0], series[500][1] * 10)
    assert all(v.score == 0.0 and not v.anomaly and v.event is None for v in run(series))


def test_spike_is_raised_at_once_and_cleared_after() -> None:
    series = traffic(WARM + 200, 5)
    at = WARM + 100
    series[at] = (series[at][0], series[at][1] * 2.5)
    verdicts = run(series)
    raised = [i for i, v in enumerate(verdicts) if v.event is Event.detected]
    cleared = [i for i, v in enumerate(verdicts) if v.event is Event.cleared]
    assert raised == [at]
    assert verdicts[at].reason == "deviation" and verdicts[at].score > 0.9
    assert cleared and at < cleared[0] <= at + 20
    assert all(v.lower <= v.expected <= v.upper for v in verdicts)


def test_level_shift_is_raised_then_adapted_to() -> None:
    series = traffic(WARM + 1500, 6)
    at = WARM + 100
    series[at:] = [(ts, x * 1.6) for ts, x in series[at:]]
    verdicts = run(series)
    raised = [i for i, v in enumerate(verdicts) if v.event is Event.detected]
    assert raised and at <= raised[0] <= at + 2
    assert all(i < at + 48 for i in raised)  # no alarm once it has become the new normal
    assert not any(v.anomaly for v in verdicts[at + 300 :])


def test_flat_line_is_raised_within_a_few_points() -> None:
    series = traffic(WARM + 200, 7)
    at = WARM + 100
    stuck = series[at - 1][1]
    series[at : at + 30] = [(ts, stuck) for ts, _ in series[at : at + 30]]
    verdicts = run(series)
    raised = [i for i, v in enumerate(verdicts) if v.event is Event.detected]
    assert raised and at <= raised[0] <= at + 3
    assert verdicts[raised[0]].reason == "flatline"


def test_a_constant_series_is_not_a_flat_line() -> None:
    assert not any(v.anomaly for v in run([(T0 + i * STEP, 42.0) for i in range(WARM + 100)]))


def test_state_is_small_and_plain_json() -> None:
    state = DetectorState()
    run(traffic(WARM, 8), state)
    assert len(json.dumps(state.to_dict(), allow_nan=False)) < 16_000
    assert len(json.dumps(state.to_dict(compact=True), allow_nan=False)) < 8_000
