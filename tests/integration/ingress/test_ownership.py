"""Ownership of readings through HTTP: a worker sees and changes only what they submitted, always as technician
themselves; viewers read everything; operators and admins change everything; every event names its actor."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.helpers.factories import reading_body
from tests.helpers.support import Stack, bearer, wait_until


@dataclass(frozen=True)
class Person:
    headers: dict[str, str]
    id: str
    username: str

    @property
    def actor(self) -> str:
        return f"user:{self.id}"


def person(stack: Stack, role: str) -> Person:
    headers = stack.user(role)
    profile = httpx.get(f"{stack.api_url}/api/auth/profile", headers=headers, timeout=15)
    assert profile.status_code == 200, profile.text
    assert profile.json()["role"] == role
    return Person(headers, profile.json()["id"], profile.json()["username"])


@pytest.fixture(scope="module")
def people(stack: Stack) -> dict[str, Person]:
    return {name: person(stack, name.rstrip("2")) for name in ("worker", "worker2", "operator", "viewer")}


@pytest.fixture
def client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.api_url, timeout=15) as anonymous:
        yield anonymous


def new_node() -> str:
    return f"N-own-{uuid.uuid4().hex[:8]}"


def submit(client: httpx.Client, who: Person, **overrides: Any) -> dict[str, Any]:
    made = client.post("/api/ingress", params={"wait": "true"}, headers=who.headers, json=reading_body(**overrides))
    assert made.status_code == 201, made.text
    return made.json()


def correct(client: httpx.Client, headers: dict[str, str], reading: dict[str, Any], version: int,
            **overrides: Any) -> httpx.Response:
    body = reading_body(node_id=reading["node_id"], **overrides)
    return client.put(f"/api/ingress/{reading['id']}", params={"wait": "true"}, json=body,
                      headers={**headers, "If-Match": f'"{version}"'})


def listed_ids(client: httpx.Client, headers: dict[str, str], node: str) -> set[str]:
    page = client.get("/api/ingress", params={"node_id": node, "limit": 100}, headers=headers)
    assert page.status_code == 200, page.text
    return {item["id"] for item in page.json()["items"]}


def test_a_workers_submission_names_them_as_technician_and_actor(client: httpx.Client, api: httpx.Client,
                                                                 people: dict[str, Person]) -> None:
    worker = people["worker"]
    reading = submit(client, worker, node_id=new_node(), technician="someone.else")
    assert reading["technician"] == worker.username
    assert reading["submitted_by"] == worker.actor

    history = client.get(f"/api/ingress/{reading['id']}/history", headers=worker.headers)
    assert history.status_code == 200, history.text
    assert [(e["type"], e["actor"]) for e in history.json()] == [("IngressReadingSubmitted", worker.actor)]

    def archived() -> list[dict[str, Any]]:
        page = api.get("/api/events", params={"subject": reading["id"], "type": "IngressReadingSubmitted"})
        return list(page.json()["items"]) if page.status_code == 200 else []

    assert [e["envelope"]["actor"] for e in wait_until(archived, what="the archived event")] == [worker.actor]

    corrected = correct(client, worker.headers, reading, 1, technician="someone.else", level_dbmv=-31.0)
    assert corrected.status_code == 201, corrected.text
    assert corrected.json()["technician"] == worker.username
    assert corrected.json()["level_dbmv"] == -31.0


def test_an_operator_may_name_another_technician(client: httpx.Client, people: dict[str, Person]) -> None:
    reading = submit(client, people["operator"], node_id=new_node(), technician="m.chen")
    assert reading["technician"] == "m.chen"
    assert reading["submitted_by"] == people["operator"].actor


def test_another_worker_cannot_see_or_touch_a_reading(client: httpx.Client, people: dict[str, Person]) -> None:
    node = new_node()
    reading = submit(client, people["worker"], node_id=node)
    location, other = f"/api/ingress/{reading['id']}", people["worker2"].headers

    assert client.get(location, headers=other).status_code == 404
    assert client.get(f"{location}/history", headers=other).status_code == 404
    assert reading["id"] not in listed_ids(client, other, node)
    assert correct(client, other, reading, 1, level_dbmv=-1.0).status_code == 404
    assert client.delete(location, headers=other).status_code == 404

    # and nothing changed: the owner still sees version 1 with one event
    mine = client.get(location, headers=people["worker"].headers)
    assert mine.status_code == 200, mine.text
    assert mine.json()["version"] == 1 and mine.json()["level_dbmv"] == reading["level_dbmv"]
    assert len(client.get(f"{location}/history", headers=people["worker"].headers).json()) == 1


def test_the_owner_can_read_list_correct_and_retract(client: httpx.Client, people: dict[str, Person]) -> None:
    owner, node = people["worker"], new_node()
    reading = submit(client, owner, node_id=node)
    location = f"/api/ingress/{reading['id']}"

    got = client.get(location, headers=owner.headers)
    assert got.status_code == 200 and got.json()["id"] == reading["id"]
    assert listed_ids(client, owner.headers, node) == {reading["id"]}
    assert correct(client, owner.headers, reading, 1, level_dbmv=-33.0).status_code == 201

    retracted = client.delete(location, params={"wait": "true"}, headers=owner.headers)
    assert retracted.status_code == 200, retracted.text
    assert client.get(location, headers=owner.headers).status_code == 410
    history = client.get(f"{location}/history", headers=owner.headers)
    assert history.status_code == 200, history.text
    assert [e["actor"] for e in history.json()] == [owner.actor] * 3


def test_operators_and_admins_edit_a_workers_reading(client: httpx.Client, api: httpx.Client, stack: Stack,
                                                     people: dict[str, Person]) -> None:
    reading = submit(client, people["worker"], node_id=new_node())
    by_operator = correct(client, people["operator"].headers, reading, 1, level_dbmv=-12.0)
    assert by_operator.status_code == 201, by_operator.text
    by_admin = correct(client, bearer(stack.admin_token), reading, 2, level_dbmv=-13.0)
    assert by_admin.status_code == 201, by_admin.text

    admin_id = api.get("/api/auth/profile").json()["id"]
    history = client.get(f"/api/ingress/{reading['id']}/history", headers=people["worker"].headers)
    assert [e["actor"] for e in history.json()] == [people["worker"].actor, people["operator"].actor,
                                                    f"user:{admin_id}"]
    # the owner sees the others' corrections
    assert client.get(f"/api/ingress/{reading['id']}", headers=people["worker"].headers).json()["version"] == 3

    retracted = client.delete(f"/api/ingress/{reading['id']}", params={"wait": "true"},
                              headers=people["operator"].headers)
    assert retracted.status_code == 200, retracted.text


def test_a_viewer_reads_any_reading_but_cannot_change_it(client: httpx.Client, people: dict[str, Person]) -> None:
    node = new_node()
    reading = submit(client, people["worker"], node_id=node)
    location, viewer = f"/api/ingress/{reading['id']}", people["viewer"].headers

    assert client.get(location, headers=viewer).status_code == 200
    assert client.get(f"{location}/history", headers=viewer).status_code == 200
    assert listed_ids(client, viewer, node) == {reading["id"]}
    assert correct(client, viewer, reading, 1, level_dbmv=-1.0).status_code == 403
    assert client.delete(location, headers=viewer).status_code == 403
    assert client.get(location, headers=viewer).json()["version"] == 1


def test_a_workers_list_holds_only_their_own_readings(client: httpx.Client, api: httpx.Client, stack: Stack,
                                                      people: dict[str, Person]) -> None:
    node = new_node()
    first = {submit(client, people["worker"], node_id=node)["id"] for _ in range(2)}
    second = {submit(client, people["worker2"], node_id=node)["id"]}
    by_admin = api.post("/api/ingress", params={"wait": "true"}, json=reading_body(node_id=node))
    assert by_admin.status_code == 201, by_admin.text
    everyone = first | second | {by_admin.json()["id"]}

    assert listed_ids(client, people["worker"].headers, node) == first
    assert listed_ids(client, people["worker2"].headers, node) == second
    assert listed_ids(client, people["viewer"].headers, node) == everyone
    assert listed_ids(client, people["operator"].headers, node) == everyone
    assert listed_ids(client, bearer(stack.admin_token), node) == everyone
