"""What a technician may record for an ingress reading, and what is refused with a reason."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from schemas.ingress.events import IngressReading
from tests.helpers.factories import reading_body


def refused(**overrides: Any) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        IngressReading.model_validate(reading_body(**overrides))
    return caught.value


def refused_fields(**overrides: Any) -> set[str]:
    return {str(err["loc"][0]) for err in refused(**overrides).errors() if err["loc"]}


def test_a_valid_reading_is_accepted() -> None:
    body = reading_body(attachments=["0" * 64, "ab" * 32])
    accepted = IngressReading.model_validate(body)
    assert accepted.node_id == body["node_id"]
    assert accepted.attachments == ("0" * 64, "ab" * 32)


def test_a_high_split_reading_across_the_whole_upstream_is_accepted() -> None:
    accepted = IngressReading.model_validate(reading_body(split_plan="high", freq_start_mhz=5, freq_end_mhz=204))
    assert (accepted.freq_start_mhz, accepted.freq_end_mhz) == (5.0, 204.0)


@pytest.mark.parametrize(("split", "upper"), [("sub", 42), ("mid", 85), ("high", 204)])
def test_a_band_may_end_exactly_at_the_split_upper_edge(split: str, upper: float) -> None:
    IngressReading.model_validate(reading_body(split_plan=split, freq_start_mhz=upper - 1, freq_end_mhz=upper))


@pytest.mark.parametrize(("split", "upper"), [("sub", 42), ("mid", 85)])
def test_a_band_ending_above_the_split_upper_edge_is_refused(split: str, upper: float) -> None:
    error = refused(split_plan=split, freq_start_mhz=upper - 1, freq_end_mhz=upper + 0.5)
    assert f"a {split}-split upstream ends at {upper:g} MHz" in str(error)


def test_a_high_split_band_ending_above_204_mhz_is_refused() -> None:
    assert "freq_end_mhz" in refused_fields(split_plan="high", freq_start_mhz=200, freq_end_mhz=204.5)


@pytest.mark.parametrize(("start", "end"), [(27.4, 27.4), (30.0, 27.4)])
def test_a_band_whose_start_is_not_below_its_end_is_refused(start: float, end: float) -> None:
    error = refused(freq_start_mhz=start, freq_end_mhz=end)
    assert "freq_end_mhz must be above freq_start_mhz" in str(error)


@pytest.mark.parametrize("level", [-100, 0, 100, -25.5])
def test_levels_within_plus_minus_100_dbmv_are_accepted(level: float) -> None:
    assert IngressReading.model_validate(reading_body(level_dbmv=level)).level_dbmv == level


@pytest.mark.parametrize("level", [-100.1, 100.1, 1000, float("nan"), float("inf"), "loud"])
def test_levels_outside_plus_minus_100_dbmv_are_refused(level: Any) -> None:
    assert refused_fields(level_dbmv=level) == {"level_dbmv"}


@pytest.mark.parametrize(
    ("field", "value"),
    [("freq_start_mhz", 4.9), ("freq_start_mhz", 0), ("freq_start_mhz", -10),
     ("freq_end_mhz", 204.1), ("freq_end_mhz", 1000), ("freq_end_mhz", float("nan"))],
)
def test_frequencies_outside_5_to_204_mhz_are_refused(field: str, value: float) -> None:
    assert field in refused_fields(split_plan="high", **{field: value})


@pytest.mark.parametrize("test_point", ["splitter", "", "TAP", None])
def test_an_unknown_test_point_is_refused(test_point: Any) -> None:
    assert refused_fields(test_point=test_point) == {"test_point"}


def test_an_unknown_split_plan_is_refused() -> None:
    assert "split_plan" in refused_fields(split_plan="ultra")


@pytest.mark.parametrize("test_point", ["ground_block", "tap", "node", "headend"])
def test_every_known_test_point_is_accepted(test_point: str) -> None:
    assert IngressReading.model_validate(reading_body(test_point=test_point)).test_point == test_point


@pytest.mark.parametrize(
    "node_id",
    ["", "-N1", ".N1", "N 1", "N1/2", "N1@hub", "N1,N2", "N" * 65, "N1\n", "Ñ1"],
    ids=["empty", "leading-dash", "leading-dot", "space", "slash", "at", "comma", "65-chars", "newline",
         "non-ascii"],
)
def test_a_bad_node_id_is_refused(node_id: str) -> None:
    assert refused_fields(node_id=node_id) == {"node_id"}


@pytest.mark.parametrize("node_id", ["N1", "hub-3:n7", "a.b_c", "N" * 64])
def test_good_node_ids_are_accepted(node_id: str) -> None:
    assert IngressReading.model_validate(reading_body(node_id=node_id)).node_id == node_id


@pytest.mark.parametrize(
    "attachment",
    ["AB" * 32, "ab" * 31 + "a", "ab" * 32 + "a", "g" * 64, "", "../" + "a" * 61],
    ids=["uppercase", "63-chars", "65-chars", "not-hex", "empty", "path"],
)
def test_a_bad_sha256_attachment_is_refused(attachment: str) -> None:
    assert refused_fields(attachments=["ab" * 32, attachment]) == {"attachments"}


def test_more_than_20_attachments_are_refused() -> None:
    assert refused_fields(attachments=["ab" * 32] * 21) == {"attachments"}


def test_an_unknown_field_is_refused() -> None:
    errors = refused(signal_quality="good").errors()
    assert [(e["type"], e["loc"]) for e in errors] == [("extra_forbidden", ("signal_quality",))]


@pytest.mark.parametrize("field", ["customer_name", "address", "node_id", "level_dbmv", "split_plan",
                                   "test_point", "home_connected", "install_phase", "technician"])
def test_a_missing_required_field_is_refused(field: str) -> None:
    body = reading_body()
    del body[field]
    with pytest.raises(ValidationError) as caught:
        IngressReading.model_validate(body)
    assert {e["loc"] for e in caught.value.errors()} == {(field,)}
