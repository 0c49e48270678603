"""`opsledger bench anomaly`: the detector's quality on a labelled set generated from a fixed seed (seasonal series
with injected spikes, dips, level shifts, variance changes, drifts and flat-lines; infra/bench/anomaly_set.py), as
event-level precision, recall, F1 and median detection delay in points (infra/bench/anomaly_eval.py), with one
parameter set for every series — and the pure detector's throughput per core. The detector only ever sees
(time, value); the labels stay here.

Throughput is the CPU time of the detector loop alone (time.process_time: one core), generation excluded.
"""

from __future__ import annotations

import time
from typing import Any

from infra.bench.anomaly_eval import Tally, score_series, summary
from infra.bench.anomaly_set import KINDS, make_set
from processors.analytics.detector import step
from processors.analytics.detector_state import DetectorState, Event

TOLERANCE_POINTS = 3  # a raise this soon after a short anomaly's start still counts as detecting it
SEED = 20240601  # the reporting seed; all tuning was done on seeds 1 and 2


def run_anomaly_bench(seed: int = SEED, five_min: int = 30, one_min: int = 6) -> dict[str, Any]:
    series = make_set(seed, five_min, one_min)
    totals: dict[str, Tally] = {}
    points = 0
    cpu = 0.0
    for s in series:
        state = DetectorState()
        raised: list[int] = []
        started = time.process_time()
        for i, (ts, x) in enumerate(zip(s.ts, s.values, strict=True)):
            if step(state, ts, x).event is Event.detected:
                raised.append(i)
        cpu += time.process_time() - started
        points += len(s.values)
        for kind, tally in score_series(s.anomalies, raised, TOLERANCE_POINTS).items():
            totals.setdefault(kind, Tally()).add(tally)
    overall = summary(totals["all"])
    # A false positive belongs to no window, so no kind: per kind there is recall and delay, not precision.
    per_kind = {k: {f: v for f, v in summary(totals[k]).items() if f not in ("precision", "f1", "false_positives")}
                for k in KINDS if k in totals}
    return {
        "f1": overall["f1"], "precision": overall["precision"], "recall": overall["recall"],
        "median_delay_points": overall["median_delay_points"],
        "points": points, "points_per_s_per_core": round(points / cpu), "series": len(series),
        "windows": overall["windows"], "detected": overall["detected"],
        "false_positives": overall["false_positives"], "repeats_in_windows": overall["repeats"],
        "seed": seed, "per_kind": per_kind,
        "targets": {"f1": 0.8, "median_delay_points": 3, "points_per_s_per_core": 50_000},
    }
