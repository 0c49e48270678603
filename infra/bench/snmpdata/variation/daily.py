"""snmpsim variation module `daily` (loaded by snmpsim with --variation-modules-dir): a counter whose rate follows
a day's curve, with optional spikes. The value is the closed-form integral of the rate over wall-clock time, so it
only ever grows (wrapping at `max`) however often it is read, and every agent shows the same hour's traffic.

Record value: `base=<octets/s>,depth=<0..1>,peak_hour=<UTC hour>,spike_every=<s>,spike_for=<s>,spike_x=<factor>,
max=<wrap>`; rate(t) = base * (1 + depth * cos(2π (t - peak) / day)) (* spike_x while a spike lasts).
"""

from __future__ import annotations

import math
import time
from typing import Any

DAY = 86_400.0


def init(**context: Any) -> None:
    pass


def _settings(value: object) -> dict[str, float]:
    return {k: float(v) for k, v in (part.split("=", 1) for part in str(value).split(","))}


def counter_at(t: float, s: dict[str, float]) -> int:
    base, depth = s.get("base", 0.0), s.get("depth", 0.0)
    peak = s.get("peak_hour", 14.0) * 3600.0
    angle = 2 * math.pi * (t - peak) / DAY
    total = base * t + base * depth * DAY / (2 * math.pi) * (math.sin(angle) + 1.0)
    every, lasting, factor = s.get("spike_every", 0.0), s.get("spike_for", 0.0), s.get("spike_x", 1.0)
    if every > 0 and lasting > 0:
        spiking = (t // every) * lasting + min(t % every, lasting)
        total += base * (factor - 1.0) * spiking
    return int(total) % int(s.get("max", 2.0**64))


def variate(oid: Any, tag: str, value: object, **context: Any) -> tuple[Any, str, Any]:
    if not context["nextFlag"] and not context["exactMatch"]:
        return context["origOid"], tag, context["errorStatus"]
    if context["setFlag"]:
        return context["origOid"], tag, context["errorStatus"]
    return oid, tag, counter_at(time.time(), _settings(value))


def record(oid: Any, tag: str, value: object, **context: Any) -> None:
    raise Exception("the daily module only variates")


def shutdown(**context: Any) -> None:
    pass
