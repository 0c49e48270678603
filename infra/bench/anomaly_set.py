"""A labelled benchmark set for the anomaly detector: seasonal series with injected anomalies, from a fixed seed.

Pure and deterministic: `random.Random` per series (its algorithm is fixed across platforms), no numpy, no clock.
Magnitudes are in units of the series' own noise at that moment, as in the NAB / Yahoo A3-A4 synthetic sets, so a
"6 sigma spike" is equally visible at 3 a.m. and at noon. The detector only ever sees (ts, value).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

KINDS = ("spike", "dip", "level_shift", "variance", "drift", "flatline")
DAY = 86400
START_TS = 1_704_067_200  # 2024-01-01 00:00 UTC, a Monday: weekdays in the shapes line up with real dates
CLEAN_DAYS = 8  # anomalies only after a week and a day: there is no "normal" to judge against before
RECOVERY_POINTS = 6  # a window also covers the return to normal, which a detector may rightly flag


@dataclass(frozen=True)
class Anomaly:
    kind: str
    start: int  # index of the first anomalous point
    end: int  # index of the last point of the window (inclusive)


@dataclass
class Series:
    name: str
    step_s: int
    ts: list[int]
    values: list[float]
    anomalies: list[Anomaly] = field(default_factory=list)


def _logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, x))))


def _office(h: float, weekday: bool) -> float:
    day = _logistic((h - 8.2) / 0.45) * _logistic((17.6 - h) / 0.6) * (1 - 0.18 * math.exp(-(((h - 12.6) / 0.5) ** 2)))
    return day if weekday else 0.12 * day


def _residential(h: float, weekday: bool) -> float:
    evening = math.exp(-((min(abs(h - 21.0), 24 - abs(h - 21.0)) / 2.6) ** 2))
    daytime = 0.35 * _logistic((h - 7.5) / 0.8) * _logistic((23.5 - h) / 0.8)
    return 0.25 + evening + daytime * (1.0 if weekday else 1.6)


def _cpu(h: float, weekday: bool) -> float:
    batch = 1.6 if 2.0 <= h < 2.5 else 0.0  # the nightly backup: normal, and sharper than an hourly profile
    return 0.15 + _office(h, weekday) + batch


def _datacenter(h: float, weekday: bool) -> float:
    return 1.0 + 0.35 * math.sin(2 * math.pi * (h - 9.0) / 24) + (0.1 if weekday else 0.0)


def _temperature(h: float, weekday: bool) -> float:
    hvac = -0.6 * _logistic((h - 7.0) / 0.3) * _logistic((18.0 - h) / 0.3) if weekday else 0.0
    return 1.0 + 0.4 * math.sin(2 * math.pi * (h - 15.0) / 24) + hvac


# name: (shape, base, amplitude, relative noise, absolute noise, quantised counts)
PROFILES: dict[str, tuple[Callable[[float, bool], float], float, float, float, float, bool]] = {
    "office_uplink_bps": (_office, 2e6, 8e7, 0.04, 6e5, False),
    "residential_bps": (_residential, 5e7, 6e8, 0.03, 2e6, False),
    "server_cpu_pct": (_cpu, 3.0, 30.0, 0.05, 0.6, False),
    "datacenter_bps": (_datacenter, 0.0, 4e9, 0.05, 1e7, False),
    "room_temp_c": (_temperature, 18.0, 3.0, 0.0, 0.12, False),
    "queue_depth": (_office, 1.0, 60.0, 0.0, 0.0, True),
}


def _poisson(rng: random.Random, mean: float) -> float:
    if mean > 30:
        return float(max(0, round(rng.gauss(mean, math.sqrt(mean)))))
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return float(k)


def _clean_and_noise(
    rng: random.Random, profile: str, step_s: int, n: int
) -> tuple[list[float], list[float], list[float]]:
    shape, base, amp, rel, absolute, counts = PROFILES[profile]
    scale = rng.uniform(0.5, 2.0)
    phi = rng.uniform(0.0, 0.6)  # real traffic noise is autocorrelated, so runs of same-sign residuals are normal
    heavy = rng.random() < 0.3  # some series get Student-t(5) innovations: occasional natural 4-5 sigma points
    growth = rng.uniform(-0.02, 0.06)  # per week
    day_gain = [rng.gauss(1.0, 0.06) for _ in range(n * step_s // DAY + 2)]
    clean, sd, values = [], [], []
    ar = 0.0
    for i in range(n):
        t = i * step_s
        day = t // DAY
        h = (t % DAY) / 3600
        weekday = (day % 7) < 5
        frac = (t % DAY) / DAY  # a busier day fades in and out: no step at midnight
        gain = day_gain[day] + (day_gain[day + 1] - day_gain[day]) * frac
        c = (base + amp * gain * shape(h, weekday)) * scale * (1 + growth * t / (7 * DAY))
        s = rel * c + absolute * scale
        innovation = rng.gauss(0, 1)
        if heavy:
            innovation /= math.sqrt(sum(rng.gauss(0, 1) ** 2 for _ in range(5)) / 3)  # t(5) / sqrt(5/3): unit variance
        ar = phi * ar + math.sqrt(1 - phi * phi) * innovation
        clean.append(c)
        sd.append(math.sqrt(c) if counts else s)
        values.append(_poisson(rng, c) if counts else max(0.0, c + s * ar) if base >= 0 else c + s * ar)
    return clean, sd, values


def _inject(rng: random.Random, kind: str, i: int, values: list[float], clean: list[float], sd: list[float]) -> int:
    """Alters values from index i on; returns the index of the last anomalous point."""
    n = len(values)
    floor = 0.0 if min(clean) >= 0 else -math.inf
    if kind in ("spike", "dip"):
        length = rng.randint(1, 3) if kind == "spike" else rng.randint(1, 6)
        sign = 1.0 if kind == "spike" else -1.0
        size = rng.uniform(6, 15)
        for j in range(i, min(n, i + length)):
            values[j] = max(floor, values[j] + sign * size * sd[j])
        return i + length - 1
    if kind == "level_shift":  # permanent: the detector must adapt to it
        delta = rng.choice((-1.0, 1.0)) * rng.uniform(5, 12) * sd[i]
        # Traffic-like series shift in proportion (a share of users moved), never below zero. Later anomalies are
        # sized against the shifted series, so its clean signal and noise move too.
        factor = min(3.0, max(0.3, 1 + delta / clean[i])) if floor == 0.0 else 1.0
        for j in range(i, n):
            if floor == 0.0:
                values[j] *= factor
                clean[j] *= factor
                sd[j] *= factor
            else:
                values[j] += delta
                clean[j] += delta
        return i + 24
    length = rng.randint(12, 72) if kind != "drift" else rng.randint(36, 144)
    last = min(n - 1, i + length - 1)
    stuck = values[i - 1]
    factor = rng.uniform(3, 6)
    size = rng.choice((-1.0, 1.0)) * rng.uniform(8, 20)
    for j in range(i, last + 1):
        if kind == "variance":
            values[j] = max(floor, clean[j] + (values[j] - clean[j]) * factor)
        elif kind == "drift":  # e.g. a leak that grows until a restart puts it back
            values[j] = max(floor, values[j] + size * sd[j] * (j - i + 1) / length)
        else:
            values[j] = stuck
    return last


def make_series(seed: int, index: int, profile: str, step_s: int, days: int) -> Series:
    rng = random.Random(seed * 1_000_003 + index)
    n = days * DAY // step_s
    clean, sd, values = _clean_and_noise(rng, profile, step_s, n)
    anomalies: list[Anomaly] = []
    per_day = DAY // step_s
    cursor = CLEAN_DAYS * per_day + rng.randint(0, per_day)
    kinds = list(KINDS)
    rng.shuffle(kinds)
    k = 0
    while cursor < n - per_day // 2:
        kind = kinds[k % len(kinds)]
        last = _inject(rng, kind, cursor, values, clean, sd)
        anomalies.append(Anomaly(kind, cursor, min(n - 1, last + RECOVERY_POINTS)))
        k += 1
        cursor = last + rng.randint(per_day * 3 // 2, per_day * 4)  # well apart: each window is its own event
    if PROFILES[profile][5]:  # counts stay whole numbers whatever was injected
        values = [float(round(v)) for v in values]
    ts = [START_TS + i * step_s for i in range(n)]
    return Series(f"{profile}-{index}", step_s, ts, values, anomalies)


def make_set(seed: int = 20240601, five_min_series: int = 30, one_min_series: int = 6) -> list[Series]:
    """The benchmark set: most series at 5-minute steps over 5 weeks, some at 1-minute steps over 3 weeks."""
    names = list(PROFILES)
    out = [make_series(seed, i, names[i % len(names)], 300, 35) for i in range(five_min_series)]
    out += [make_series(seed, 1000 + i, names[i % len(names)], 60, 21) for i in range(one_min_series)]
    return out
