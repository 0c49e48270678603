"""The relying party's settings, a pending login, the identity a login proves, the pending-login store's protocol,
and the signed cookie that binds a pending login to the browser that started it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from authlib.common.security import is_secure_transport
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from api.identity.oidc.errors import ConfigurationError

ROLES = ("admin", "operator", "worker", "viewer")  # most to least privileged, as in api/routes/auth.py
ASYMMETRIC_ALGS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                             "ES256", "ES384", "ES512", "EdDSA"})
BINDING_COOKIE = "opsledger_oidc"


@dataclass(frozen=True)
class OIDCSettings:
    issuer: str
    client_id: str
    redirect_uri: str
    client_secret: str | None = None  # None: public client, PKCE only (token_endpoint_auth_method "none")
    token_endpoint_auth_method: str = "client_secret_basic"
    scopes: tuple[str, ...] = ("openid", "profile", "email")
    role_claim: str = "groups"  # a dotted path is allowed, e.g. "realm_access.roles" (Keycloak)
    role_mapping: Mapping[str, str] = field(default_factory=dict)  # claim value -> Opsledger role
    default_role: str | None = "viewer"  # role when nothing maps; None refuses such logins
    username_claim: str = "preferred_username"
    allowed_algs: tuple[str, ...] = ("RS256", "PS256", "ES256", "EdDSA")
    fetch_userinfo: bool = False  # merge userinfo claims (sub must match) for providers that keep claims there
    discovery_url: str | None = None  # default: issuer + /.well-known/openid-configuration
    http_timeout_s: float = 5.0
    metadata_ttl_s: float = 3600.0
    jwks_min_refresh_s: float = 30.0  # an unknown kid refetches the JWKS at most this often
    state_ttl_s: int = 600
    leeway_s: int = 60
    max_id_token_age_s: int = 600
    clock: Callable[[], float] = time.time  # injectable for tests

    def __post_init__(self) -> None:
        if not self.issuer or "?" in self.issuer or "#" in self.issuer:
            raise ConfigurationError("bad_issuer", f"issuer {self.issuer!r} is not a valid issuer URL")
        for url in (self.issuer, self.redirect_uri, self.discovery_url):
            if url and not is_secure_transport(url):
                raise ConfigurationError("insecure_url", f"{url} is neither https nor a loopback http URL")
        if "openid" not in self.scopes:
            raise ConfigurationError("scopes", "the scopes must include 'openid'")
        bad = [a for a in self.allowed_algs if a not in ASYMMETRIC_ALGS]
        if bad or not self.allowed_algs:
            raise ConfigurationError("allowed_algs", f"only asymmetric JWS algorithms may be allowed, not {bad}")
        wrong_roles = {r for r in self.role_mapping.values() if r not in ROLES}
        if wrong_roles or (self.default_role is not None and self.default_role not in ROLES):
            raise ConfigurationError("roles", f"unknown role(s) {sorted(wrong_roles) or self.default_role}")
        if self.client_secret is None and self.token_endpoint_auth_method != "none":
            object.__setattr__(self, "token_endpoint_auth_method", "none")


@dataclass(frozen=True)
class PendingState:
    state: str
    nonce: str
    code_verifier: str
    created_at: float
    expires_at: float
    return_to: str = "/"


@dataclass(frozen=True)
class Identity:
    issuer: str
    subject: str  # with issuer, the stable key of the external account: never link on username or email
    username: str | None
    email: str | None
    email_verified: bool
    role: str
    role_from_claim: bool  # False: default_role was used (keep an admin-set role on later logins)
    claims: Mapping[str, Any]
    return_to: str = "/"  # the same-site path given to begin(), for the final redirect


# --- the one-time store of pending logins -----------------------------------------------------------------------

class PendingStore(Protocol):
    def put(self, pending: PendingState) -> None: ...

    def take(self, state: str) -> PendingState | None:
        """Remove and return the pending login for `state`, atomically; None when absent (or used before)."""


class MemoryPendingStore:
    """A process-local store for tests and a single-process API; the API should use a Postgres table."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._items: dict[str, PendingState] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def put(self, pending: PendingState) -> None:
        with self._lock:
            now = self._clock()
            for k in [k for k, v in self._items.items() if v.expires_at < now - 3600]:
                del self._items[k]  # keep it bounded; expired ones are still reported as expired for an hour
            self._items[pending.state] = pending

    def take(self, state: str) -> PendingState | None:
        with self._lock:
            return self._items.pop(state, None)

    def __len__(self) -> int:
        return len(self._items)


# --- the browser binding cookie -------------------------------------------------------------------------------

def binding_cookie(state: str, secret: str) -> str:
    """The signed cookie value tying a pending login to this browser. Set it httpOnly, Secure (https),
    SameSite=Lax (Strict would drop it on the top-level redirect back from the provider),
    Path=/api/auth/oidc, Max-Age=state_ttl_s."""
    return URLSafeTimedSerializer(secret, salt="opsledger-oidc-binding").dumps(state)


def read_binding_cookie(value: str | None, secret: str, max_age_s: int) -> str | None:
    """The state in a genuine, unexpired binding cookie, else None (finish() then raises StateError)."""
    if not value:
        return None
    try:
        state = URLSafeTimedSerializer(secret, salt="opsledger-oidc-binding").loads(value, max_age=max_age_s)
    except (BadSignature, SignatureExpired):
        return None
    return state if isinstance(state, str) else None


def safe_return_to(value: str | None) -> str:
    """A same-site path to land on after login; anything else (absolute URL, //host, backslashes) becomes '/'."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or "\n" in value:
        return "/"
    return value
