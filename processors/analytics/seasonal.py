"""Seasonal profiles for the detector: an hourly week profile plus a 15-minute shape shared by all days.

The week profile carries both the daily and the weekly cycle (weekends differ in shape, not only in size); it is
read between slot centres (linear interpolation), so a morning ramp is a ramp and not a staircase. The shape is
piecewise constant (a cron job starts and stops on a quarter hour, and a step cannot be interpolated) and kept at
zero mean per profile slot, so it only adds detail and never competes with the week profile for the same signal.
(Half-hourly profile slots were tried: no fewer false alarms, and a half-hour batch job no longer fits the shape.)
"""

from __future__ import annotations

from processors.analytics.detector_state import DAY, WEEK, Profile

HOUR = 3600
SLOTS = WEEK // HOUR
SHAPE_SLOT_S = 900
SHAPE_PER_SLOT = HOUR // SHAPE_SLOT_S


def recentre(shape: Profile, changed: int, change: float) -> None:
    """Keeps the shape at zero mean per hour after `shape[changed]` moved by `change` (the mean moved by a share)."""
    share = change / SHAPE_PER_SLOT
    lo = changed - changed % SHAPE_PER_SLOT
    for k in range(lo, lo + SHAPE_PER_SLOT):
        shape[k] -= share


def seed_first_week(values: Profile, slot: int, elapsed_s: float) -> None:
    """During the first week an hour-of-week slot has never been seen: start it from the same hour yesterday.

    Called on entering `slot`; the next slot is seeded too, as interpolation leans on it within this one.
    """
    if not DAY <= elapsed_s < WEEK:
        return
    n = len(values)
    for s in (slot, slot + 1) if elapsed_s < DAY + HOUR else (slot + 1,):
        values[s % n] = values[(s - 24) % n]
