"""The anomaly detector's one parameter set (processors/analytics/detector.py), shared with the API's model view.

One set for every series: tuning per series does not survive contact with new data (shared DOMAIN.md). Times are in
seconds so 1-minute and 5-minute series learn at the same pace.
"""

from __future__ import annotations

from dataclasses import dataclass

DAY = 86400
DETECTOR = "seasonal-robust-v1"  # the name GET /api/ml/models shows


@dataclass(frozen=True)
class Params:
    warmup_days: float = 8.0  # a weekly profile needs a week, and the first day's slots a second look
    max_step_s: float = 900.0  # a gap longer than this teaches no more than one step would
    dev_rate: float = 0.3  # per point: the forecast leans on the last few points
    drift_tau_s: float = 3600.0
    unit_fraction: float = 0.1  # the asinh unit is a tenth of the mean |x| over the first day
    base_tau_s: float = 1.0 * DAY
    first_week_rate: float = 0.3  # per point
    week_rate_min: float = 0.3  # per visit of a slot (once a week); early on every week counts equally
    shape_rate_min: float = 0.1  # per visit (once a day)
    scale_rate_min: float = 0.3
    day_scale_rate_min: float = 0.1
    huber: float = 2.0
    scale_clip: float = 4.0
    anomalous_learning: float = 0.1  # on an outlying point
    alarm_learning: float = 0.25  # on any alarm: a plateaued drift still becomes the usual, in a few days
    global_floor: float = 0.25
    abs_floor: float = 1e-9
    z_point: float = 5.0
    tail_z: float = 4.0
    tail_rate_normal: float = 0.003  # share of calm points past tail_z for well-behaved noise
    tail_rate_per_point: float = 1 / 2000
    tail_power: float = 0.3
    tail_factor_max: float = 1.6
    z_drift: float = 7.0
    strays_floor: float = 0.5  # in noise scales
    var_rate: float = 0.3
    var_clip: float = 4.0
    var_threshold: float = 8.0  # local variance of z; about 1.6 when calm
    repeat_max: float = 0.9
    quantum_leak: float = 1.001  # per point
    repeat_rate_min: float = 1 / 2000  # per point: about a week of 5-minute points
    repeat_width: float = 1.5
    repeat_floor: float = 1e-3
    flat_decades: float = 6.0
    shift_z: float = 3.0
    shift_points: int = 8
    plateau_tolerance: float = 1.0  # in noise scales
    plateau_points: int = 12
    hi: float = 0.5
    lo: float = 0.25
    raise_points: int = 2
    raise_now: float = 0.94  # severity 2: one such point is enough (a one-point spike has no second point)
    clear_points: int = 6


