"""The labelled set is reproducible and well-formed; the event scorer counts events, not points."""

from __future__ import annotations

from infra.bench.anomaly_eval import score_series, summary
from infra.bench.anomaly_set import CLEAN_DAYS, DAY, KINDS, Anomaly, make_series, make_set


def test_same_seed_same_set_other_seed_other_set() -> None:
    a, b = make_series(7, 0, "office_uplink_bps", 300, 14), make_series(7, 0, "office_uplink_bps", 300, 14)
    assert (a.values, a.anomalies) == (b.values, b.anomalies)
    assert make_series(8, 0, "office_uplink_bps", 300, 14).values != a.values


def test_windows_are_after_warm_up_ordered_apart_and_cover_every_kind() -> None:
    series = make_set(seed=11, five_min_series=12, one_min_series=0)
    kinds = set()
    for s in series:
        assert len(s.ts) == len(s.values) and all(b - a == s.step_s for a, b in zip(s.ts, s.ts[1:], strict=False))
        starts = [a.start for a in s.anomalies]
        assert starts == sorted(starts)
        assert starts[0] >= CLEAN_DAYS * DAY // s.step_s
        for a, b in zip(s.anomalies, s.anomalies[1:], strict=False):
            assert a.end < b.start
        kinds |= {a.kind for a in s.anomalies}
    assert kinds == set(KINDS)


def test_counts_stay_whole_and_traffic_never_negative() -> None:
    for s in make_set(seed=3, five_min_series=12, one_min_series=0):
        if s.name.startswith("queue_depth"):
            assert all(v == int(v) for v in s.values)
        if s.name.endswith("bps") or s.name.startswith("queue"):
            assert min(s.values) >= 0


def test_event_scoring() -> None:
    windows = [Anomaly("spike", 100, 102), Anomaly("drift", 200, 300)]
    tallies = score_series(windows, [50, 103, 104, 250, 260, 400], tolerance=3)
    # 50, 104 (past the spike's start + tolerance) and 400 are false positives; 103 detects the spike; 250 detects
    # the drift and 260 repeats it.
    overall = summary(tallies["all"])
    assert (overall["detected"], overall["false_positives"], overall["repeats"]) == (2, 3, 1)
    assert overall["precision"] == 0.4 and overall["recall"] == 1.0
    assert tallies["spike"].delays == [3] and tallies["drift"].delays == [50]
    assert summary(tallies["all"])["median_delay_points"] == 26.5
