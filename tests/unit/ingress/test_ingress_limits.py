"""Limit lines: parsing the configured spec, picking the line for a reading, and deciding the verdict."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from infra.settings import Settings
from processors.ingress.machine import LimitLine, decide, limit_for, parse_limits
from schemas.catalog import REGISTRY
from schemas.envelope import Envelope, Payload
from schemas.ingress.events import (
    IngressLimitExceeded,
    IngressReadingCorrected,
    IngressReadingRetracted,
    IngressReadingSubmitted,
)
from tests.helpers.factories import reading

SOURCE = "processors.ingress"
LINES = parse_limits("5-15:-10,15-42:-20,N1@15-42:-25")


def evaluate(event: Envelope, lines: tuple[LimitLine, ...], source: str) -> Envelope | None:
    """decide()'s verdict on one reading: at most one IngressLimitExceeded."""
    found = decide(lines, event, source)
    assert len(found) <= 1
    return found[0] if found else None


def event_of(data: Payload, **meta: Any) -> Envelope:
    return REGISTRY.event(data, source="api.ingress", subject=str(uuid.uuid4()), **meta)


def submitted(**reading_overrides: Any) -> Envelope:
    data = IngressReadingSubmitted(reading_id=uuid.uuid4(), reading=reading(**reading_overrides))
    return event_of(data, actor="m.chen", correlation_id=f"req-{uuid.uuid4().hex[:8]}")


def test_parse_limits_reads_general_and_node_lines() -> None:
    assert parse_limits("5-15:-10,N1@15-42:-25") == (
        LimitLine(5.0, 15.0, -10.0),
        LimitLine(15.0, 42.0, -25.0, node_id="N1"),
    )


def test_parse_limits_tolerates_spaces_empty_parts_and_node_ids_with_dashes_and_colons() -> None:
    assert parse_limits(" 5.5-15.25:-10.5 , ,hub-3:n7@15-42:-25,") == (
        LimitLine(5.5, 15.25, -10.5),
        LimitLine(15.0, 42.0, -25.0, node_id="hub-3:n7"),
    )


def test_a_limit_line_label_reads_like_the_spec() -> None:
    assert [ln.label for ln in parse_limits("5-15:-10,N1@15-42:-25.5")] == ["5-15:-10", "N1@15-42:-25.5"]


def test_an_empty_spec_means_no_limits() -> None:
    assert parse_limits("") == ()


@pytest.mark.parametrize("spec", ["5-15", "5:15", "15:-10", "abc", "5-15:", "five-15:-10", "5-15:-ten",
                                  "5-15:-10,junk", "N1@5-15"])
def test_parse_limits_rejects_malformed_lines(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_limits(spec)


@pytest.mark.parametrize("spec", ["15-5:-10", "15-15:-10", "N1@42-15:-25"])
def test_parse_limits_rejects_a_band_whose_start_is_not_below_its_end(spec: str) -> None:
    with pytest.raises(ValueError, match="start must be below end"):
        parse_limits(spec)


@pytest.mark.parametrize("spec", ["5-15:nan", "5-inf:-10", "5-15:-inf"])
def test_parse_limits_rejects_non_finite_numbers(spec: str) -> None:
    # a NaN or infinite limit flags every reading in the band with a verdict whose numbers encode as JSON null,
    # so the verdict cannot be decoded again; an infinite band swallows every frequency above its start
    with pytest.raises(ValueError):
        parse_limits(spec)


def test_the_default_limits_in_settings_parse_and_cover_the_whole_upstream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPSLEDGER_INGRESS_LIMITS", raising=False)
    lines = parse_limits(Settings().ingress_limits)

    assert lines
    assert all(ln.node_id is None for ln in lines)
    assert min(ln.start_mhz for ln in lines) == 5
    assert max(ln.end_mhz for ln in lines) == 204


def test_limit_for_picks_the_strictest_overlapping_general_line() -> None:
    straddling = reading(node_id="N2", freq_start_mhz=12.0, freq_end_mhz=18.0)
    assert limit_for(straddling, LINES) == LimitLine(15.0, 42.0, -20.0)


def test_limit_for_uses_the_one_line_a_band_falls_in() -> None:
    assert limit_for(reading(node_id="N2", freq_start_mhz=6.0, freq_end_mhz=9.0), LINES) == LimitLine(5, 15, -10)


def test_a_band_that_only_touches_a_line_edge_does_not_overlap_it() -> None:
    assert limit_for(reading(node_id="N2", freq_start_mhz=15.0, freq_end_mhz=20.0), LINES) == LimitLine(15, 42, -20)


def test_a_node_line_replaces_the_general_lines_for_that_node() -> None:
    assert limit_for(reading(node_id="N1", freq_start_mhz=12.0, freq_end_mhz=18.0), LINES) == LimitLine(
        15.0, 42.0, -25.0, node_id="N1")


def test_a_node_line_does_not_apply_to_other_nodes() -> None:
    lines = parse_limits("5-42:-20,N1@5-42:-40")
    assert limit_for(reading(node_id="N10", freq_start_mhz=20.0, freq_end_mhz=21.0), lines) == LimitLine(5, 42, -20)


def test_a_more_lenient_node_line_still_replaces_the_general_one() -> None:
    lines = parse_limits("5-42:-20,N1@5-42:-5")
    assert limit_for(reading(node_id="N1", freq_start_mhz=20.0, freq_end_mhz=21.0), lines) == LimitLine(
        5, 42, -5, node_id="N1")


def test_no_overlapping_line_means_no_limit() -> None:
    high = reading(node_id="N1", split_plan="high", freq_start_mhz=100.0, freq_end_mhz=120.0)
    assert limit_for(high, LINES) is None


def test_evaluate_flags_a_reading_above_its_limit() -> None:
    event = submitted(node_id="N2", level_dbmv=-12.5, freq_start_mhz=26.9, freq_end_mhz=27.4)

    verdict = evaluate(event, LINES, SOURCE)

    assert verdict is not None
    assert verdict.type == "IngressLimitExceeded"
    assert verdict.source == SOURCE
    assert verdict.subject == event.subject
    assert verdict.actor == event.actor
    assert verdict.correlation_id == event.correlation_id
    assert verdict.causation_id == event.event_id
    assert verdict.occurred_at == event.occurred_at
    assert REGISTRY.topic_of(verdict) == "ingress.evaluations"
    assert isinstance(event.data, IngressReadingSubmitted)
    assert verdict.data == IngressLimitExceeded(
        reading_id=event.data.reading_id, version=1, node_id="N2", level_dbmv=-12.5, limit_dbmv=-20.0,
        exceeded_by_db=7.5, limit_rule="15-42:-20",
    )


def test_exceeded_by_is_rounded_to_a_thousandth_of_a_db() -> None:
    verdict = evaluate(submitted(node_id="N2", level_dbmv=-9.9, freq_start_mhz=6.0, freq_end_mhz=7.0), LINES, SOURCE)
    assert verdict is not None
    assert isinstance(verdict.data, IngressLimitExceeded)
    assert verdict.data.exceeded_by_db == 0.1


def test_evaluate_uses_the_node_line_for_its_node() -> None:
    verdict = evaluate(submitted(node_id="N1", level_dbmv=-22.0), LINES, SOURCE)
    assert verdict is not None
    assert isinstance(verdict.data, IngressLimitExceeded)
    assert (verdict.data.limit_dbmv, verdict.data.exceeded_by_db, verdict.data.limit_rule) == (-25.0, 3.0,
                                                                                               "N1@15-42:-25")


@pytest.mark.parametrize("level", [-20.0, -20.5, -60.0])
def test_a_reading_at_or_below_the_limit_is_not_exceeded(level: float) -> None:
    assert evaluate(submitted(node_id="N2", level_dbmv=level), LINES, SOURCE) is None


def test_a_reading_with_no_limit_line_is_not_exceeded() -> None:
    event = submitted(split_plan="mid", freq_start_mhz=50.0, freq_end_mhz=60.0, level_dbmv=40.0)
    assert evaluate(event, LINES, SOURCE) is None


def test_evaluating_the_same_event_twice_gives_the_same_event_id() -> None:
    event = submitted(node_id="N2", level_dbmv=0.0)
    first, again = evaluate(event, LINES, SOURCE), evaluate(event, LINES, SOURCE)
    assert first is not None and again is not None
    assert first.event_id == again.event_id
    # recorded_at is when this delivery was processed; everything else is the same event
    first_body, again_body = first.wire_dict(), again.wire_dict()
    del first_body["recorded_at"], again_body["recorded_at"]
    assert first_body == again_body


def test_different_inputs_give_different_event_ids() -> None:
    one = evaluate(submitted(node_id="N2", level_dbmv=0.0), LINES, SOURCE)
    two = evaluate(submitted(node_id="N2", level_dbmv=0.0), LINES, SOURCE)
    assert one is not None and two is not None
    assert one.event_id != two.event_id


def test_a_correction_above_the_limit_is_flagged_with_its_version() -> None:
    reading_id = uuid.uuid4()
    event = event_of(IngressReadingCorrected(reading_id=reading_id, version=3,
                                             reading=reading(node_id="N2", level_dbmv=-1.0)))

    verdict = evaluate(event, LINES, SOURCE)

    assert verdict is not None
    assert isinstance(verdict.data, IngressLimitExceeded)
    assert (verdict.data.reading_id, verdict.data.version) == (reading_id, 3)
    assert verdict.correlation_id is None


def test_a_retraction_is_never_flagged() -> None:
    event = event_of(IngressReadingRetracted(reading_id=uuid.uuid4(), version=2, reason="duplicate"))
    assert evaluate(event, LINES, SOURCE) is None


def test_a_verdict_is_not_evaluated_again() -> None:
    verdict = evaluate(submitted(node_id="N2", level_dbmv=0.0), LINES, SOURCE)
    assert verdict is not None
    assert evaluate(verdict, LINES, SOURCE) is None
