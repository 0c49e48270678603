"""Capacity forecast on synthetic utilisation: trends are found, seasons kept, outliers ignored, intervals honest."""

from __future__ import annotations

import math
import random

import pytest

from schemas.analytics.forecast import DAY, HOUR, fit, forecast, predict

T0 = 1_704_067_200  # a Monday, 00:00 UTC


def utilisation(hours: int, start: float, slope_per_day: float, noise: float, seed: int = 1,
                amplitude: float = 0.1) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    out: list[tuple[float, float]] = []
    for k in range(hours):
        ts = T0 + k * HOUR
        daily = amplitude * math.sin(2 * math.pi * ((ts % DAY) / DAY - 0.375))  # peak mid-afternoon
        out.append((ts, start + slope_per_day * k / 24 + daily + rng.gauss(0, noise)))
    return out


def test_linear_trend_with_daily_season_is_recovered() -> None:
    history = utilisation(24 * 28, 0.30, 0.005, 0.01)
    result = forecast(history, 24 * 40, threshold=0.8, bounds=(0.0, 1.0))
    assert result.season == "week"
    assert result.slope_per_day == pytest.approx(0.005, rel=0.05)
    # Analytic crossing: the daily peak (level + 0.1) reaches 0.8 when 0.30 + 0.1 + 0.005 * d = 0.8, d = 80 days
    # from the start, i.e. 52 days after 28 days of history: beyond a 40-day horizon, within a 60-day one.
    assert result.hours_until is None
    longer = forecast(history, 24 * 60, threshold=0.8)
    assert longer.hours_until is not None
    assert longer.hours_until / 24 == pytest.approx(52, abs=1.5)
    assert longer.hours_until_pessimistic is not None and longer.hours_until_pessimistic <= longer.hours_until


def test_flat_and_falling_series_never_reach_the_threshold() -> None:
    for slope in (0.0, -0.002):
        result = forecast(utilisation(24 * 21, 0.4, slope, 0.01), 24 * 90, threshold=0.8, bounds=(0.0, 1.0))
        assert result.hours_until is None
        assert all(0.0 <= p.lower <= p.value <= p.upper <= 1.0 for p in result.points)


def test_outages_in_the_history_do_not_tilt_the_trend() -> None:
    history = utilisation(24 * 21, 0.5, 0.0, 0.01)
    spoiled = [(ts, 0.0 if 24 * 15 <= k < 24 * 16 else y) for k, (ts, y) in enumerate(history)]  # a dead day
    spoiled[-3:] = [(ts, 1.0) for ts, _ in spoiled[-3:]]  # and a final burst
    assert abs(fit(spoiled).slope * DAY) < 0.001


def test_prediction_interval_covers_about_95_percent_of_the_future() -> None:
    covered = total = 0
    for seed in range(5):
        series = utilisation(24 * 35, 0.3, 0.003, 0.02, seed=seed)
        history, future = series[: 24 * 28], series[24 * 28 :]
        result = forecast(history, 24 * 7)
        for p, (ts, y) in zip(result.points, future, strict=True):
            assert p.ts == ts
            covered += p.lower <= y <= p.upper
            total += 1
    assert 0.9 <= covered / total <= 0.99


def test_short_history_falls_back_to_a_daily_or_no_season() -> None:
    assert forecast(utilisation(24 * 3, 0.3, 0.01, 0.01), 24).season == "day"
    assert forecast(utilisation(12, 0.3, 0.01, 0.01), 6).season == "none"
    with pytest.raises(ValueError):
        forecast([(T0, 0.1), (T0 + HOUR, 0.2)], 1)


def test_predict_uses_the_series_own_step() -> None:
    five_min = [(T0 + k * 300, 10.0 + 0.01 * k) for k in range(600)]
    out = predict(five_min, 24)
    assert len(out) == 24
    assert [p["ts"] for p in out] == [T0 + (599 + k) * 300 for k in range(1, 25)]
    assert out[-1]["value"] == pytest.approx(10.0 + 0.01 * 623, abs=1e-6)
    assert all(p["lower"] <= p["value"] <= p["upper"] for p in out)
