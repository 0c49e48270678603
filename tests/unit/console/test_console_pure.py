"""The console's pure parts: where a sign-in may send you back to, the CSRF token, the topology layout, the ingress
node ranking, the demo's daily counters, and that every page names the rule of a real API route."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from api.console.pages.devices import layout
from api.console.pages.ingress import rank
from api.console.signin import safe_next
from api.identity.rules import CONSOLE_RULES, RULES
from api.identity.session import csrf_token
from infra.bench.snmpdata.variation.daily import counter_at


def test_only_paths_on_this_site_are_followed_after_sign_in() -> None:
    assert safe_next("/alerts?state=firing") == "/alerts?state=firing"
    for bad in (None, "", "https://evil.example/", "//evil.example", "/\\evil.example", "alerts"):
        assert safe_next(bad) == "/"


def test_the_csrf_token_depends_on_the_nonce_and_the_secret() -> None:
    one = SimpleNamespace(jwt_secret=SecretStr("a" * 40))
    other = SimpleNamespace(jwt_secret=SecretStr("b" * 40))
    assert csrf_token(one, "n1") == csrf_token(one, "n1")  # type: ignore[arg-type]
    assert csrf_token(one, "n1") != csrf_token(one, "n2")  # type: ignore[arg-type]
    assert csrf_token(one, "n1") != csrf_token(other, "n1")  # type: ignore[arg-type]


def test_every_console_page_follows_a_rule_of_the_table() -> None:
    for (method, path), rule in CONSOLE_RULES.items():
        assert rule.public or rule.page, (method, path)
        assert rule.scope is None  # no API key opens a page
    assert set(RULES).isdisjoint(CONSOLE_RULES)


def test_the_topology_layout_places_every_node_and_keeps_only_edges_between_them() -> None:
    graph = {"nodes": [{"id": f"n{i}", "name": f"n{i}", "registered": True} for i in range(5)],
             "edges": [{"from": "n0", "to": "n1", "confirmed": True}, {"from": "n0", "to": "gone", "confirmed": False}]}
    placed = layout(graph, size=600)
    assert len(placed["nodes"]) == 5 and len(placed["edges"]) == 1
    assert all(0 <= n["x"] <= 600 and 0 <= n["y"] <= 600 for n in placed["nodes"])
    assert len({(n["x"], n["y"]) for n in placed["nodes"]}) == 5


def test_nodes_rank_by_readings_over_their_limit() -> None:
    now = datetime.now(UTC).isoformat()
    verdict = {"limit_dbmv": 0, "exceeded_by_db": 3, "limit_rule": "x"}
    items = [{"node_id": "A", "level_dbmv": -20, "limit_exceeded": None, "submitted_at": now},
             {"node_id": "B", "level_dbmv": 5, "limit_exceeded": verdict, "submitted_at": now},
             {"node_id": "B", "level_dbmv": 2, "limit_exceeded": verdict, "submitted_at": now}]
    ranking, trend = rank(items)
    assert [n["node_id"] for n in ranking] == ["B", "A"] and ranking[0]["exceeded"] == 2
    assert trend is not None and trend["series"] == ["B"] and trend["columns"][1][-1] == 2


SETTINGS = {"base": 2e6, "depth": 0.8, "peak_hour": 14, "spike_every": 600, "spike_for": 90, "spike_x": 12,
            "max": 2.0**64}


@given(st.floats(min_value=1.6e9, max_value=2.2e9), st.floats(min_value=0.001, max_value=3600))
def test_a_daily_counter_only_grows(t: float, later: float) -> None:
    assert counter_at(t + later, SETTINGS) >= counter_at(t, SETTINGS)


def test_a_daily_counter_is_busiest_at_its_peak_hour_and_spikes() -> None:
    day = datetime(2026, 6, 1, tzinfo=UTC)
    calm = {**SETTINGS, "spike_every": 0}

    def rate(at: datetime, settings: dict[str, float]) -> float:
        t = at.timestamp()
        return counter_at(t + 10, settings) - counter_at(t, settings)

    assert rate(day + timedelta(hours=14), calm) > 5 * rate(day + timedelta(hours=2), calm)
    spiking = day + timedelta(hours=2, seconds=30)  # 02:00:30 is inside a spike (every 600 s, for 90 s)
    assert rate(spiking, SETTINGS) > 10 * rate(spiking, calm)
