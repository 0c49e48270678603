"""The detector's four checks. Each gives a severity, 1.0 being its alarm threshold, and keeps its own memory."""

from __future__ import annotations

import math

from processors.analytics.detector_state import DetectorState
from schemas.analytics.params import Params


def severities(
    st: DetectorState, z: float, x: float, x_sigma: float, sigma: float, strays: float, p: Params
) -> tuple[float, float, float, float]:
    """(deviation, drift, variance, flatline) for the point x whose standardised residual is z; `strays` is how far
    the series usually departs from its profile at this hour of the week (busy days, a ramp a little early)."""
    # A heavy-tailed series has natural 5-sigma points: its threshold rises with how often it has them lately.
    tails = 1.0
    if st.tail_rate > p.tail_rate_normal:
        tails = min(p.tail_factor_max, (st.tail_rate / p.tail_rate_normal) ** p.tail_power)
    deviation = abs(z) / (p.z_point * tails)

    # Drift: the last hour's departure from the usual, against how far it usually strays at this hour.
    usual_stray = p.strays_floor * sigma
    drift = abs(st.drift) / (p.z_drift * (strays if strays > usual_stray else usual_stray))

    # Local variance around the local mean: a sustained offset is a level matter, not a variance change.
    zc = p.var_clip if z > p.var_clip else -p.var_clip if z < -p.var_clip else z  # one outlier alone cannot trip it
    st.local_mean += p.var_rate * (zc - st.local_mean)
    st.local_sq += p.var_rate * (zc * zc - st.local_sq)
    variance = (st.local_sq - st.local_mean * st.local_mean) / p.var_threshold

    # Flat line: a repeat is as likely as the value's quantum is small against its noise (a series quantised
    # coarsely against its noise repeats harmlessly), or as often as this series has repeated lately, whichever is
    # more: a series that sits still most of the time is not stuck when it sits still.
    if not st.n:
        return deviation, drift, variance, 0.0
    change = abs(x - st.last_x)
    st.flat_run = 0 if change else st.flat_run + 1
    rate = 1.0 / st.n if st.n * p.repeat_rate_min < 1.0 else p.repeat_rate_min
    st.repeat_rate += rate * ((0.0 if change else 1.0) - st.repeat_rate)
    # A leaky minimum of the changes seen: one odd value cannot make a coarse series look continuous for ever.
    st.quantum *= p.quantum_leak
    if change and (change < st.quantum or not st.quantum):
        st.quantum = change
    if not st.flat_run:
        return deviation, drift, variance, 0.0
    repeat_p = min(p.repeat_max, st.quantum / (p.repeat_width * x_sigma)) if st.quantum else 1.0
    repeat_p = max(repeat_p, st.repeat_rate, p.repeat_floor)
    flatline = st.flat_run * -math.log10(repeat_p) / p.flat_decades
    return deviation, drift, variance, flatline
