"""Online seasonal anomaly detector, one per series, one parameter set for all. Pure: no I/O, no clock, no numpy.

The model works on y = asinh(x / unit): log-like for large values, so a busier day (busier in proportion, more at
the peak than at night) and noise proportional to the level both become additive and steady; linear near zero, so
zeros and negative values still work. In y: expected = week profile + within-hour shape (seasonal.py) + base + dev,
`base` being the slow level (a day) and `dev` the fast one (a few points). The profiles learn against `base` only,
so `dev` cannot soak up the daily cycle (Holt-Winters' identifiability trap). Learning is Huber-clipped and slowed
while a point looks anomalous, so the detector does not learn what it is meant to find; a run of same-sign
outliers longer than any spike is taken as the new normal (a level shift is reported, then adapted to).

Causal: a point's verdict depends only on the state before it and the point itself. Points at or before the last
seen timestamp (redeliveries under at-least-once) are ignored and change nothing.
"""

from __future__ import annotations

import math
from array import array

from processors.analytics.checks import severities
from processors.analytics.detector_state import (
    DAY,
    WEEK,
    WEEK_EPOCH_OFFSET,
    DetectorState,
    Event,
    Verdict,
)
from processors.analytics.seasonal import HOUR, SHAPE_SLOT_S, SLOTS, recentre, seed_first_week
from schemas.analytics.params import Params

DEFAULT = Params()
REASONS = ("deviation", "drift", "variance", "flatline")


def step(st: DetectorState, ts: float, x: float, p: Params = DEFAULT) -> Verdict:
    """Scores x at ts against the state, then learns from it (mutating st: the caller owns and stores it)."""
    n = st.n
    if n and ts <= st.last_ts:
        return Verdict(0.0, x, x, x, False, None, None, stale=True)
    if not n:
        st.first_ts = ts
    elapsed = ts - st.first_ts
    if elapsed < DAY or not st.unit:  # fixed after the first day: changing it would rescale all that was learnt
        st.unit_sum += abs(x)
        st.unit = p.unit_fraction * st.unit_sum / (n + 1)
    unit = st.unit or 1.0
    y = math.asinh(x / unit)
    if not n:
        _start(st, ts, y, p)
    week, shape, scale, day_scale, stray = st.week, st.shape, st.scale, st.day_scale, st.stray
    dt = ts - st.last_ts
    if dt > p.max_step_s:
        dt = p.max_step_s
    # One hourly grid serves the profile and the scales; hour-of-week slot mod 24 is the hour of day.
    pos = (ts - WEEK_EPOCH_OFFSET) % WEEK / HOUR - 0.5
    w0 = math.floor(pos)
    wf = pos - w0
    w0 %= SLOTS
    w1 = (w0 + 1) % SLOTS
    hour = int(pos + 0.5) % SLOTS
    if hour != st.profile_slot:
        st.profile_slot = hour
        for values in (week, scale, stray):
            seed_first_week(values, hour, elapsed)
    quarter = int(ts % DAY // SHAPE_SLOT_S)
    profile = week[w0] + (week[w1] - week[w0]) * wf
    usual = profile + shape[quarter] + st.base
    expected = usual + st.dev
    # The hour-of-week scale knows weekends but sees each slot once a week (noisy); the hour-of-day one sees each
    # slot daily. Either saying "noisy" is believed: an underestimated scale is what floods with false alarms.
    sigma = scale[w0] + (scale[w1] - scale[w0]) * wf
    d0, d1 = w0 % 24, w1 % 24
    daily_sigma = day_scale[d0] + (day_scale[d1] - day_scale[d0]) * wf
    floor = p.global_floor * st.global_scale
    sigma = max(sigma, daily_sigma, floor, p.abs_floor)
    r = y - expected
    z = r / sigma
    x_sigma = sigma * unit * math.cosh(expected)  # the same scale in the units of x, for the flat-line test
    strays = stray[w0] + (stray[w1] - stray[w0]) * wf
    tests = severities(st, z, x, x_sigma, sigma, strays, p)
    severity = max(tests)
    judging = elapsed >= p.warmup_days * DAY
    score = severity**4 / (1.0 + severity**4) if judging else 0.0

    # Learning, Huber-clipped, and slowed while judging finds something: an outlying point slows the levels most
    # (a spike must not move them); any alarm slows the base and the profiles, or a drift or a flat line would be
    # learnt as the usual and mis-predict once it is over (and a week later at the same hour). Slots are read by
    # interpolation but each learns the plain mean of its own hour: learning through the interpolation would
    # couple neighbours, and one still holding its seed would make the other overshoot.
    outlier = judging and (tests[0] >= 1.0 or tests[2] >= 1.0)
    alarm = judging and severity >= 1.0
    slow = p.anomalous_learning if outlier else 1.0
    settle = slow if outlier else p.alarm_learning if alarm else 1.0
    early = elapsed < DAY  # the first day's errors measure the profile being built, not outliers or noise
    clip = math.inf if early else p.huber * sigma
    surprise = clip if r > clip else -clip if r < -clip else r
    off = st.dev + surprise  # the departure from the usual, with what nobody expected clipped
    st.dev += p.dev_rate * slow * surprise
    st.drift += dt / p.drift_tau_s * (off - st.drift)  # a measurement, not a belief: never slowed
    weeks = elapsed / WEEK
    # A slot's first visit must replace its seed (yesterday's value): fast per point in week one, then per visit,
    # averaging over the weeks. Meanwhile the profile takes every departure and the base stays put, or it would
    # carry one day's profile-building errors into the next.
    first_visit = elapsed < WEEK + DAY  # the first day's slots were learnt while the unit still moved: twice
    per_visit = 1.0 / (1.0 + weeks)
    if first_visit:
        visit_rate = p.first_week_rate
    else:
        st.base += dt / p.base_tau_s * settle * off
        visit_rate = (per_visit if per_visit > p.week_rate_min else p.week_rate_min) * dt / HOUR
    week[hour] += visit_rate * settle * (profile + off - week[hour])
    # The shape holds daily habits (a cron job): a step the slot already knows may be learnt in full, and alarms
    # do not slow it, or the habit's own edge would be an alarm every night. It stays at zero mean per hour.
    if early:
        shape_off = off
    else:
        habit = p.huber * max(sigma, abs(shape[quarter]))
        shape_off = y - usual
        shape_off = habit if shape_off > habit else -habit if shape_off < -habit else shape_off
    step_change = max(DAY / (DAY + elapsed), p.shape_rate_min) * dt / SHAPE_SLOT_S * shape_off
    shape[quarter] += step_change
    recentre(shape, quarter, step_change)
    size = abs(r)
    if not early:  # before, the global scale stands in
        if size > p.scale_clip * sigma:
            size = p.scale_clip * sigma
        weekly_rate = (per_visit if per_visit > p.scale_rate_min else p.scale_rate_min) * dt / HOUR
        scale[hour] += weekly_rate * (size - scale[hour])
        usual_stray = min(abs(off), p.scale_clip * max(strays, sigma))
        stray[hour] += weekly_rate * settle * (usual_stray - stray[hour])
        day_rate = max(DAY / elapsed, p.day_scale_rate_min) * dt / HOUR
        day_scale[hour % 24] += day_rate * (size - day_scale[hour % 24])
    st.global_scale += dt / p.drift_tau_s * (size - st.global_scale)
    if judging:
        if not alarm:  # the tail rate of the calm, learnt series: not of warm-up errors nor of anomalies
            st.tail_rate += p.tail_rate_per_point * ((1.0 if abs(z) > p.tail_z else 0.0) - st.tail_rate)
        _accept_level_shift(st, z, r, p)
        _accept_plateau(st, tests[1] >= 1.0, sigma, p)
    st.n = n + 1
    st.last_ts, st.last_x = ts, x
    band = p.z_point * sigma
    hi = score >= p.hi
    event = _hysteresis(st, score, p) if judging else None
    return Verdict(score, unit * math.sinh(expected), unit * math.sinh(expected - band),
                   unit * math.sinh(expected + band), hi, event, REASONS[tests.index(severity)] if hi else None)


def _start(st: DetectorState, ts: float, y: float, p: Params) -> None:
    st.last_ts = ts - p.max_step_s
    st.week = array("d", [y]) * SLOTS
    st.scale = array("d", [0.0]) * SLOTS
    st.day_scale = array("d", [0.0]) * 24
    st.stray = array("d", [0.0]) * SLOTS
    st.shape = array("d", [0.0]) * (DAY // SHAPE_SLOT_S)


def _accept_level_shift(st: DetectorState, z: float, r: float, p: Params) -> None:
    """A run of same-sign outliers longer than any spike is a new normal: the base jumps by its median. In y a
    proportional shift is a plain offset, so the profiles keep their shape and need not relearn it."""
    run = st.shift_run
    if abs(z) < p.shift_z or (run and (run[-1] > 0) != (r > 0)):
        run.clear()
    if abs(z) >= p.shift_z:
        run.append(r)
    if len(run) >= p.shift_points:
        # The run's residuals were measured against base + dev: the new normal is all of it, held by the base.
        st.base += st.dev + sorted(run)[len(run) // 2]
        st.dev = st.drift = 0.0  # the departure is explained: the drift test starts over from the new level
        run.clear()


def _accept_plateau(st: DetectorState, drifting: bool, sigma: float, p: Params) -> None:
    """A departure the drift test flags but that no longer moves (the fast and the hourly level agree) is a level
    shift too small for a run of outliers: after a while it becomes the base. A drift that still grows keeps the
    fast level ahead of the hourly one and is not accepted."""
    steady = drifting and abs(st.dev - st.drift) < p.plateau_tolerance * sigma
    st.plateau_run = st.plateau_run + 1 if steady else 0
    if st.plateau_run >= p.plateau_points:
        st.base += st.dev
        st.dev = st.drift = 0.0
        st.plateau_run = 0


def _hysteresis(st: DetectorState, score: float, p: Params) -> Event | None:
    st.hi_run = st.hi_run + 1 if score >= p.hi else 0
    st.lo_run = st.lo_run + 1 if score < p.lo else 0
    if not st.active and (st.hi_run >= p.raise_points or score >= p.raise_now):
        st.active = True
        return Event.detected
    if st.active and st.lo_run >= p.clear_points:
        st.active = False
        return Event.cleared
    return None
