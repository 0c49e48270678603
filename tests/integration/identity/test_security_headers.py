"""Browser-facing hardening: security headers on every response, HSTS only behind a trusted TLS proxy, CORS only
for configured origins, and error bodies that never show a stack trace."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers.support import Backbone, Stack, running_stack

DASHBOARD = "https://dash.example"
PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}


@pytest.fixture(scope="module")
def proxied(backbone: Backbone, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """An API that trusts its TLS proxy's X-Forwarded-* headers and lets the dashboard's origin call it."""
    root: Path = tmp_path_factory.mktemp("proxied")
    with running_stack(backbone, root, names=("api",), OPSLEDGER_TRUST_FORWARDED="true",
                       OPSLEDGER_CORS_ORIGINS=DASHBOARD) as stack:
        yield stack


@pytest.fixture(scope="module")
def anon(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.api_url, timeout=15) as client:
        yield client


JSON_ANSWERS: dict[str, Callable[[httpx.Client, httpx.Client], httpx.Response]] = {
    "profile 200": lambda api, anon: api.get("/api/auth/profile"),
    "healthz 200": lambda api, anon: anon.get("/healthz"),
    "openapi 200": lambda api, anon: anon.get("/openapi.json"),
    "readings 200": lambda api, anon: api.get("/api/ingress", params={"limit": 1}),
    "no sign-in 401": lambda api, anon: anon.get("/api/auth/profile"),
    "bad login 401": lambda api, anon: anon.post("/api/auth/login", json={"username": "nobody-x", "password": "x"}),
    "unknown reading 404": lambda api, anon: api.get(f"/api/ingress/{uuid.uuid4()}"),
    "unknown route 404": lambda api, anon: anon.get("/api/no-such-thing"),
    "wrong method 405": lambda api, anon: anon.delete("/api/auth/login"),
    "bad body 422": lambda api, anon: anon.post("/api/auth/register", json={"username": "a b"}),
    "oversize 413": lambda api, anon: anon.post("/api/auth/login", content=b"x" * (2 * 1024 * 1024),
                                                headers={"Content-Type": "application/json"}),
}


@pytest.mark.parametrize("answer", list(JSON_ANSWERS))
def test_every_json_answer_carries_the_security_headers(api: httpx.Client, anon: httpx.Client,
                                                        answer: str) -> None:
    response = JSON_ANSWERS[answer](api, anon)
    assert "json" in response.headers["content-type"], response.headers["content-type"]
    assert response.headers.get("x-content-type-options") == "nosniff"
    assert response.headers.get("referrer-policy") in ("no-referrer", "strict-origin-when-cross-origin", "same-origin")
    assert response.headers.get("x-frame-options") == "DENY"
    csp = response.headers.get("content-security-policy", "")
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp, csp


def csp_sources(csp: str, directive: str) -> list[str]:
    """The sources a directive allows, falling back to default-src as browsers do."""
    policies = {part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()}
    return policies.get(directive, policies.get("default-src", []))


def test_the_docs_pages_load_from_this_server_alone(anon: httpx.Client) -> None:
    """Swagger UI and ReDoc are vendored (api/console/static/vendor): no other origin, no inline script."""
    for path in ("/docs", "/redoc"):
        page = anon.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        csp = page.headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in csp and "https:" not in csp, csp
        assert page.headers.get("x-content-type-options") == "nosniff"
        assert csp_sources(csp, "script-src") == ["'self'"], csp
        scripts = re.findall(r'<script[^>]+src="([^"]+)"', page.text)
        assert scripts and all(url.startswith("/static/") for url in scripts), scripts
        assert all(anon.get(url).status_code == 200 for url in scripts)
        assert not re.search(r"<script>\s*\S", page.text)  # started by a script file, not inline
        assert "'self'" in csp_sources(csp, "connect-src"), csp  # it fetches /openapi.json


def hsts(response: httpx.Response) -> str | None:
    return response.headers.get("strict-transport-security")


def test_hsts_is_sent_behind_a_trusted_tls_proxy(proxied: Stack) -> None:
    behind_tls = httpx.get(f"{proxied.api_url}/healthz", headers={"X-Forwarded-Proto": "https"}, timeout=15)
    max_age = re.search(r"max-age=(\d+)", hsts(behind_tls) or "")
    assert max_age is not None and int(max_age.group(1)) >= 180 * 24 * 3600, behind_tls.headers
    assert hsts(httpx.get(f"{proxied.api_url}/healthz", timeout=15)) is None  # plain HTTP: no HSTS


def test_hsts_is_not_sent_when_forwarded_headers_are_not_trusted(anon: httpx.Client) -> None:
    """The session stack does not set OPSLEDGER_TRUST_FORWARDED: any caller can send X-Forwarded-Proto."""
    assert hsts(anon.get("/healthz", headers={"X-Forwarded-Proto": "https"})) is None
    assert hsts(anon.get("/healthz")) is None


def test_cors_preflight_from_the_configured_origin_is_allowed(proxied: Stack) -> None:
    answer = httpx.options(f"{proxied.api_url}/api/ingress", headers={"Origin": DASHBOARD, **PREFLIGHT}, timeout=15)
    assert answer.status_code in (200, 204), answer.text
    assert answer.headers.get("access-control-allow-origin") == DASHBOARD
    assert "POST" in answer.headers.get("access-control-allow-methods", "")
    assert "authorization" in answer.headers.get("access-control-allow-headers", "").lower()
    simple = httpx.get(f"{proxied.api_url}/healthz", headers={"Origin": DASHBOARD}, timeout=15)
    assert simple.headers.get("access-control-allow-origin") == DASHBOARD


@pytest.mark.parametrize("origin", ["https://evil.example", "https://dash.example.evil.example", "null",
                                    "http://dash.example"])
def test_cors_refuses_other_origins(proxied: Stack, origin: str) -> None:
    preflight = httpx.options(f"{proxied.api_url}/api/ingress", headers={"Origin": origin, **PREFLIGHT}, timeout=15)
    assert "access-control-allow-origin" not in preflight.headers
    simple = httpx.get(f"{proxied.api_url}/healthz", headers={"Origin": origin}, timeout=15)
    assert "access-control-allow-origin" not in simple.headers


def test_a_refused_preflight_is_a_problem(proxied: Stack) -> None:
    """Every error is problem+json, including the CORS layer's refusal."""
    refused = httpx.options(f"{proxied.api_url}/api/ingress",
                            headers={"Origin": "https://evil.example", **PREFLIGHT}, timeout=15)
    assert refused.status_code >= 400
    assert refused.headers["content-type"].startswith("application/problem+json"), \
        f"{refused.status_code} {refused.headers['content-type']}: {refused.text[:200]}"


def test_without_configured_origins_no_origin_is_allowed(anon: httpx.Client) -> None:
    preflight = anon.options("/api/ingress", headers={"Origin": DASHBOARD, **PREFLIGHT})
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in anon.get("/healthz", headers={"Origin": DASHBOARD}).headers


@pytest.mark.parametrize("answer", ["unknown reading 404", "unknown route 404", "bad body 422", "wrong method 405"])
def test_error_bodies_never_show_a_stack_trace(api: httpx.Client, anon: httpx.Client, answer: str) -> None:
    response = JSON_ANSWERS[answer](api, anon)
    assert response.status_code >= 400 and response.headers["content-type"].startswith("application/problem+json")
    for leak in ("Traceback", 'File "', "site-packages", "/work/", ".py\", line"):
        assert leak not in response.text, response.text[:500]


def test_malformed_json_is_a_problem_without_a_stack_trace(anon: httpx.Client) -> None:
    response = anon.post("/api/auth/login", content=b'{"username": ', headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "Traceback" not in response.text and 'File "' not in response.text
