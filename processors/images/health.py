"""Camera image health, pure: `decide(state, snapshot) -> events` and `evolve(state, snapshot or event) -> state`.

Each snapshot gives every kind a verdict: bad, good, or None (cannot tell: a black frame says nothing about focus or
view, and nothing is judged against a baseline still being learned). A kind turns Degraded after `raise_after` bad
verdicts in a row and Recovered after `clear_after` good ones, and the thresholds for bad and good are apart, so one
odd frame or a value hovering at a threshold does not flap. A snapshot no newer than the last one applied changes
nothing (a redelivery, or a frame overtaken by a later one). Baselines learn only from snapshots judged healthy, so a
degradation is never learned as the new normal (the price: a camera refocused on purpose stays flagged until its
state is reset).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median

from processors.images.health_model import CameraImageHealth, HealthRules, KindState
from processors.images.measures import hamming, largest_block_change
from schemas.images.health import (
    HEALTH_KINDS,
    CameraImageDegraded,
    CameraImageRecovered,
    CameraSnapshotAnalysed,
    CameraSnapshotFailed,
    HealthKind,
)

Kind = HealthKind
HealthEvent = CameraImageDegraded | CameraImageRecovered
Snapshot = CameraSnapshotAnalysed | CameraSnapshotFailed

DEFAULT_RULES = HealthRules()


@dataclass(frozen=True, slots=True)
class Verdict:
    bad: bool | None
    detail: str = ""


def new_camera(camera_id: str) -> CameraImageHealth:
    return CameraImageHealth(camera_id=camera_id)


def stale(state: CameraImageHealth, snapshot: Snapshot) -> bool:
    at = snapshot.at if isinstance(snapshot, CameraSnapshotFailed) else snapshot.taken_at
    return state.last_at is not None and at <= state.last_at


def reference_view(state: CameraImageHealth) -> str | None:
    """The medoid of the recent views: one odd frame among them cannot become the reference."""
    views = state.reference_views
    if not views:
        return None
    return min(views, key=lambda view: sum(hamming(view, other) for other in views))


def _identical_run(state: CameraImageHealth, snap: CameraSnapshotAnalysed, rules: HealthRules) -> int:
    if state.last_phash is None or state.last_luma_grid is None:
        return 1
    same = hamming(snap.phash, state.last_phash) <= rules.frozen_max_hash_bits and \
        largest_block_change(snap.luma_grid, state.last_luma_grid) <= rules.frozen_max_block_change
    return state.identical_run + 1 if same else 1


def observe(state: CameraImageHealth, snap: CameraSnapshotAnalysed, rules: HealthRules) -> dict[Kind, Verdict]:
    black = snap.brightness < rules.black_brightness or snap.contrast < rules.blank_contrast
    verdicts: dict[Kind, Verdict] = {
        "black_or_blank": Verdict(black, f"brightness {snap.brightness:.3f}, contrast {snap.contrast:.3f}")}
    run = _identical_run(state, snap, rules)
    if black:  # black frames are all alike: the black kind speaks for them, not frozen, focus or view
        verdicts.update({kind: Verdict(None) for kind in ("frozen", "out_of_focus_or_covered", "moved")})
        return verdicts
    verdicts["frozen"] = Verdict(True if run >= rules.frozen_after else (False if run == 1 else None),
                                 f"the same frame in {run} consecutive snapshots")
    baseline = median(state.sharpness_history) if len(state.sharpness_history) >= rules.warmup else None
    blurred: bool | None = None
    if baseline is not None and baseline > 0:
        ratio = snap.sharpness / baseline
        blurred = True if ratio < rules.blur_ratio else (False if ratio >= rules.blur_clear_ratio else None)
        verdicts["out_of_focus_or_covered"] = Verdict(
            blurred, f"sharpness {snap.sharpness:.0f} against a baseline of {baseline:.0f}")
    else:
        verdicts["out_of_focus_or_covered"] = Verdict(None)
    reference = reference_view(state) if len(state.reference_views) >= rules.warmup else None
    if reference is None or blurred:  # a covered lens changes the picture without the camera moving
        verdicts["moved"] = Verdict(None)
    else:
        bits = hamming(snap.phash, reference)
        moved = True if bits > rules.moved_bits else (False if bits <= rules.moved_clear_bits else None)
        verdicts["moved"] = Verdict(moved, f"view differs from the reference by {bits}/64 hash bits")
    return verdicts


def _streaks(state: KindState, verdict: Verdict) -> KindState:
    if verdict.bad is True:
        return state.model_copy(update={"bad_streak": state.bad_streak + 1, "good_streak": 0})
    if verdict.bad is False:
        return state.model_copy(update={"bad_streak": 0, "good_streak": state.good_streak + 1})
    return state


def _raise_after(kind: Kind, rules: HealthRules) -> int:
    return 1 if kind == "frozen" else rules.raise_after  # frozen_after already is its hysteresis


def decide(state: CameraImageHealth, snapshot: Snapshot,
           rules: HealthRules = DEFAULT_RULES) -> list[HealthEvent]:
    if isinstance(snapshot, CameraSnapshotFailed) or stale(state, snapshot):
        return []
    events: list[HealthEvent] = []
    for kind, verdict in observe(state, snapshot, rules).items():
        current = state.kinds[kind]
        after = _streaks(current, verdict)
        if not current.degraded and after.bad_streak >= _raise_after(kind, rules):
            events.append(CameraImageDegraded(camera_id=state.camera_id, kind=kind, at=snapshot.taken_at,
                                              detail=verdict.detail[:300]))
        elif current.degraded and after.good_streak >= rules.clear_after:
            events.append(CameraImageRecovered(camera_id=state.camera_id, kind=kind, at=snapshot.taken_at))
    return events


def evolve(state: CameraImageHealth, item: Snapshot | HealthEvent,
           rules: HealthRules = DEFAULT_RULES) -> CameraImageHealth:
    if isinstance(item, CameraImageDegraded | CameraImageRecovered):
        degraded = isinstance(item, CameraImageDegraded)
        kind_state = state.kinds[item.kind].model_copy(update={"degraded": degraded})
        return state.model_copy(update={"kinds": {**state.kinds, item.kind: kind_state}})
    if stale(state, item):
        return state
    if isinstance(item, CameraSnapshotFailed):
        return state.model_copy(update={"identical_run": 0, "last_phash": None, "last_luma_grid": None,
                                        "last_at": item.at})
    verdicts = observe(state, item, rules)
    kinds = {kind: _streaks(state.kinds[kind], verdicts[kind]) for kind in HEALTH_KINDS}
    update: dict[str, object] = {"kinds": kinds, "last_phash": item.phash, "last_luma_grid": item.luma_grid,
                                 "identical_run": _identical_run(state, item, rules), "last_at": item.taken_at}
    healthy = not state.degraded() and not any(verdict.bad for verdict in verdicts.values())
    if healthy:
        update["sharpness_history"] = (state.sharpness_history + (item.sharpness,))[-rules.baseline_window:]
        reference = reference_view(state)
        if reference is None or len(state.reference_views) < rules.warmup or \
                hamming(item.phash, reference) <= rules.moved_clear_bits:
            update["reference_views"] = (state.reference_views + (item.phash,))[-rules.baseline_window:]
    return state.model_copy(update=update)


def step(state: CameraImageHealth, snapshot: Snapshot,
         rules: HealthRules = DEFAULT_RULES) -> tuple[CameraImageHealth, list[HealthEvent]]:
    """decide, then evolve by the snapshot and by each event: what an agent does per snapshot."""
    events = decide(state, snapshot, rules)
    state = evolve(state, snapshot, rules)
    for event in events:
        state = evolve(state, event, rules)
    return state, events
