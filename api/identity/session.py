"""The browser session of the console: the same tokens as the API, kept in cookies scripts cannot read.

Why cookies and not tokens in browser storage: an httpOnly cookie cannot be read by any script, so an injected
script (which the console's strict CSP already makes hard) still cannot carry the session away. The cost of cookies
is cross-site request forgery, answered twice: every cookie is SameSite=Strict (another site's page cannot make the
browser send it), and every state-changing request authenticated by the cookie must carry `X-CSRF-Token`: an HMAC
of the session's random nonce under the server secret, written into each page the server renders (signed
double-submit, OWASP). A sub-domain that could plant cookies still cannot compute it. WebSockets carry no custom
header, so a cookie-authenticated upgrade must come from this origin (the Origin header), which browsers set and
pages cannot forge.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection
from starlette.responses import Response

from infra.settings import Settings

ACCESS_COOKIE = "ol_session"  # the access JWT (short-lived)
REFRESH_COOKIE = "ol_refresh"  # the refresh token, sent only to the session routes
CSRF_COOKIE = "ol_csrf"  # the nonce the CSRF token is computed from
CSRF_HEADER = "x-csrf-token"
REFRESH_PATH = "/session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token(settings: Settings, nonce: str) -> str:
    assert settings.jwt_secret is not None
    mac = hmac.new(settings.jwt_secret.get_secret_value().encode(), b"csrf:" + nonce.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


def csrf_of(request: HTTPConnection) -> str | None:
    """The token a page of this session must send back (None without a session)."""
    nonce = request.cookies.get(CSRF_COOKIE)
    return csrf_token(request.app.state.settings, nonce) if nonce else None


def csrf_ok(request: HTTPConnection) -> bool:
    expected, given = csrf_of(request), request.headers.get(CSRF_HEADER, "")
    return expected is not None and hmac.compare_digest(expected, given)


def same_origin(request: HTTPConnection) -> bool:
    """Whether the browser says the request comes from this site: Sec-Fetch-Site, or an Origin header naming this
    server (browsers set both; a page cannot)."""
    if request.headers.get("sec-fetch-site") == "same-origin":
        return True
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return False
    return urlsplit(origin).netloc.lower() == request.headers.get("host", "").lower()


def cookie_credentials(request: HTTPConnection) -> str | None:
    """The session cookie's access token, unless it may not be trusted here (a WebSocket from another origin)."""
    token = request.cookies.get(ACCESS_COOKIE)
    if token and request.scope["type"] == "websocket" and not same_origin(request):
        return None
    return token or None


def _secure(request: HTTPConnection) -> bool:
    if request.url.scheme == "https":
        return True
    return bool(request.app.state.settings.trust_forwarded and request.headers.get("x-forwarded-proto") == "https")


def set_session(request: HTTPConnection, response: Response, access: str, refresh: str, access_ttl_s: int,
                refresh_ttl_s: int, nonce: str | None = None) -> None:
    secure = _secure(request)
    common = {"httponly": True, "samesite": "strict", "secure": secure}
    response.set_cookie(ACCESS_COOKIE, access, max_age=access_ttl_s, path="/", **common)  # type: ignore[arg-type]
    response.set_cookie(REFRESH_COOKIE, refresh, max_age=refresh_ttl_s, path=REFRESH_PATH,
                        **common)  # type: ignore[arg-type]
    response.set_cookie(CSRF_COOKIE, nonce or request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24),
                        max_age=refresh_ttl_s, path="/", **common)  # type: ignore[arg-type]


def clear_session(response: Response) -> None:
    for name, path in ((ACCESS_COOKIE, "/"), (REFRESH_COOKIE, REFRESH_PATH), (CSRF_COOKIE, "/")):
        response.delete_cookie(name, path=path)
