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
