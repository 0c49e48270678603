"""The provider's discovery document and keys (cached per process), the token exchange, userinfo."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.common.security import is_secure_transport
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_token_request
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from api.identity.oidc.config import ASYMMETRIC_ALGS, OIDCSettings
from api.identity.oidc.errors import DiscoveryError, IDTokenError, TokenExchangeError


@dataclass
class _ProviderCache:
    metadata: dict[str, Any]
    fetched_at: float
    jwks: dict[str, Any] | None = None
    jwks_fetched_at: float = 0.0


_cache: dict[tuple[str, str], _ProviderCache] = {}
_cache_lock = threading.Lock()


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


_shared_http: httpx.Client | None = None


def _http(http: httpx.Client | None) -> httpx.Client:
    """The caller's client, or one shared client: building an httpx.Client (its TLS context) costs ~0.1 s."""
    global _shared_http
    if http is not None:
        return http
    with _cache_lock:
        if _shared_http is None:
            _shared_http = httpx.Client(follow_redirects=False)
        return _shared_http


def _get_json(settings: OIDCSettings, url: str, http: httpx.Client | None) -> dict[str, Any]:
    try:
        resp = _http(http).get(url, timeout=settings.http_timeout_s, headers={"Accept": "application/json"})
        resp.raise_for_status()
        data = resp.json()
    except (httpx.HTTPError, ValueError) as e:
        raise DiscoveryError("unreachable", f"GET {url}: {type(e).__name__}: {e}") from e
    if not isinstance(data, dict):
        raise DiscoveryError("malformed", f"{url} did not return a JSON object")
    return data


def provider_metadata(settings: OIDCSettings, http: httpx.Client | None = None) -> dict[str, Any]:
    """The discovery document, checked (OIDC Discovery §4.3: its `issuer` must equal ours) and cached."""
    url = settings.discovery_url or settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
    key = (settings.issuer, url)
    with _cache_lock:
        hit = _cache.get(key)
    if hit and settings.clock() - hit.fetched_at < settings.metadata_ttl_s:
        _signing_algs(settings, hit.metadata)  # cached per issuer, but the allowed algs are per settings
        return hit.metadata
    meta = _get_json(settings, url, http)
    if meta.get("issuer") != settings.issuer:
        raise DiscoveryError("issuer_mismatch",
                             f"discovery at {url} names issuer {meta.get('issuer')!r}, expected {settings.issuer!r}")
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(meta.get(name), str) or not is_secure_transport(meta[name]):
            raise DiscoveryError("malformed", f"discovery has no usable {name}")
    if "code" not in meta.get("response_types_supported", ["code"]):
        raise DiscoveryError("unsupported", "the provider does not support response_type=code")
    methods = meta.get("code_challenge_methods_supported")
    if methods is not None and "S256" not in methods:
        raise DiscoveryError("unsupported", "the provider does not support PKCE S256")
    _signing_algs(settings, meta)  # fail early when no acceptable algorithm is left
    with _cache_lock:
        _cache[key] = _ProviderCache(meta, settings.clock())
    return meta


def _signing_algs(settings: OIDCSettings, meta: Mapping[str, Any]) -> list[str]:
    """The algorithms an ID token may use: what discovery advertises and we allow; never none or HMAC."""
    advertised = meta.get("id_token_signing_alg_values_supported") or ["RS256"]  # RS256 is the spec default
    algs = [a for a in advertised if a in settings.allowed_algs and a in ASYMMETRIC_ALGS]
    if not algs:
        raise DiscoveryError("no_acceptable_alg", f"provider signs with {advertised}, allowed {settings.allowed_algs}")
    return algs


def _jwks(settings: OIDCSettings, meta: Mapping[str, Any], http: httpx.Client | None,
          force: bool = False) -> KeySet | None:
    """The provider's signature keys; `force` refetches unless that happened within jwks_min_refresh_s
    (then None: nothing new to try)."""
    url = settings.discovery_url or settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
    with _cache_lock:
        entry = _cache.get((settings.issuer, url))
    now = settings.clock()
    if entry is None:
        raise DiscoveryError("no_metadata", "metadata must be loaded first")
    if entry.jwks is not None and not force:
        data = entry.jwks
    elif force and entry.jwks is not None and now - entry.jwks_fetched_at < settings.jwks_min_refresh_s:
        return None
    else:
        data = _get_json(settings, meta["jwks_uri"], http)
        with _cache_lock:
            entry.jwks, entry.jwks_fetched_at = data, now
    keys = [k for k in data.get("keys", []) if isinstance(k, dict) and k.get("use", "sig") == "sig"
            and k.get("kty") in ("RSA", "EC", "OKP")]  # never an "oct" key: no HMAC with public material
    try:
        return KeySet.import_key_set({"keys": keys})
    except (JoseError, ValueError, TypeError) as e:
        raise DiscoveryError("bad_jwks", f"{type(e).__name__}: {e}") from e


def exchange_code(settings: OIDCSettings, meta: Mapping[str, Any], code: str, code_verifier: str,
                  http: httpx.Client | None = None) -> dict[str, Any]:
    """POST the code and the PKCE verifier to the token endpoint, with this client's authentication."""
    body = prepare_token_request("authorization_code", code=code, redirect_uri=settings.redirect_uri,
                                 code_verifier=code_verifier)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    auth = ClientAuth(settings.client_id, settings.client_secret, settings.token_endpoint_auth_method)
    url, headers, body = auth.prepare("POST", meta["token_endpoint"], headers, body)
    try:
        resp = _http(http).post(url, content=body, headers=headers, timeout=settings.http_timeout_s)
    except httpx.HTTPError as e:
        raise TokenExchangeError("token_endpoint_unreachable", f"{type(e).__name__}: {e}") from e
    try:
        token = resp.json()
    except ValueError as e:
        raise TokenExchangeError("malformed_token_response", f"HTTP {resp.status_code}, not JSON") from e
    if not isinstance(token, dict):
        raise TokenExchangeError("malformed_token_response", "not a JSON object")
    if resp.status_code != 200 or "error" in token:
        raise TokenExchangeError(str(token.get("error", f"http_{resp.status_code}")),
                                 str(token.get("error_description", "")))
    if str(token.get("token_type", "")).lower() != "bearer" or not isinstance(token.get("access_token"), str):
        raise TokenExchangeError("unexpected_token_type", str(token.get("token_type")))
    return token


def _userinfo(settings: OIDCSettings, meta: Mapping[str, Any], access_token: str, sub: str,
              http: httpx.Client | None) -> dict[str, Any]:
    try:
        resp = _http(http).get(meta["userinfo_endpoint"], timeout=settings.http_timeout_s,
                               headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"})
        resp.raise_for_status()
        info = resp.json()
    except (httpx.HTTPError, ValueError) as e:
        raise DiscoveryError("userinfo_failed", f"{type(e).__name__}: {e}") from e
    if not isinstance(info, dict) or info.get("sub") != sub:  # OIDC Core §5.3.2: must be the same subject
        raise IDTokenError("userinfo_subject_mismatch", "userinfo is about someone else")
    return info
