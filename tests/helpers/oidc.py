"""A real, certified OpenID provider for the external-login tests: panva's `oidc-provider` (tests/helpers/
oidc_provider: package.json, package-lock.json, server.js, test users and clients), started on loopback; a "browser"
that follows its redirects and fills its login form; and an HTTP client that can rewrite what the token endpoint
answers (attacks use only tokens the real provider issued, or such a token altered)."""

from __future__ import annotations

import html
import json
import os
import re
import select
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx

PROVIDER_DIR = Path(__file__).resolve().parent / "oidc_provider"
SECRET = "opsledger-api-test-secret-not-for-production-0001"
OTHER_SECRET = "other-app-test-secret-not-for-production-00002"
PASSWORDS = {user: f"{user}-test-password" for user in ("alice", "bob", "carol", "dave")}
MAPPING = "opsledger-admins=admin,opsledger-operators=operator,opsledger-workers=worker"


@dataclass
class Provider:
    process: subprocess.Popen[str]
    issuer: str


def ensure_node_modules() -> None:
    """`npm ci` from the lock file when tests/deps.sh has not done it yet."""
    assert shutil.which("npm"), "npm is missing: tests/deps.sh installs Node.js"
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider" / "package.json").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PROVIDER_DIR, check=True,
                       timeout=300, capture_output=True)


def write_clients(path: Path, redirect_uri: str) -> Path:
    """The provider's clients, with our API's callback (its port is chosen per test run) registered."""
    clients = json.loads((PROVIDER_DIR / "clients.json").read_text())
    for client in clients["clients"]:
        if client["client_id"] == "opsledger-api":
            client["redirect_uris"] = [redirect_uri]
    path.write_text(json.dumps(clients))
    return path


def write_jwks(path: Path) -> Path:
    from joserfc.jwk import ECKey, RSAKey

    keys = [RSAKey.generate_key(2048, parameters={"alg": "RS256", "use": "sig"}, private=True),
            ECKey.generate_key("P-256", parameters={"alg": "ES256", "use": "sig"}, private=True)]
    path.write_text(json.dumps({"keys": [{**k.as_dict(private=True), "kid": k.thumbprint()} for k in keys]}))
    return path


@contextmanager
def running_provider(root: Path, redirect_uri: str, **env: str) -> Iterator[Provider]:
    """`node server.js` on a free loopback port (it exits when its stdin closes, so it dies with pytest)."""
    ensure_node_modules()
    log = (root / "provider.stderr").open("w")
    process = subprocess.Popen(["node", "server.js", "--port", "0"], cwd=PROVIDER_DIR, text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                               env={**os.environ, "OIDC_EXIT_ON_STDIN_CLOSE": "1",
                                    "OIDC_JWKS_FILE": str(write_jwks(root / "jwks.json")),
                                    "OIDC_CLIENTS_FILE": str(write_clients(root / "clients.json", redirect_uri)),
                                    **env})
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 60)
        line = process.stdout.readline() if ready else ""
        assert line.startswith("{") and json.loads(line).get("ready"), (root / "provider.stderr").read_text()
        yield Provider(process, json.loads(line)["issuer"])
    finally:
        process.terminate()
        process.wait(10)
        log.close()


class Browser:
    """A user agent: keeps cookies, follows redirects by hand until `stop_at`, fills the provider's login form."""

    def __init__(self) -> None:
        self.http = httpx.Client(follow_redirects=False, timeout=15)

    def run(self, url: str, stop_at: str, user: str) -> str:
        for _ in range(20):
            if url.startswith(stop_at):
                return url
            answer = self.http.get(url)
            if answer.status_code in (302, 303):
                url = urljoin(str(answer.url), answer.headers["location"])
                continue
            if answer.status_code == 200 and 'name="password"' in answer.text:
                action = re.search(r'action="([^"]+)"', answer.text)
                assert action
                posted = self.http.post(urljoin(str(answer.url), html.unescape(action.group(1))),
                                        data={"username": user, "password": PASSWORDS[user]})
                assert posted.status_code == 303, posted.text[:300]
                url = urljoin(str(posted.url), posted.headers["location"])
                continue
            raise AssertionError(f"HTTP {answer.status_code} at {url}: {answer.text[:300]}")
        raise AssertionError("too many redirects")


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


class Intercept(httpx.Client):
    """The relying party's HTTP client: real HTTP to the provider, with the token response rewritten on its way."""

    def __init__(self, on_token: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        super().__init__(follow_redirects=False, timeout=15)
        self.on_token = on_token

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:  # type: ignore[override]
        response = super().send(request, **kwargs)
        if not request.url.path.endswith("/token") or response.status_code != 200:
            return response
        response.read()
        return httpx.Response(200, json=self.on_token(json.loads(response.content)), request=request)
