"""What camera image health keeps per camera and the rules it judges by (one rule set for every camera: each camera is
judged against its own learned baseline, not a tuned number). All JSON-serialisable: the state lives in a Faust
table."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from schemas.images.health import HEALTH_KINDS, HealthKind


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class HealthRules(_Frozen):
    raise_after: int = Field(default=3, ge=1, description="consecutive bad snapshots before Degraded")
    clear_after: int = Field(default=3, ge=1, description="consecutive good snapshots before Recovered")
    black_brightness: float = 0.06  # mean luma below this: black (lens cap, dead sensor, night without IR)
    blank_contrast: float = 0.015  # luma spread below this: a uniform frame (grey/blue "no signal", fog, paint)
    frozen_after: int = Field(default=5, ge=2, description="identical consecutive snapshots that make 'frozen'")
    # "The same frame" = perceptual hashes at most this many bits apart (re-encoding can flip a bit that sits at the
    # median) AND no block of the luma grid changed by more than this many levels. Re-encoding and sensor noise
    # stay below it; a camera's burnt-in clock or any motion goes above. A perfectly still scene with no clock
    # overlay cannot be told from a frozen stream by snapshots.
    frozen_max_hash_bits: int = Field(default=2, ge=0, le=64)
    frozen_max_block_change: int = Field(default=4, ge=0, le=255)
    warmup: int = Field(default=5, ge=1, description="healthy snapshots learned before focus and view are judged")
    baseline_window: int = Field(default=30, ge=3)
    blur_ratio: float = 0.2  # sharpness below 20% of the camera's median: out of focus or covered
    blur_clear_ratio: float = 0.4  # back above 40%: recovered (between the two the streaks hold)
    # Of 64 perceptual-hash bits differing from the reference view. Measured on 640x480 scenes: a 16 px shake moves
    # about 6 bits, a 6% pan about 16, a 12% pan 26, an unrelated view 18-40 (32 on average).
    moved_bits: int = 18
    moved_clear_bits: int = 10


class KindState(_Frozen):
    degraded: bool = False
    bad_streak: int = 0
    good_streak: int = 0


class CameraImageHealth(_Frozen):
    camera_id: str
    kinds: dict[HealthKind, KindState] = Field(default_factory=lambda: {kind: KindState() for kind in HEALTH_KINDS})
    last_at: datetime | None = None  # of the newest snapshot (or failure) applied: an older one changes nothing
    last_phash: str | None = None
    last_luma_grid: str | None = None
    identical_run: int = 0  # snapshots in a row showing the same frame, this one included
    sharpness_history: tuple[float, ...] = ()  # sharpness of recent healthy snapshots, newest last
    reference_views: tuple[str, ...] = ()  # perceptual hashes of recent healthy snapshots near the reference

    def degraded(self) -> set[HealthKind]:
        return {kind for kind, state in self.kinds.items() if state.degraded}
