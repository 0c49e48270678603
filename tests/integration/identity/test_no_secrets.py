"""No log line and no archived event holds a password, a token, an API key or the JWT secret used in the run.

It does not depend on test order: the test drives every path that carries a secret itself (sign-in, registration,
login, refresh, logout, an API key shown once and used both ways, a wrong password), waits until the audit and
archive projections caught up, then searches every component log and every event_archive row for each secret.
Strings that ARE recorded (the request id of the last request, the new username) must be found, so the search
demonstrably reads the right data. (The stack plugin also checks the run-wide secrets in every component log when the
session ends.)
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import psycopg
import pytest

from tests.helpers.factories import reading_body
from tests.helpers.support import ADMIN_PASSWORD, JWT_SECRET, Stack, bearer, lags, wait_until

LOGS = ("api.log", "projections.log", "processors.log", "pollers.log")


def ok(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: " \
                                           f"{response.status_code} {response.text[:300]}"
    return response.json() if response.content else {}


def remember_token(found: dict[str, str], label: str, token: str) -> None:
    found[label] = token
    if token.count(".") == 2:  # a JWT: its signature alone would leak it too (the header segment is public)
        found[f"{label} (signature)"] = token.rsplit(".", 1)[1]


@pytest.fixture(scope="module")
def traffic(stack: Stack) -> dict[str, Any]:
    """Exercise every secret-carrying path; returns the secrets used and the strings that must be recorded."""
    used: dict[str, str] = {"JWT secret": JWT_SECRET, "admin password": ADMIN_PASSWORD}
    remember_token(used, "suite admin access token", stack.admin_token)
    username = f"nosecrets-{secrets.token_hex(4)}"
    password, wrong = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
    used.update({"user password": password, "wrong password": wrong})
    with httpx.Client(base_url=stack.api_url, timeout=15) as client:
        admin = ok(client.post("/api/auth/login", json={"username": "test-admin", "password": ADMIN_PASSWORD}), 200)
        remember_token(used, "admin access token", admin["access_token"])
        used["admin refresh token"] = admin["refresh_token"]
        as_admin = bearer(admin["access_token"])

        ok(client.post("/api/auth/users", json={"username": username, "password": password}, headers=as_admin), 201)
        first = ok(client.post("/api/auth/login", json={"username": username, "password": password}), 200)
        remember_token(used, "user access token", first["access_token"])
        used["user refresh token"] = first["refresh_token"]
        second = ok(client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]}), 200)
        remember_token(used, "refreshed access token", second["access_token"])
        used["rotated refresh token"] = second["refresh_token"]
        ok(client.get("/api/auth/profile", headers=bearer(second["access_token"])), 200)
        ok(client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]}), 401)  # replayed
        ok(client.post("/api/auth/logout", headers=bearer(second["access_token"]),
                       json={"refresh_token": second["refresh_token"]}), 204)

        made = ok(client.post("/api/auth/api-keys", headers=as_admin,
                              json={"name": "no-secrets", "scopes": ["ingress:read", "ingress:write"]}), 201)
        key = made["key"]
        used["API key"] = key
        used["API key (secret part)"] = key.split("_", 2)[2]  # olk_<public hex prefix>_<secret, may hold "_">
        ok(client.get("/api/ingress", headers={"X-API-Key": key}, params={"limit": 1}), 200)
        ok(client.post("/api/ingress", headers=bearer(key), json=reading_body()), 202)
        rotated = ok(client.post(f"/api/auth/api-keys/{made['id']}/rotate", headers=as_admin,
                                 json={"overlap_seconds": 0}), 201)
        used["rotated API key"] = rotated["key"]
        ok(client.get("/api/ingress", headers={"X-API-Key": rotated["key"]}, params={"limit": 1}), 200)
        ok(client.delete(f"/api/auth/api-keys/{rotated['id']}", headers=as_admin), 204)

        # Device and camera secrets: an SNMPv2c community, SNMPv3 keys, a camera password and a secret URL query value,
        # through create, update, an immediate poll and a probe; no response may hold them either.
        community, auth_key, priv_key = (secrets.token_urlsafe(18) for _ in range(3))
        camera_password, url_token = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
        used.update({"SNMP community": community, "SNMPv3 auth key": auth_key, "SNMPv3 privacy key": priv_key,
                     "camera password": camera_password, "camera URL token": url_token})
        device = {"name": "no-secrets", "device_type": "router", "management_ip": "127.0.0.1", "snmp_port": 9,
                  "snmp": {"version": "2c", "community": community}}
        answers = [client.post("/api/devices/", headers=as_admin, json=device, params={"wait": "true"})]
        made = ok(answers[-1], 201)
        v3 = {**device, "snmp": {"version": "3", "user": "ops", "auth_protocol": "SHA-256", "auth_key": auth_key,
                                 "priv_protocol": "AES-128", "priv_key": priv_key}}
        answers.append(client.put(f"/api/devices/{made['device_id']}", headers={**as_admin, "If-Match": '"1"'},
                                  json=v3, params={"wait": "true"}))
        ok(answers[-1], 200)
        answers.append(client.post(f"/api/devices/{made['device_id']}/poll", headers=as_admin))
        answers.append(client.get(f"/api/devices/{made['device_id']}", headers=as_admin))
        camera = {"name": "no-secrets", "url": f"rtsp://127.0.0.1:9/stream?token={url_token}", "username": "viewer",
                  "password": camera_password}
        answers.append(client.post("/api/cameras/", headers=as_admin, json=camera, params={"wait": "true"}))
        made_camera = ok(answers[-1], 201)
        answers.append(client.post(f"/api/cameras/{made_camera['camera_id']}/test", headers=as_admin))
        answers.append(client.get(f"/api/cameras/{made_camera['camera_id']}/stream", headers=as_admin))
        for answer in answers:
            leaked = [label for label, secret in used.items() if secret in answer.text]
            assert not leaked, f"{answer.request.method} {answer.request.url} answered with {leaked}"

        # Last, so everything above was recorded once this has been: a wrong password, with a request id of ours.
        request_id = f"nosecrets-{secrets.token_hex(8)}"
        refused = client.post("/api/auth/login", json={"username": username, "password": wrong},
                              headers={"X-Request-ID": request_id})
        ok(refused, 401)
        assert refused.headers["X-Request-ID"] == request_id
    return {"secrets": used, "username": username, "request_id": request_id}


def text_of(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("latin-1")  # raw record bytes: every byte maps, ASCII secrets stay as they are
    return str(value)


def archive_rows(stack: Stack) -> list[list[str]]:
    """Every event_archive row (key, raw value, envelope, headers), and every audit_log row, as text."""
    with psycopg.connect(stack.backbone.database_url) as conn:
        rows = conn.execute("SELECT key, value, envelope::text, headers::text FROM event_archive").fetchall()
        rows += conn.execute("SELECT row_to_json(a)::text FROM audit_log a").fetchall()
    return [[text_of(column) for column in row] for row in rows]


def caught_up(stack: Stack) -> bool:
    with stack.client() as admin:
        projections = {name: n for name, n in lags(admin).items() if name != "processors"}
    return bool(projections) and not any(projections.values())


@pytest.fixture(scope="module")
def recorded(stack: Stack, traffic: dict[str, Any]) -> dict[str, Any]:
    """The component logs and the archive, once the last request of `traffic` is in both."""
    request_id = traffic["request_id"]
    wait_until(lambda: any(request_id in column for row in archive_rows(stack) for column in row), timeout=30,
               what="the audit event of the last request in event_archive")
    wait_until(lambda: caught_up(stack), timeout=30, what="/metrics to report every projection lag 0")
    logs_dir = stack.data_dir / "logs"
    wait_until(lambda: request_id in (logs_dir / "api.log").read_text(errors="replace"), timeout=10,
               what="the access log line of the last request")
    logs = {path.name: path.read_text(errors="replace") for path in sorted(logs_dir.glob("*.log"))}
    return {"logs": logs, "archive": archive_rows(stack)}


def test_the_search_reads_the_component_logs(recorded: dict[str, Any], traffic: dict[str, Any],
                                             stack: Stack) -> None:
    logs: dict[str, str] = recorded["logs"]
    assert set(LOGS) <= set(logs), f"expected {LOGS} in {stack.data_dir / 'logs'}, found {sorted(logs)}"
    assert traffic["request_id"] in logs["api.log"]  # what the search looks for could be found


def test_the_search_reads_the_event_archive(recorded: dict[str, Any], traffic: dict[str, Any]) -> None:
    text = "\n".join("\t".join(row) for row in recorded["archive"])
    assert traffic["username"] in text  # the audit subject of the registration and the logins
    assert traffic["request_id"] in text


def test_no_log_line_holds_a_secret(recorded: dict[str, Any], traffic: dict[str, Any]) -> None:
    leaks = [f"{name}: {label} in line {number}: {line[:300]}"
             for name, text in recorded["logs"].items()
             for number, line in enumerate(text.splitlines(), 1)
             for label, secret in traffic["secrets"].items() if secret in line]
    assert not leaks, "secrets in the component logs:\n" + "\n".join(leaks)


def test_no_archived_event_holds_a_secret(recorded: dict[str, Any], traffic: dict[str, Any]) -> None:
    leaks = [f"{label} in archived row: {column[:300]}"
             for row in recorded["archive"] for column in row
             for label, secret in traffic["secrets"].items() if secret in column]
    assert not leaks, "secrets in event_archive / audit_log:\n" + "\n".join(leaks)


def test_the_secrets_searched_for_are_real(traffic: dict[str, Any]) -> None:
    """Guard against a vacuous search: every secret is a non-trivial string (empty would match nothing useful)."""
    short = {label: value for label, value in traffic["secrets"].items() if len(value) < 16}
    assert not short, short
