"""The living demo's readings: each is one the API accepts, and a noisy one is always over its band's default limit
line, so the demo's ingress rule fires with its first noisy reading (the living-demo test once waited 240 s for an
alert while twelve random readings all stayed under the line)."""

from __future__ import annotations

import random

from api.routes.ingress.readings import IngressReadingIn
from infra.entry.demo.living import reading
from infra.settings import Settings
from processors.ingress.machine import limit_for, parse_limits
from schemas.ingress.events import IngressReading

LINES = parse_limits(Settings.model_fields["ingress_limits"].default)


def judged(body: dict[str, object]) -> tuple[float, float]:
    submitted = IngressReadingIn.model_validate(body)
    accepted = IngressReading.model_validate({**submitted.model_dump(), "technician": "ana.worker"})
    line = limit_for(accepted, LINES)
    assert line is not None
    return accepted.level_dbmv, line.limit_dbmv


def test_a_noisy_reading_is_always_over_its_limit() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        level, limit = judged(reading(rng, noisy=True))
        assert level > limit + 3


def test_quiet_readings_are_accepted_and_mostly_under_the_line() -> None:
    rng = random.Random(11)
    over = sum(level > limit for level, limit in (judged(reading(rng, noisy=False)) for _ in range(2000)))
    assert over < 2000 * 0.2
