"""Sign-up, sign-in, refresh rotation, logout, user administration and API keys, through HTTP."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from tests.helpers.factories import reading_body
from tests.helpers.support import JWT_SECRET, Stack, bearer


@pytest.fixture(scope="module")
def anon(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.api_url, timeout=15) as client:
        yield client


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, f"{response.status_code}: {response.text[:500]}"
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def new_user(api: httpx.Client, role: str) -> tuple[str, str, str]:
    """(id, username, password) of a new user with `role`, made by the admin."""
    username, password = f"{role}-{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    made = api.post("/api/auth/users", json={"username": username, "password": password, "role": role})
    assert made.status_code == 201, made.text
    return str(made.json()["id"]), username, password


def sign_in(anon: httpx.Client, username: str, password: str) -> dict[str, Any]:
    answer = anon.post("/api/auth/login", json={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def refresh(anon: httpx.Client, token: str) -> httpx.Response:
    return anon.post("/api/auth/refresh", json={"refresh_token": token})


def profile(anon: httpx.Client, access_token: str) -> httpx.Response:
    return anon.get("/api/auth/profile", headers=bearer(access_token))


# --- registration ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("username", ["ab", "has space", "semi;colon", "-leading-dash", "x" * 33, "ünïcode-name"])
def test_a_bad_username_is_refused(anon: httpx.Client, username: str) -> None:
    assert_problem(anon.post("/api/auth/register", json={"username": username, "password": "long enough pw 1"}), 422)


def test_a_password_under_12_characters_is_refused(anon: httpx.Client) -> None:
    answer = anon.post("/api/auth/register", json={"username": f"short-{secrets.token_hex(4)}", "password": "x" * 11})
    assert_problem(answer, 422)


@pytest.mark.parametrize("spell", [str, str.lower, str.upper, str.swapcase])
def test_the_password_cannot_be_the_username_in_any_case(anon: httpx.Client, spell: Any) -> None:
    username = f"Harbour-{secrets.token_hex(4)}"  # 16 characters: long enough to be a password
    assert_problem(anon.post("/api/auth/register", json={"username": username, "password": spell(username)}), 422)


def test_a_username_is_taken_whatever_its_case(api: httpx.Client) -> None:
    username = f"Taken-{secrets.token_hex(4)}"
    first = api.post("/api/auth/users", json={"username": username, "password": secrets.token_urlsafe(16)})
    assert first.status_code == 201, first.text
    assert first.json()["role"] == "viewer"  # the default role
    for again in (username, username.upper(), username.lower()):
        answer = api.post("/api/auth/users", json={"username": again, "password": "another pw 1234"})
        assert_problem(answer, 409)  # an admin may know; registration never tells (test_registration)


# --- login, refresh, logout --------------------------------------------------------------------------------

def test_login_gives_a_short_lived_jwt_and_an_opaque_refresh_token(api: httpx.Client, anon: httpx.Client) -> None:
    user_id, username, password = new_user(api, "worker")
    answer = anon.post("/api/auth/login", json={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    assert "no-store" in answer.headers["cache-control"]
    body = answer.json()
    claims = jwt.decode(body["access_token"], JWT_SECRET, algorithms=["HS256"], audience="opsledger-api",
                        issuer="opsledger")
    assert {"iss", "aud", "exp", "iat", "nbf", "sub", "jti", "role"} <= set(claims)
    assert claims["sub"] == user_id and claims["role"] == "worker"
    assert uuid.UUID(claims["jti"])
    assert abs(claims["exp"] - claims["iat"] - 900) <= 5
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    assert body["refresh_token"] and body["refresh_token"].count(".") != 2  # opaque, not a JWT
    assert profile(anon, body["access_token"]).json()["id"] == user_id


def test_a_wrong_password_and_an_unknown_user_look_the_same(api: httpx.Client, anon: httpx.Client) -> None:
    _, username, _ = new_user(api, "viewer")
    wrong = assert_problem(anon.post("/api/auth/login", json={"username": username, "password": "not it at all"}), 401)
    unknown = assert_problem(anon.post("/api/auth/login", json={"username": f"ghost-{secrets.token_hex(4)}",
                                                                "password": "not it at all"}), 401)
    assert wrong["detail"] == unknown["detail"] and wrong["title"] == unknown["title"]


def test_refresh_rotates_and_the_old_token_stops_working(api: httpx.Client, anon: httpx.Client) -> None:
    _, username, password = new_user(api, "viewer")
    first = sign_in(anon, username, password)
    rotated = refresh(anon, first["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    assert "no-store" in rotated.headers["cache-control"]
    assert rotated.json()["refresh_token"] != first["refresh_token"]
    assert profile(anon, rotated.json()["access_token"]).status_code == 200
    assert_problem(refresh(anon, first["refresh_token"]), 401)


def test_reusing_a_refresh_token_revokes_its_whole_family(api: httpx.Client, anon: httpx.Client) -> None:
    _, username, password = new_user(api, "viewer")
    stolen = sign_in(anon, username, password)["refresh_token"]
    other_session = sign_in(anon, username, password)["refresh_token"]
    second = refresh(anon, stolen).json()["refresh_token"]
    newest = refresh(anon, second).json()["refresh_token"]
    assert_problem(refresh(anon, stolen), 401)  # the reuse
    assert_problem(refresh(anon, newest), 401)  # the legitimate holder's newest token is gone too
    assert refresh(anon, other_session).status_code == 200  # another family is untouched


def test_logout_revokes_the_access_token_and_the_refresh_family(api: httpx.Client, anon: httpx.Client) -> None:
    _, username, password = new_user(api, "viewer")
    session, other = sign_in(anon, username, password), sign_in(anon, username, password)
    out = anon.post("/api/auth/logout", headers=bearer(session["access_token"]),
                    json={"refresh_token": session["refresh_token"]})
    assert out.status_code == 204, out.text
    assert_problem(profile(anon, session["access_token"]), 401)
    assert_problem(refresh(anon, session["refresh_token"]), 401)
    assert profile(anon, other["access_token"]).status_code == 200


# --- user administration -----------------------------------------------------------------------------------

def test_a_deactivated_user_is_refused_at_once(api: httpx.Client, anon: httpx.Client) -> None:
    user_id, username, password = new_user(api, "operator")
    session = sign_in(anon, username, password)
    changed = api.patch(f"/api/auth/users/{user_id}", json={"active": False})
    assert changed.status_code == 200 and changed.json()["active"] is False, changed.text
    assert_problem(profile(anon, session["access_token"]), 401)
    assert_problem(refresh(anon, session["refresh_token"]), 401)
    assert_problem(anon.post("/api/auth/login", json={"username": username, "password": password}), 401)


def test_a_role_change_takes_effect_on_the_same_token(api: httpx.Client, anon: httpx.Client) -> None:
    user_id, username, password = new_user(api, "viewer")
    token = bearer(sign_in(anon, username, password)["access_token"])
    assert_problem(anon.post("/api/ingress", headers=token, json=reading_body()), 403)
    assert api.patch(f"/api/auth/users/{user_id}", json={"role": "operator"}).status_code == 200
    accepted = anon.post("/api/ingress", headers=token, json=reading_body())
    assert accepted.status_code in (201, 202), accepted.text


@pytest.mark.parametrize("change", [{"active": False}, {"role": "viewer"}, {"role": "operator", "active": True}])
def test_an_admin_cannot_deactivate_or_demote_themselves(api: httpx.Client, anon: httpx.Client,
                                                         change: dict[str, Any]) -> None:
    admin_id, username, password = new_user(api, "admin")  # never the suite's own admin
    token = bearer(sign_in(anon, username, password)["access_token"])
    assert_problem(anon.patch(f"/api/auth/users/{admin_id}", headers=token, json=change), 409)
    me = anon.get("/api/auth/profile", headers=token)
    assert me.status_code == 200 and me.json()["role"] == "admin" and me.json()["active"] is True


def test_the_profile_is_the_caller(api: httpx.Client, anon: httpx.Client) -> None:
    user_id, username, password = new_user(api, "worker")
    me = profile(anon, sign_in(anon, username, password)["access_token"])
    assert me.status_code == 200, me.text
    assert (me.json()["id"], me.json()["username"], me.json()["role"]) == (user_id, username, "worker")


# --- API keys ----------------------------------------------------------------------------------------------

def new_key(api: httpx.Client, scopes: list[str]) -> dict[str, Any]:
    made = api.post("/api/auth/api-keys", json={"name": f"scanner-{secrets.token_hex(3)}", "scopes": scopes})
    assert made.status_code == 201, made.text
    return dict(made.json())


def listed_key(api: httpx.Client, key_id: str) -> dict[str, Any]:
    keys = api.get("/api/auth/api-keys")
    assert keys.status_code == 200, keys.text
    return next(k for k in keys.json() if k["id"] == key_id)


def reads(anon: httpx.Client, key: str, header: str = "bearer") -> int:
    headers = bearer(key) if header == "bearer" else {"X-API-Key": key}
    return anon.get("/api/ingress", params={"limit": 1}, headers=headers).status_code


def test_a_new_key_is_shown_once_and_listed_without_its_secret(api: httpx.Client) -> None:
    made = api.post("/api/auth/api-keys", json={"name": "poller", "scopes": ["ingress:read"]})
    assert made.status_code == 201, made.text
    assert "no-store" in made.headers["cache-control"]
    key, prefix = made.json()["key"], made.json()["prefix"]
    assert key.startswith(f"olk_{prefix}_") and len(key) > 40
    listing = api.get("/api/auth/api-keys")
    entry = next(k for k in listing.json() if k["id"] == made.json()["id"])
    assert entry["prefix"] == prefix and "key" not in entry
    assert not any("hash" in name for name in entry)
    assert key not in listing.text and key.split("_", 2)[2] not in listing.text


def test_a_key_works_as_bearer_and_as_x_api_key_within_its_scope(api: httpx.Client, anon: httpx.Client) -> None:
    made = new_key(api, ["ingress:read"])
    assert listed_key(api, made["id"])["last_used_at"] is None
    assert reads(anon, made["key"], "bearer") == 200
    assert reads(anon, made["key"], "x-api-key") == 200
    assert_problem(anon.post("/api/ingress", headers={"X-API-Key": made["key"]}, json=reading_body()), 403)
    assert listed_key(api, made["id"])["last_used_at"] is not None


def test_a_revoked_key_is_refused_at_once(api: httpx.Client, anon: httpx.Client) -> None:
    made = new_key(api, ["ingress:read"])
    assert reads(anon, made["key"]) == 200
    assert api.delete(f"/api/auth/api-keys/{made['id']}").status_code == 204
    assert_problem(anon.get("/api/ingress", headers={"X-API-Key": made["key"]}), 401)
    assert listed_key(api, made["id"])["revoked_at"] is not None


def test_rotation_with_overlap_keeps_the_old_key_working(api: httpx.Client, anon: httpx.Client) -> None:
    old = new_key(api, ["ingress:read"])
    rotated = api.post(f"/api/auth/api-keys/{old['id']}/rotate", json={"overlap_seconds": 3600})
    assert rotated.status_code == 201, rotated.text
    assert rotated.json()["rotated_from"] == old["id"] and rotated.json()["key"] != old["key"]
    assert rotated.json()["scopes"] == old["scopes"]
    assert reads(anon, rotated.json()["key"]) == 200
    assert reads(anon, old["key"]) == 200


def test_rotation_without_overlap_refuses_the_old_key_at_once(api: httpx.Client, anon: httpx.Client) -> None:
    old = new_key(api, ["ingress:read"])
    rotated = api.post(f"/api/auth/api-keys/{old['id']}/rotate", json={"overlap_seconds": 0})
    assert rotated.status_code == 201, rotated.text
    assert reads(anon, rotated.json()["key"]) == 200
    assert_problem(anon.get("/api/ingress", headers=bearer(old["key"])), 401)


@pytest.mark.parametrize("scopes", [["ingress:admin"], [], ["*"], ["ingress:read", "root"]])
def test_an_invalid_scope_is_refused(api: httpx.Client, scopes: list[str]) -> None:
    assert_problem(api.post("/api/auth/api-keys", json={"name": "bad", "scopes": scopes}), 422)


def test_a_revoked_key_cannot_be_rotated(api: httpx.Client) -> None:
    made = new_key(api, ["events:read"])
    assert api.delete(f"/api/auth/api-keys/{made['id']}").status_code == 204
    assert_problem(api.post(f"/api/auth/api-keys/{made['id']}/rotate", json={"overlap_seconds": 60}), 409)
