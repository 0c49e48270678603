"""External login (OpenID Connect: authorization code + PKCE) against a real, certified provider (oidc-provider on
loopback): through the API (first-login provisioning, role mapping from a claim, a replayed or foreign callback,
one-time login codes, deactivated users), and the relying party's ID-token checks against tokens the provider really
issued (tampered, for another audience, with another nonce)."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from api.identity.oidc import rp
from api.identity.oidc.config import MemoryPendingStore, OIDCSettings
from api.identity.oidc.errors import IDTokenError
from infra.entry.embedded import free_port
from tests.helpers.oidc import MAPPING, OTHER_SECRET, SECRET, Browser, Intercept, Provider, query_of, running_provider
from tests.helpers.support import Backbone, Stack, bearer, running_stack


@dataclass
class Setup:
    stack: Stack
    provider: Provider
    redirect: str


@pytest.fixture(scope="module")
def oidc(backbone: Backbone, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root: Path = tmp_path_factory.mktemp("oidc")
    port = free_port()
    redirect = f"http://127.0.0.1:{port}/api/auth/oidc/callback"
    with running_provider(root, redirect, OIDC_TEST_MODE="1") as provider, \
            running_stack(backbone, root / "api", ("api",), api_port=port, OPSLEDGER_OIDC_ISSUER=provider.issuer,
                          OPSLEDGER_OIDC_CLIENT_ID="opsledger-api", OPSLEDGER_OIDC_CLIENT_SECRET=SECRET,
                          OPSLEDGER_OIDC_REDIRECT_URI=redirect, OPSLEDGER_OIDC_ROLE_MAPPING=MAPPING,
                          OPSLEDGER_OIDC_SCOPES="openid profile email groups") as stack:
        yield Setup(stack, provider, redirect)


def sign_in_externally(setup: Setup, user: str, browser: Browser | None = None) -> tuple[httpx.Response, str]:
    """Through the API as a browser would: (the callback's answer, the callback URL)."""
    browser = browser or Browser()
    started = browser.http.get(f"{setup.stack.api_url}/api/auth/oidc/login", params={"return_to": "/dashboard"})
    assert started.status_code == 302, started.text
    callback = browser.run(started.headers["location"], setup.redirect, user)
    return browser.http.get(callback), callback


def tokens_of(setup: Setup, answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 302, answer.text
    target = urlsplit(answer.headers["location"])
    assert target.path == "/dashboard" and target.fragment.startswith("login_code=")
    code = target.fragment.removeprefix("login_code=")
    exchanged = httpx.post(f"{setup.stack.api_url}/api/auth/oidc/exchange", json={"login_code": code}, timeout=15)
    assert exchanged.status_code == 200, exchanged.text
    again = httpx.post(f"{setup.stack.api_url}/api/auth/oidc/exchange", json={"login_code": code}, timeout=15)
    assert again.status_code == 401  # a login code works once
    return dict(exchanged.json())


def me(setup: Setup, tokens: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.get(f"{setup.stack.api_url}/api/auth/profile", headers=bearer(tokens["access_token"]), timeout=15)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


@pytest.mark.parametrize(("user", "role"), [("alice", "admin"), ("dave", "worker"), ("carol", "viewer")])
def test_a_first_external_login_provisions_the_user_with_the_mapped_role(oidc: Setup, user: str, role: str) -> None:
    first = me(oidc, tokens_of(oidc, sign_in_externally(oidc, user)[0]))
    assert first["role"] == role and first["username"].startswith(user)
    second = me(oidc, tokens_of(oidc, sign_in_externally(oidc, user)[0]))
    assert second["id"] == first["id"]  # found again by issuer and subject, not provisioned twice
    local = httpx.post(f"{oidc.stack.api_url}/api/auth/login", timeout=15,
                       json={"username": first["username"], "password": f"{user}-test-password"})
    assert local.status_code == 401  # an external account has no local password


def test_a_replayed_or_foreign_callback_is_refused(oidc: Setup) -> None:
    browser = Browser()
    started = browser.http.get(f"{oidc.stack.api_url}/api/auth/oidc/login", params={"return_to": "/dashboard"})
    binding = browser.http.cookies["opsledger_oidc"]
    callback = browser.run(started.headers["location"], oidc.redirect, "bob")
    tokens_of(oidc, browser.http.get(callback))
    assert browser.http.get(callback).json()["reason"] == "no_login_in_progress"  # the cookie went with the login
    replayed = httpx.get(callback, cookies={"opsledger_oidc": binding}, timeout=15)  # the whole request again
    assert replayed.status_code == 400 and replayed.json()["reason"] == "unknown_or_used_state"
    other = Browser()
    started = other.http.get(f"{oidc.stack.api_url}/api/auth/oidc/login")
    callback = other.run(started.headers["location"], oidc.redirect, "bob")
    foreign = httpx.get(callback, timeout=15)  # another browser (no binding cookie): login CSRF
    assert foreign.status_code == 400 and foreign.json()["reason"] == "no_login_in_progress"


def test_a_deactivated_user_is_refused_whatever_the_provider_says(oidc: Setup) -> None:
    profile = me(oidc, tokens_of(oidc, sign_in_externally(oidc, "dave")[0]))
    with oidc.stack.client() as admin:
        assert admin.patch(f"/api/auth/users/{profile['id']}", json={"active": False}).status_code == 200
        try:
            refused = sign_in_externally(oidc, "dave")[0]
            assert refused.status_code == 403, refused.text
        finally:
            admin.patch(f"/api/auth/users/{profile['id']}", json={"active": True})


# --- the relying party's checks, on tokens the provider really issued --------------------------------------------

def party(oidc: Setup) -> OIDCSettings:
    return OIDCSettings(issuer=oidc.provider.issuer, client_id="opsledger-api", client_secret=SECRET,
                        redirect_uri=oidc.redirect, scopes=("openid", "profile", "email", "groups"))


def finish_with(oidc: Setup, http: httpx.Client, user: str = "carol") -> rp.Identity:
    settings, store = party(oidc), MemoryPendingStore()
    url, pending = rp.begin(settings, store=store, login_hint=user)
    query = query_of(Browser().run(url, oidc.redirect, user))
    return rp.finish(query, pending.state, settings=settings, store=store, http=http)


def unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def escalate(id_token: str) -> str:
    """carol's genuine token with the admins group written in, header and signature kept."""
    header, payload, signature = id_token.split(".")
    claims = {**json.loads(unb64(payload)), "groups": ["opsledger-admins"]}
    return f"{header}.{b64(json.dumps(claims).encode())}.{signature}"


def test_a_tampered_id_token_is_refused(oidc: Setup) -> None:
    with pytest.raises(IDTokenError) as refused:
        finish_with(oidc, Intercept(lambda data: {**data, "id_token": escalate(data["id_token"])}))
    assert refused.value.reason == "bad_signature"


def other_apps_token(oidc: Setup, nonce: str, user: str = "carol") -> str:
    """A token the provider issued to another relying party for the same user and the same nonce."""
    verifier, meta = secrets.token_urlsafe(48), httpx.get(f"{oidc.provider.issuer}/.well-known/openid-configuration",
                                                         timeout=15).json()
    redirect = "http://127.0.0.1:9000/callback"
    url = prepare_grant_uri(meta["authorization_endpoint"], client_id="other-app", response_type="code",
                            redirect_uri=redirect, scope="openid profile", state="s" * 16, nonce=nonce,
                            code_challenge=create_s256_code_challenge(verifier), code_challenge_method="S256",
                            login_hint=user)
    code = query_of(Browser().run(url, redirect, user))["code"]
    answer = httpx.post(meta["token_endpoint"], auth=("other-app", OTHER_SECRET), timeout=15,
                        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect,
                              "code_verifier": verifier})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id_token"])


def test_an_id_token_for_another_audience_is_refused(oidc: Setup) -> None:
    def swap(data: dict[str, Any]) -> dict[str, Any]:
        nonce = json.loads(unb64(data["id_token"].split(".")[1]))["nonce"]
        return {**data, "id_token": other_apps_token(oidc, nonce)}

    with pytest.raises(IDTokenError) as refused:
        finish_with(oidc, Intercept(swap))
    assert refused.value.reason == "wrong_audience"


def test_an_id_token_with_another_nonce_is_refused(oidc: Setup) -> None:
    earlier: list[str] = []
    finish_with(oidc, Intercept(lambda data: earlier.append(data["id_token"]) or data))
    with pytest.raises(IDTokenError) as refused:
        finish_with(oidc, Intercept(lambda data: {**data, "id_token": earlier[0]}))
    assert refused.value.reason == "wrong_nonce"
