"""Forged, altered and out-of-date access tokens are refused with 401 problem+json; a correct one is accepted."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.helpers.support import JWT_SECRET, Stack, bearer

ISSUER, AUDIENCE = "opsledger", "opsledger-api"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_PEM = RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def anon(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.api_url, timeout=15) as client:
        yield client


@pytest.fixture(scope="module")
def admin_id(api: httpx.Client) -> str:
    me = api.get("/api/auth/profile")
    assert me.status_code == 200, me.text
    return str(me.json()["id"])


def b64(data: bytes | dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode() if isinstance(data, dict) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(part: str) -> dict[str, Any]:
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def claims(sub: str, *, drop: tuple[str, ...] = (), **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "role": "admin", "jti": str(uuid.uuid4()),
               "iat": now, "nbf": now, "exp": now + 600, **overrides}
    return {k: v for k, v in payload.items() if k not in drop}


def signed(payload: dict[str, Any], key: Any = JWT_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(payload, key, algorithm=algorithm)


def unsigned(payload: dict[str, Any], alg: str = "none") -> str:
    return f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(payload)}."


def hmac_with_public_key(payload: dict[str, Any]) -> str:
    """The classic HS/RS confusion: HMAC-SHA256 keyed with the server's (RSA) public key in PEM form.

    Built by hand because PyJWT itself refuses to use a PEM key as an HMAC secret."""
    signing_input = f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64(payload)}"
    signature = hmac.new(PUBLIC_PEM, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401, f"{response.status_code}: {response.text[:500]}"
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 401 and body["title"] and body["detail"]
    assert response.headers.get("www-authenticate", "").lower().startswith("bearer")


def profile(anon: httpx.Client, token: str) -> httpx.Response:
    return anon.get("/api/auth/profile", headers=bearer(token))


def test_a_correctly_signed_token_is_accepted(anon: httpx.Client, admin_id: str, stack: Stack) -> None:
    """The positive control: the forgeries below fail for their flaw, not for how they are built (it names the
    admin's live session, as every access token must)."""
    session = unb64(stack.admin_token.split(".")[1])["sid"]
    me = profile(anon, signed(claims(admin_id, sid=session)))
    assert me.status_code == 200, me.text
    assert me.json()["id"] == admin_id


def tampered(anon: httpx.Client, viewer: dict[str, str]) -> str:
    """A real viewer's token with the role changed to admin, keeping the original signature."""
    token = viewer["Authorization"].removeprefix("Bearer ")
    header, payload, signature = token.split(".")
    assert profile(anon, token).status_code == 200
    return f"{header}.{b64({**unb64(payload), 'role': 'admin'})}.{signature}"


def an_hour_ago() -> int:
    return int(time.time()) - 3600


FORGERIES: dict[str, Callable[[str], str]] = {
    "alg none": lambda sub: unsigned(claims(sub)),
    "alg None": lambda sub: unsigned(claims(sub), "None"),
    "alg NONE with a signature": lambda sub: unsigned(claims(sub), "NONE") + b64(secrets.token_bytes(32)),
    "another secret": lambda sub: signed(claims(sub), secrets.token_urlsafe(48)),
    "RS256 with our own key": lambda sub: signed(claims(sub), RSA_KEY, "RS256"),
    "HS256 keyed with the public PEM": lambda sub: hmac_with_public_key(claims(sub)),
    "HS512 with the right secret": lambda sub: signed(claims(sub), JWT_SECRET, "HS512"),
    "expired": lambda sub: signed(claims(sub, iat=an_hour_ago(), nbf=an_hour_ago(), exp=an_hour_ago() + 900)),
    "expired 30 s ago": lambda sub: signed(claims(sub, exp=int(time.time()) - 30)),
    "not yet valid": lambda sub: signed(claims(sub, nbf=int(time.time()) + 300)),
    "issued in the future": lambda sub: signed(claims(sub, iat=int(time.time()) + 300)),
    "wrong audience": lambda sub: signed(claims(sub, aud="someone-else")),
    "wrong issuer": lambda sub: signed(claims(sub, iss="evil")),
    "no jti": lambda sub: signed(claims(sub, drop=("jti",))),
    "no exp": lambda sub: signed(claims(sub, drop=("exp",))),
    "sub not a uuid": lambda sub: signed(claims("admin")),
    "unknown user": lambda sub: signed(claims(str(uuid.uuid4()))),
    "garbage": lambda sub: "this-is-not-a-token",
    "three garbage parts": lambda sub: "a.b.c",
    "header only": lambda sub: b64({"alg": "HS256", "typ": "JWT"}),
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_a_forged_or_invalid_token_is_refused(anon: httpx.Client, admin_id: str, forgery: str) -> None:
    assert_refused(profile(anon, FORGERIES[forgery](admin_id)))


def test_a_token_with_its_payload_altered_is_refused(stack: Stack, anon: httpx.Client) -> None:
    assert_refused(profile(anon, tampered(anon, stack.user("viewer"))))


def test_a_forged_token_reaches_no_admin_route(anon: httpx.Client, admin_id: str) -> None:
    for forgery in ("alg none", "HS256 keyed with the public PEM", "another secret"):
        assert_refused(anon.get("/api/auth/users", headers=bearer(FORGERIES[forgery](admin_id))))
