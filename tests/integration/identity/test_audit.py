"""The audit log through HTTP: commands by an admin and a worker, a denied command and a failed login show up in
GET /api/audit with who, role, what, subject, outcome, status, client and request id; filters and cursor paging
work; no entry carries a password; only admins may read it."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.helpers.factories import reading_body
from tests.helpers.support import Stack, bearer, wait_until


@dataclass(frozen=True)
class Command:
    """One request the scenario sent, and what its audit entry must say."""

    request_id: str
    actor: str | None
    role: str | None
    action: str
    subject: str | None
    outcome: str
    status: int


@dataclass(frozen=True)
class Scenario:
    commands: dict[str, Command]
    started: str  # ISO time just before the first command: the scenario's entries are all after it
    worker_actor: str
    passwords: tuple[str, ...]


def profile_id(client: httpx.Client, headers: dict[str, str]) -> str:
    return str(client.get("/api/auth/profile", headers=headers).json()["id"])


def sent(response: httpx.Response, status: int, **expected: Any) -> Command:
    assert response.status_code == status, response.text
    return Command(request_id=response.headers["X-Request-ID"], status=status, **expected)


@pytest.fixture(scope="module")
def scenario(stack: Stack, api: httpx.Client) -> Iterator[Scenario]:
    started = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    worker, viewer = stack.user("worker"), stack.user("viewer")
    with httpx.Client(base_url=stack.api_url, timeout=15) as client:
        admin_actor = f"user:{profile_id(client, bearer(stack.admin_token))}"
        worker_actor = f"user:{profile_id(client, worker)}"
        viewer_actor = f"user:{profile_id(client, viewer)}"
        commands: dict[str, Command] = {}

        answer = api.post("/api/ingress", params={"wait": "true"}, json=reading_body())
        commands["admin submits"] = sent(answer, 201, actor=admin_actor, role="admin", action="POST /api/ingress",
                                         subject=answer.json()["id"], outcome="succeeded")
        answer = client.post("/api/ingress", params={"wait": "true"}, headers=worker, json=reading_body())
        reading_id = answer.json()["id"]
        commands["worker submits"] = sent(answer, 201, actor=worker_actor, role="worker", action="POST /api/ingress",
                                          subject=reading_id, outcome="succeeded")
        answer = client.put(f"/api/ingress/{reading_id}", headers={**worker, "If-Match": '"1"'},
                            json=reading_body(level_dbmv=-30.0))
        commands["worker corrects"] = sent(answer, 202, actor=worker_actor, role="worker",
                                           action="PUT /api/ingress/{reading_id}", subject=reading_id,
                                           outcome="succeeded")
        unknown = str(uuid.uuid4())
        answer = client.delete(f"/api/ingress/{unknown}", headers=worker)
        commands["worker retracts nothing"] = sent(answer, 404, actor=worker_actor, role="worker",
                                                   action="DELETE /api/ingress/{reading_id}", subject=unknown,
                                                   outcome="refused")
        answer = client.post("/api/ingress", headers=viewer, json=reading_body())
        commands["viewer submits"] = sent(answer, 403, actor=viewer_actor, role="viewer", action="POST /api/ingress",
                                          subject=None, outcome="denied")
        wrong_password = f"wrong-{secrets.token_urlsafe(18)}"
        answer = client.post("/api/auth/login", json={"username": "test-admin", "password": wrong_password})
        commands["failed login"] = sent(answer, 401, actor=None, role=None, action="POST /api/auth/login",
                                        subject="test-admin", outcome="denied")
        new_password = secrets.token_urlsafe(18)
        username = f"audited-{secrets.token_hex(4)}"
        answer = api.post("/api/auth/users", json={"username": username, "password": new_password, "role": "viewer"})
        commands["admin creates a user"] = sent(answer, 201, actor=admin_actor, role="admin",
                                                action="POST /api/auth/users", subject=username, outcome="succeeded")
        yield Scenario(commands, started, worker_actor, (wrong_password, new_password))


def entries(api: httpx.Client, scenario: Scenario, **params: Any) -> list[dict[str, Any]]:
    page = api.get("/api/audit", params={"limit": 500, "occurred_from": scenario.started, **params})
    assert page.status_code == 200, page.text
    return list(page.json()["items"])


def recorded(api: httpx.Client, scenario: Scenario) -> dict[str, dict[str, Any]]:
    """The scenario's entries by request id, once all of them are projected (the audit event follows the answer)."""
    wanted = {c.request_id for c in scenario.commands.values()}

    def all_there() -> dict[str, dict[str, Any]]:
        found = {e["request_id"]: e for e in entries(api, scenario) if e["request_id"] in wanted}
        return found if set(found) == wanted else {}

    return wait_until(all_there, what="the scenario's audit entries")


@pytest.mark.parametrize("name", ["admin submits", "worker submits", "worker corrects", "worker retracts nothing",
                                  "viewer submits", "failed login", "admin creates a user"])
def test_each_command_is_audited(name: str, api: httpx.Client, scenario: Scenario) -> None:
    command = scenario.commands[name]
    entry = recorded(api, scenario)[command.request_id]
    shown = {field: entry[field] for field in ("actor", "role", "action", "subject", "outcome", "status")}
    assert shown == {"actor": command.actor, "role": command.role, "action": command.action,
                     "subject": command.subject, "outcome": command.outcome, "status": command.status}
    assert entry["client"] == "127.0.0.1"
    assert entry["occurred_at"]


def test_filters(api: httpx.Client, scenario: Scenario) -> None:
    recorded(api, scenario)
    by_worker = entries(api, scenario, actor=scenario.worker_actor)
    assert {e["actor"] for e in by_worker} == {scenario.worker_actor}
    worker_ids = {c.request_id for c in scenario.commands.values() if c.actor == scenario.worker_actor}
    assert {e["request_id"] for e in by_worker} == worker_ids

    denied = entries(api, scenario, outcome="denied")
    assert {e["outcome"] for e in denied} == {"denied"}
    assert {scenario.commands["viewer submits"].request_id,
            scenario.commands["failed login"].request_id} <= {e["request_id"] for e in denied}

    submissions = entries(api, scenario, action="POST /api/ingress")
    assert submissions and all("POST /api/ingress" in e["action"] for e in submissions)
    assert {scenario.commands[n].request_id for n in ("admin submits", "worker submits", "viewer submits")} <= {
        e["request_id"] for e in submissions}
    assert entries(api, scenario, actor=scenario.worker_actor, outcome="refused", action="DELETE") == [
        e for e in by_worker if e["request_id"] == scenario.commands["worker retracts nothing"].request_id]


def test_cursor_paging_walks_every_entry_newest_first(api: httpx.Client, scenario: Scenario) -> None:
    recorded(api, scenario)
    whole = entries(api, scenario, actor=scenario.worker_actor)
    assert len(whole) == 3
    walked: list[dict[str, Any]] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"actor": scenario.worker_actor, "occurred_from": scenario.started, "limit": 1}
        if cursor:
            params["cursor"] = cursor
        page = api.get("/api/audit", params=params)
        assert page.status_code == 200, page.text
        assert len(page.json()["items"]) == 1
        walked += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert walked == whole
    assert [e["occurred_at"] for e in walked] == sorted((e["occurred_at"] for e in walked), reverse=True)


def test_no_entry_carries_a_password(api: httpx.Client, scenario: Scenario) -> None:
    recorded(api, scenario)
    text = api.get("/api/audit", params={"limit": 500, "occurred_from": scenario.started}).text
    for password in scenario.passwords:
        assert password not in text


@pytest.mark.parametrize("role", ["operator", "worker", "viewer"])
def test_only_admins_read_the_audit_log(role: str, stack: Stack) -> None:
    refused = httpx.get(f"{stack.api_url}/api/audit", headers=stack.user(role), timeout=15)
    assert refused.status_code == 403, refused.text
