"""Figures stored in `real` columns: PostgreSQL refuses a float4 out of range both ways, where float32 would round."""
import pytest

from projections.analytics.rows import real


@pytest.mark.parametrize(("value", "stored"), [
    (None, None), (0.0, 0.0), (1.5, 1.5), (-2.5e30, -2.5e30),
    (2.0658041885377023e-125, 0.0), (-1e-40, 0.0),  # too small for a real: zero, not a refused batch
    (1e39, None), (-1e39, None), (float("inf"), None), (float("nan"), None),
])
def test_a_figure_is_what_a_real_column_takes(value: float | None, stored: float | None) -> None:
    assert real(value) == stored
