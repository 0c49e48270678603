"""The operator console in real headless Chromium against the real stack: every role signs in through the form and
walks its pages (no console error, no serious accessibility violation, a screenshot each), the main journeys work
end to end and live, a viewer is shown no action and refused one anyway, and /docs renders with the network cut off.
The overview's first contentful paint and the time to its first live update are measured here (BENCHMARKS.md)."""

from __future__ import annotations

import json
import secrets
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser

from infra.bench.snmpsim import Agent, running_agent
from tests.helpers.browser import ARTIFACTS, Watched, chromium, signed_in, watch
from tests.helpers.support import Stack, bearer, wait_until

ROLES = ("admin", "operator", "worker", "viewer")


def record(name: str, value: float) -> None:
    """The figures BENCHMARKS.md quotes, written beside the screenshots (a measurement, not a timed assertion)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "figures.json"
    figures = json.loads(path.read_text()) if path.exists() else {}
    figures[name] = value
    path.write_text(json.dumps(figures, indent=1))
    print(f"{name} = {value}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as running:
        yield running


@pytest.fixture(scope="module")
def people(stack: Stack) -> dict[str, tuple[str, str]]:
    """One user per role, created by the admin through the API: (username, password)."""
    made = {}
    for role in ROLES:
        username, password = f"console-{role}-{secrets.token_hex(3)}", secrets.token_urlsafe(16)
        answer = httpx.post(f"{stack.api_url}/api/auth/users", headers=bearer(stack.admin_token), timeout=15,
                            json={"username": username, "password": password, "role": role})
        assert answer.status_code == 201, answer.text
        made[role] = (username, password)
    return made


@pytest.fixture(scope="module")
def switch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    with running_agent({"console-sw": "switch48"}, workdir=tmp_path_factory.mktemp("snmpsim-console"),
                       log_level="error") as agent:
        yield agent


def raise_alert(api: httpx.Client, summary: str) -> dict[str, Any]:
    made = api.post("/api/alerts/", params={"wait": "true"},
                    json={"subject": f"console-{secrets.token_hex(4)}", "severity": "critical", "summary": summary})
    assert made.status_code == 201, made.text
    return dict(made.json())


def figure(page: Watched, name: str) -> int:
    return int(page.page.inner_text(f"[data-figure='{name}'] strong"))


def nav_paths(page: Watched) -> list[str]:
    return list(page.page.eval_on_selector_all("nav.menu a", "links => links.map(a => a.getAttribute('href'))"))


@pytest.mark.parametrize("role", ROLES)
def test_every_page_of_every_role_renders_clean_and_accessible(stack: Stack, browser: Browser, role: str,
                                                                people: dict[str, tuple[str, str]]) -> None:
    context, page = signed_in(browser, stack.api_url, *people[role], phone=role == "worker")
    try:
        paths = nav_paths(page)
        assert "/" in paths
        assert ("/admin" in paths) == (role == "admin")
        assert ("/events" in paths) == (role != "worker")  # the API's rule for /api/events
        assert ("/cylinders/scan" in paths) == (role != "viewer")
        problems: dict[str, Any] = {}
        for path in paths:
            page.goto(path)
            page.page.wait_for_load_state("networkidle")
            name = f"{role}_{path.strip('/').replace('/', '_') or 'overview'}"
            page.screenshot(name)
            serious = page.axe_violations()
            if serious:
                problems[path] = serious
        assert not problems, f"serious accessibility violations: {json.dumps(problems, indent=1)}"
        assert not page.errors, page.errors
    finally:
        context.close()


def test_acknowledging_an_alert_changes_the_overview_live(stack: Stack, api: httpx.Client, browser: Browser,
                                                          people: dict[str, tuple[str, str]]) -> None:
    alert = raise_alert(api, f"console ack {secrets.token_hex(3)}")
    context, overview = signed_in(browser, stack.api_url, *people["operator"])
    try:
        overview.goto("/")
        paint = overview.page.wait_for_function(  # reported once painted, which may come after `load`
            "() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime").json_value()
        record("overview_fcp_ms", round(paint, 1))
        served = overview.page.evaluate("() => performance.getEntriesByType('navigation')[0].responseStart")
        record("overview_first_byte_ms", round(served, 1))  # how much of the paint is the server's rendering
        overview.page.wait_for_function("() => window.opsledgerLive && window.opsledgerLive.connected")
        acknowledged_before = figure(overview, "alerts-acknowledged")
        detail = watch(context.new_page())
        detail.goto(f"/alerts/{alert['alert_id']}")
        detail.page.fill("input[name=note]", "looking into it")
        detail.page.click("form[aria-label=Acknowledge] button[type=submit]")
        detail.page.wait_for_selector("form[aria-label=Acknowledge] output:has-text('acknowledged')")
        answered_at = detail.page.evaluate("() => Date.now()")
        overview.page.wait_for_function(
            f"() => Number(document.querySelector(\"[data-figure='alerts-acknowledged'] strong\").textContent)"
            f" > {acknowledged_before}", timeout=10_000)
        updated_at = overview.page.evaluate("() => Date.now()")
        record("first_live_update_ms", max(0, updated_at - answered_at))
        assert overview.page.evaluate("() => window.opsledgerLive.updates") >= 1  # no reload: the socket did it
        assert api.get(f"/api/alerts/{alert['alert_id']}").json()["ack_note"] == "looking into it"
        assert not overview.errors and not detail.errors, overview.errors + detail.errors
    finally:
        context.close()


def test_a_viewer_is_shown_no_action_and_is_refused_one_anyway(stack: Stack, api: httpx.Client, browser: Browser,
                                                                people: dict[str, tuple[str, str]]) -> None:
    alert = raise_alert(api, f"console viewer {secrets.token_hex(3)}")
    context, page = signed_in(browser, stack.api_url, *people["viewer"])
    try:
        page.goto(f"/alerts/{alert['alert_id']}")
        assert page.page.locator("form[data-api], button[data-api]:not([data-api='/session/logout'])").count() == 0
        refused = page.page.evaluate(
            "async (id) => (await window.opsledger.call('POST', `/api/alerts/${id}/acknowledge`, {note: 'x'})).status",
            alert["alert_id"])
        assert refused == 403
        # the pages of other roles are refused too, as a page
        answer = page.page.goto("/admin")
        assert answer is not None and answer.status == 403
        # and a command without the page's CSRF token is refused even for an operator's cookie
        assert page.page.evaluate("async () => (await fetch('/api/alerts/', {method: 'POST', headers: "
                                  "{'Content-Type': 'application/json'}, body: '{}'})).status") == 403
    finally:
        context.close()


def test_a_worker_scans_a_cylinder_through_a_full_cycle(stack: Stack, api: httpx.Client, browser: Browser,
                                                        people: dict[str, tuple[str, str]]) -> None:
    added = api.post("/api/cylinders/add", params={"wait": "true"}, json={"count": 1, "location": "Depot 1"})
    code = added.json()["qr_codes"][0]
    customer = f"Console Customer {secrets.token_hex(2)}"
    context, page = signed_in(browser, stack.api_url, *people["worker"], phone=True)
    try:
        page.goto("/cylinders/scan")
        cycle = (("ship", customer, "CylinderShipped"), ("return", customer, "CylinderReturned"),
                 ("refill_send", "Refill Co", "CylinderSentToRefill"),
                 ("refill_receive", "Refill Co", "CylinderRefilled"))
        for done, (action, party, expected) in enumerate(cycle, start=1):
            page.page.select_option("#scan-action", action)
            page.page.fill("#scan-counterparty", party)
            page.page.fill("#scan-code", code)  # a USB scanner types the code, then Enter
            page.page.press("#scan-code", "Enter")
            page.page.wait_for_function(  # the newest entry is first, and has its outcome
                "n => document.querySelectorAll('#scan-log li').length === n"
                " && document.querySelector('#scan-log li').dataset.outcome", arg=done)
            newest = page.page.locator("#scan-log li").first
            assert newest.get_attribute("data-outcome") == expected, newest.inner_text()
        page.screenshot("worker_scan_cycle")
        assert api.get(f"/api/cylinders/{code}").json()["status"] == "available"
        assert not page.errors, page.errors
    finally:
        context.close()


def tiny_png() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    pixels = zlib.compress(b"\x00\xff\x00\x00" * 1)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))


def test_a_worker_submits_a_reading_with_a_photo(stack: Stack, api: httpx.Client, browser: Browser,
                                                 people: dict[str, tuple[str, str]], tmp_path: Path) -> None:
    photo = tmp_path / "meter.png"
    photo.write_bytes(tiny_png())
    customer = f"Photo household {secrets.token_hex(3)}"
    context, page = signed_in(browser, stack.api_url, *people["worker"], phone=True)
    try:
        page.goto("/ingress/new")
        form = page.page
        form.fill("input[name=customer_name]", customer)
        form.fill("input[name=address]", "12 Mill Ln")
        form.fill("input[name=node_id]", "N-CONSOLE-01")
        form.fill("input[name=level_dbmv]", "-12.5")
        form.set_input_files("input[name=attachments]", str(photo))
        form.click("form[aria-label='Ingress reading'] button[type=submit]")
        form.wait_for_selector("form[aria-label='Ingress reading'] output:not(:empty)")
        assert "bad" not in (form.get_attribute("form[aria-label='Ingress reading'] output", "class") or "")
        found = api.get("/api/ingress", params={"customer": customer}).json()["items"]
        assert len(found) == 1 and len(found[0]["attachments"]) == 1
        assert found[0]["technician"] == people["worker"][0]
        assert not page.errors, page.errors
    finally:
        context.close()


def test_an_operator_opens_a_device_bandwidth_chart(stack: Stack, api: httpx.Client, browser: Browser,
                                                    people: dict[str, tuple[str, str]], switch: Agent) -> None:
    made = api.post("/api/devices/", params={"wait": "true"}, json={
        "name": f"console-sw-{secrets.token_hex(2)}", "device_type": "switch", "management_ip": switch.host,
        "snmp_port": switch.port, "polling_interval_s": 5, "snmp": {"version": "2c", "community": "console-sw"}})
    assert made.status_code == 201, made.text
    device_id = made.json()["device_id"]
    wait_until(lambda: any(i["in_bps"] for i in api.get(f"/api/devices/{device_id}/interfaces").json()), 60,
               what="interface rates")
    context, page = signed_in(browser, stack.api_url, *people["operator"])
    try:
        for step in ("1m", "5m", "1h"):
            page.goto(f"/devices/{device_id}?step={step}")
            page.page.wait_for_selector("[data-chart][data-drawn=true] canvas")
        page.screenshot("operator_device_bandwidth")
        assert page.page.locator("button:has-text('Poll now')").count() == 1
        page.page.click("button:has-text('Poll now')")
        page.page.wait_for_selector("#toast:not(:empty)")
        assert not page.errors, page.errors
    finally:
        context.close()


def test_an_analyst_explores_a_subjects_timeline(stack: Stack, api: httpx.Client, browser: Browser,
                                                 people: dict[str, tuple[str, str]]) -> None:
    added = api.post("/api/cylinders/add", params={"wait": "true"}, json={"count": 1})
    code = added.json()["qr_codes"][0]
    api.post("/api/cylinders/ship", params={"wait": "true"}, json={"qr_codes": [code], "counterparty": "Timeline Ltd"})
    context, page = signed_in(browser, stack.api_url, *people["viewer"])
    try:
        page.goto("/events/timeline")
        page.page.fill("input[name=subject]", code)
        page.page.click("form[aria-label=Subject] button")
        page.page.wait_for_selector("text=CylinderShipped")
        types = page.page.eval_on_selector_all("#rows tbody tr td:nth-child(2)",
                                               "cells => cells.map(c => c.textContent)")
        assert {"ScanRecorded", "CylinderAdded", "CylinderShipped"} <= set(types)
        page.goto(f"/events?type=CylinderShipped&subject={code}")
        assert page.page.locator("#rows tbody tr").count() == 1
        page.screenshot("viewer_timeline")
        assert not page.errors, page.errors
    finally:
        context.close()


def test_docs_and_redoc_render_with_the_network_cut_off(stack: Stack, browser: Browser) -> None:
    context = browser.new_context(base_url=stack.api_url)
    elsewhere: list[str] = []

    def only_this_server(route: Any) -> None:
        if route.request.url.startswith(stack.api_url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_this_server)
    try:
        page = watch(context.new_page())
        page.goto("/docs")
        page.page.wait_for_selector(".swagger-ui .info .title:has-text('Opsledger')", )
        page.screenshot("docs_swagger")
        page.goto("/redoc")
        page.page.wait_for_selector("h1:has-text('Opsledger')", )
        page.screenshot("docs_redoc")
        assert not elsewhere, elsewhere
        assert not page.errors, page.errors
    finally:
        context.close()
