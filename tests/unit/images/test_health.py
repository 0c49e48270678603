"""Camera image health, pure: sequences of snapshots in, Degraded/Recovered out, with hysteresis."""

from __future__ import annotations

import base64
import json
import random
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from itertools import count

from processors.images.health import HealthEvent, decide, evolve, new_camera, step
from processors.images.health_model import CameraImageHealth
from schemas.images.health import (
    CameraImageDegraded,
    CameraImageRecovered,
    CameraSnapshotAnalysed,
    CameraSnapshotFailed,
)

START = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
SCENE = "c3a1f0e2d4b59687"
_frame = count()
STILL = base64.b64encode(bytes(range(100, 100 + 24 * 18 // 4)) * 4).decode()


def live_grid(number: int) -> str:
    """A scene with a clock overlay: most blocks as before, a few (the clock) changed a lot."""
    blocks = bytearray(base64.b64decode(STILL))
    blocks[random.Random(number).randrange(len(blocks))] ^= 0x80
    return base64.b64encode(bytes(blocks)).decode()


def snap(phash: str = SCENE, brightness: float = 0.45, contrast: float = 0.2, sharpness: float = 900.0,
         grid: str | None = None) -> CameraSnapshotAnalysed:
    number = next(_frame)
    return CameraSnapshotAnalysed(camera_id="cam-1", image_id=uuid.uuid4(), taken_at=START + timedelta(minutes=number),
                                  phash=phash, luma_grid=grid or live_grid(number), brightness=brightness,
                                  contrast=contrast, sharpness=sharpness)


def run(snapshots: Iterable[CameraSnapshotAnalysed | CameraSnapshotFailed],
        state: CameraImageHealth | None = None) -> tuple[CameraImageHealth, list[HealthEvent]]:
    """Frames in the order given, each stamped after the state's last one (lists are built before `learned()`)."""
    state = state or new_camera("cam-1")
    events: list[HealthEvent] = []
    for snapshot in snapshots:
        if state.last_at is not None:
            later = state.last_at + timedelta(seconds=30)
            snapshot = (snapshot.model_copy(update={"at": later}) if isinstance(snapshot, CameraSnapshotFailed)
                        else snapshot.model_copy(update={"taken_at": later}))
        state, new = step(state, snapshot)
        events += new
    return state, events


def kinds(events: list[HealthEvent]) -> list[tuple[str, str]]:
    return [(type(event).__name__.removeprefix("CameraImage"), event.kind) for event in events]


def learned() -> CameraImageHealth:
    state, events = run(snap() for _ in range(8))
    assert events == []
    return state


def flip(phash: str, bits: int) -> str:
    return f"{int(phash, 16) ^ ((1 << bits) - 1):016x}"


def test_a_healthy_live_camera_raises_nothing() -> None:
    state, events = run([snap(phash=flip(SCENE, n % 3), sharpness=850 + n * 10) for n in range(30)])
    assert events == [] and state.degraded() == set()


def test_black_is_raised_after_three_frames_and_cleared_after_three_good_ones() -> None:
    state, events = run([snap(brightness=0.01, contrast=0.004) for _ in range(2)], learned())
    assert events == []  # two dark frames: a passing shadow, not yet a fact
    state, events = run([snap(brightness=0.01, contrast=0.004)], state)
    assert kinds(events) == [("Degraded", "black_or_blank")]
    assert isinstance(events[0], CameraImageDegraded) and "brightness 0.010" in events[0].detail
    state, events = run([snap(), snap()], state)
    assert events == []
    _, events = run([snap()], state)
    assert kinds(events) == [("Recovered", "black_or_blank")]


def test_a_uniform_grey_frame_is_blank() -> None:
    _, events = run([snap(brightness=0.5, contrast=0.003) for _ in range(3)], learned())
    assert kinds(events) == [("Degraded", "black_or_blank")]


def test_alternating_good_and_bad_frames_do_not_flap() -> None:
    _, events = run([snap(brightness=0.01, contrast=0.004) if n % 2 else snap() for n in range(40)], learned())
    assert events == []


def test_the_same_frame_five_times_is_frozen_but_a_static_scene_with_live_noise_is_not() -> None:
    state = learned()
    _, events = run([snap(grid=STILL) for _ in range(20)], state)  # every snapshot above had its own noise
    assert kinds(events) == [("Degraded", "frozen")]
    _, events = run([snap(grid=STILL) for _ in range(4)], state)
    assert events == []
    state, events = run([snap(grid=STILL) for _ in range(5)] + [snap() for _ in range(3)], state)
    assert kinds(events) == [("Degraded", "frozen"), ("Recovered", "frozen")]


def test_a_failed_grab_breaks_a_frozen_run() -> None:
    before = [snap(grid=STILL) for _ in range(3)]
    failure = CameraSnapshotFailed(camera_id="cam-1", at=before[-1].taken_at + timedelta(seconds=1), error="timeout")
    _, events = run([*before, failure, *(snap(grid=STILL) for _ in range(3))], learned())
    assert events == []


def test_a_snapshot_no_newer_than_the_last_one_changes_nothing() -> None:
    state = learned()
    dark = [snap(brightness=0.01, contrast=0.004) for _ in range(3)]
    late = dark[0].model_copy(update={"taken_at": START - timedelta(days=1)})
    for frame in dark[:2]:
        state, _ = step(state, frame)
    assert decide(state, dark[1]) == [] and evolve(state, dark[1]) == state  # a redelivery
    assert decide(state, late) == [] and evolve(state, late) == state  # overtaken by newer frames


def test_blur_is_judged_against_the_cameras_own_baseline() -> None:
    state, events = run([snap(sharpness=100.0) for _ in range(3)], learned())  # 100 against a 900 baseline
    assert kinds(events) == [("Degraded", "out_of_focus_or_covered")]
    assert "baseline of 900" in events[0].detail  # type: ignore[union-attr]
    _, events = run([snap(sharpness=300.0) for _ in range(10)], state)  # between the two thresholds: holds
    assert events == []
    _, events = run([snap(sharpness=800.0) for _ in range(3)], state)
    assert kinds(events) == [("Recovered", "out_of_focus_or_covered")]
    soft_camera, events = run(snap(sharpness=60.0) for _ in range(12))  # a soft camera is soft from the start
    assert events == [] and soft_camera.degraded() == set()


def test_a_camera_pointing_elsewhere_is_moved_until_it_points_back() -> None:
    elsewhere = flip(SCENE, 32)
    state, events = run([snap(phash=elsewhere) for _ in range(3)], learned())
    assert kinds(events) == [("Degraded", "moved")]
    _, events = run([snap() for _ in range(3)], state)
    assert kinds(events) == [("Recovered", "moved")]


def test_nothing_but_black_is_judged_on_a_black_frame() -> None:
    state, events = run([snap(phash="0" * 16, brightness=0.0, contrast=0.0, sharpness=0.0, grid=STILL)
                         for _ in range(10)], learned())
    assert kinds(events) == [("Degraded", "black_or_blank")]
    assert state.sharpness_history == learned().sharpness_history  # dark frames taught the baseline nothing


def test_state_is_json_and_back() -> None:
    state, _ = run([snap(brightness=0.01, contrast=0.004) for _ in range(3)], learned())
    text = json.dumps(state.model_dump(mode="json"))
    assert CameraImageHealth.model_validate(json.loads(text)) == state
    assert len(text) < 4_000


def test_events_are_json() -> None:
    _, events = run([snap(brightness=0.01, contrast=0.004) for _ in range(3)], learned())
    event = events[0]
    assert CameraImageDegraded.model_validate_json(event.model_dump_json()) == event
    recovered = CameraImageRecovered(camera_id="cam-1", kind="frozen", at=START)
    assert CameraImageRecovered.model_validate_json(recovered.model_dump_json()) == recovered


def test_a_frozen_stream_is_frozen_even_when_re_encoding_flips_a_hash_bit() -> None:
    _, events = run([snap(phash=flip(SCENE, n % 2), grid=STILL) for n in range(5)], learned())
    assert kinds(events) == [("Degraded", "frozen")]
