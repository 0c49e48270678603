"""The detector's parameters, its per-series state (JSON-serialisable, for a Faust table) and its per-point verdict."""

from __future__ import annotations

import base64
import struct
from array import array
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, NamedTuple

DAY = 86400
WEEK = 7 * DAY
WEEK_EPOCH_OFFSET = 4 * DAY  # 1970-01-05 was a Monday: week phase 0 is Monday 00:00 UTC
STATE_VERSION = 1


@dataclass(frozen=True)
class Params:
    """One set for every series. Times are in seconds so 1-minute and 5-minute series learn at the same pace."""

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


class Event(StrEnum):
    detected = "AnomalyDetected"
    cleared = "AnomalyCleared"


class Verdict(NamedTuple):
    score: float
    expected: float
    lower: float
    upper: float
    anomaly: bool
    event: Event | None
    reason: str | None  # which test tripped: deviation, drift, variance or flatline
    stale: bool = False


Profile = array  # of float64 ('d'): packed and unpacked by memcpy, where a list would convert every float


def _empty() -> Profile:
    return array("d")


@dataclass(slots=True)
class DetectorState:
    n: int = 0
    first_ts: float = 0.0
    unit: float = 0.0  # y = asinh(x / unit)
    unit_sum: float = 0.0
    last_ts: float = 0.0
    last_x: float = 0.0
    profile_slot: int = -1
    week: Profile = field(default_factory=_empty)  # hour-of-week profile
    shape: Profile = field(default_factory=_empty)  # 15-minute shape of a day, zero mean per profile slot
    scale: Profile = field(default_factory=_empty)  # hour-of-week mean absolute residual
    day_scale: Profile = field(default_factory=_empty)  # hour-of-day mean absolute residual
    stray: Profile = field(default_factory=_empty)  # hour-of-week mean absolute departure from the profile
    global_scale: float = 0.0
    base: float = 0.0  # slow level: the series' mean departure from its profiles
    dev: float = 0.0  # fast level: the last few points' departure from base + profiles, as a fraction of them
    drift: float = 0.0  # the same over the last hour
    local_mean: float = 0.0  # of the last few z
    local_sq: float = 1.0  # of the last few z squared
    quantum: float = 0.0  # smallest change seen between consecutive values (0: none yet)
    repeat_rate: float = 0.0  # share of points equal to the one before
    tail_rate: float = 0.003  # share of calm points past tail_z (starts at tail_rate_normal)
    flat_run: int = 0
    shift_run: list[float] = field(default_factory=list)
    plateau_run: int = 0
    active: bool = False
    hi_run: int = 0
    lo_run: int = 0

    def to_dict(self, compact: bool = False) -> dict[str, Any]:
        """Floats go out as repr, which JSON round-trips exactly: a restored detector continues bit for bit.
        `compact` packs the profiles as base64 float64 (still exact, about half the size)."""
        data = {"v": STATE_VERSION, **{name: _copied(getattr(self, name)) for name in _FIELDS}}
        if compact:
            for key in _PROFILES:
                data[key] = {"f64": base64.b64encode(array("d", data[key]).tobytes()).decode("ascii")}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DetectorState:
        if data.get("v") != STATE_VERSION:
            raise ValueError(f"unknown detector state version {data.get('v')!r}")
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key in known:
                if isinstance(value, dict):
                    value = array("d", base64.b64decode(value["f64"]))
                elif key in _PROFILES:
                    value = array("d", value)
                kwargs[key] = list(value) if isinstance(value, list) else value
        return cls(**kwargs)

    def pack(self) -> bytes:
        """The state as bytes (exact float64; about 5 KB once the profiles exist): what the processor keeps per
        series, so packing and unpacking must cost little next to a step."""
        head = _HEAD.pack(STATE_VERSION, *(getattr(self, name) for name in _SCALARS),
                          *(len(getattr(self, name)) for name in _LISTS))
        return b"".join((head, array("d", self.shift_run).tobytes(),
                         *(getattr(self, name).tobytes() for name in _PROFILES)))

    @classmethod
    def unpack(cls, raw: bytes) -> DetectorState:
        version, *head = _HEAD.unpack_from(raw)
        if version != STATE_VERSION:
            raise ValueError(f"unknown detector state version {version!r}")
        fields_: dict[str, Any] = dict(zip(_SCALARS, head, strict=False))
        at = _HEAD.size
        for name, size in zip(_LISTS, head[len(_SCALARS):], strict=True):
            values = array("d")
            values.frombytes(raw[at:at + 8 * size])
            fields_[name] = values
            at += 8 * size
        fields_["shift_run"] = fields_["shift_run"].tolist()
        return cls(**fields_)


_PROFILES = ("week", "shape", "scale", "day_scale", "stray")
_FIELDS = tuple(f.name for f in fields(DetectorState))
_SCALARS = ("n", "first_ts", "unit", "unit_sum", "last_ts", "last_x", "profile_slot", "global_scale", "base", "dev",
            "drift", "local_mean", "local_sq", "quantum", "repeat_rate", "tail_rate", "flat_run", "plateau_run",
            "active", "hi_run", "lo_run")
_LISTS = ("shift_run", *_PROFILES)
# the version, the scalars in _SCALARS' order, then the lengths of shift_run and of the five profiles
_HEAD = struct.Struct("<Bq5di9dqq?qqH5H")


def _copied(value: Any) -> Any:
    return list(value) if isinstance(value, list | array) else value
