"""The login itself: `begin` (redirect to the provider) and `finish` (the callback), ID-token validation, and the
role a login maps to. Synchronous (httpx.Client): the API calls it through asyncio.to_thread."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from typing import Any

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
)

from api.identity.oidc.config import ROLES, Identity, OIDCSettings, PendingState, PendingStore, safe_return_to
from api.identity.oidc.errors import AccessDenied, IDTokenError, ProviderError, StateError
from api.identity.oidc.provider import _jwks, _signing_algs, _userinfo, exchange_code, provider_metadata


def begin(settings: OIDCSettings, *, store: PendingStore, http: httpx.Client | None = None,
          return_to: str | None = None, login_hint: str | None = None, prompt: str | None = None
          ) -> tuple[str, PendingState]:
    """Start a login: (URL of the provider's authorization endpoint to redirect to, the pending login, stored)."""
    meta = provider_metadata(settings, http)
    now = settings.clock()
    pending = PendingState(state=secrets.token_urlsafe(32), nonce=secrets.token_urlsafe(32),
                           code_verifier=secrets.token_urlsafe(64),  # 86 chars, within RFC 7636's 43..128
                           created_at=now, expires_at=now + settings.state_ttl_s,
                           return_to=safe_return_to(return_to))
    extra = {k: v for k, v in (("login_hint", login_hint), ("prompt", prompt)) if v}
    url = prepare_grant_uri(meta["authorization_endpoint"], client_id=settings.client_id, response_type="code",
                            redirect_uri=settings.redirect_uri, scope=" ".join(settings.scopes), state=pending.state,
                            nonce=pending.nonce, code_challenge=create_s256_code_challenge(pending.code_verifier),
                            code_challenge_method="S256", **extra)
    store.put(pending)
    return url, pending


def finish(query_params: Mapping[str, str], browser_state: str | None, *, settings: OIDCSettings,
           store: PendingStore, http: httpx.Client | None = None) -> Identity:
    """Complete a login from the callback's query and the state in this browser's binding cookie.

    Order matters: the state is checked and consumed before anything else, so that a replayed or forged callback
    never reaches the token endpoint, and a provider error still uses up the state."""
    state = query_params.get("state")
    if not state:
        raise StateError("missing_state", "the callback has no state parameter")
    if not browser_state:
        raise StateError("no_login_in_progress", "this browser has no login in progress (cookie missing or expired)")
    if not hmac.compare_digest(state.encode(), browser_state.encode()):
        raise StateError("state_mismatch", "the callback's state is not the one this browser started")
    pending = store.take(state)
    if pending is None:
        raise StateError("unknown_or_used_state", "this login was already completed, or never started here")
    if settings.clock() > pending.expires_at:
        raise StateError("expired_state", "the login took too long; start again")

    meta = provider_metadata(settings, http)
    iss = query_params.get("iss")
    if iss is not None and iss != settings.issuer:  # RFC 9207 mix-up defence
        raise ProviderError("issuer_mismatch", f"the response came from {iss!r}")
    if iss is None and meta.get("authorization_response_iss_parameter_supported"):
        raise ProviderError("issuer_missing", "the provider promises an iss parameter but sent none")
    if "error" in query_params:
        raise ProviderError(query_params["error"], query_params.get("error_description", ""))
    code = query_params.get("code")
    if not code:
        raise ProviderError("missing_code", "the callback has neither code nor error")

    token = exchange_code(settings, meta, code, pending.code_verifier, http)

    claims = validate_id_token(token.get("id_token"), settings=settings, nonce=pending.nonce,
                               access_token=token.get("access_token"), http=http)
    if settings.fetch_userinfo and meta.get("userinfo_endpoint"):
        claims = {**_userinfo(settings, meta, token["access_token"], claims["sub"], http), **claims}
    return identity_from_claims(claims, settings, return_to=pending.return_to)


_CLAIM_REASONS = {"iss": "wrong_issuer", "aud": "wrong_audience", "azp": "wrong_azp", "nonce": "wrong_nonce",
                  "iat": "issued_in_future", "nbf": "not_yet_valid", "at_hash": "wrong_at_hash", "exp": "expired"}


def validate_id_token(id_token: Any, *, settings: OIDCSettings, nonce: str, access_token: str | None = None,
                      http: httpx.Client | None = None) -> dict[str, Any]:
    """The claims of a genuine ID token meant for us, or IDTokenError with a precise reason."""
    if not isinstance(id_token, str) or not id_token:
        raise IDTokenError("missing_id_token", "the token response has no id_token")
    meta = provider_metadata(settings, http)
    algs = _signing_algs(settings, meta)
    try:
        header = jws.extract_compact(id_token.encode()).protected
    except (JoseError, ValueError, TypeError) as e:
        raise IDTokenError("malformed", f"{type(e).__name__}") from e
    if header.get("alg") not in algs:  # covers "none", HS256 with the public key as secret, and the like
        raise IDTokenError("alg_not_allowed", f"alg {header.get('alg')!r} is not one of {algs}")
    if "crit" in header or header.get("typ") not in (None, "JWT"):  # a plain JWS JWT, nothing exotic
        raise IDTokenError("malformed", "unexpected JOSE header")

    keys = _jwks(settings, meta, http)
    assert keys is not None  # only a forced refetch can answer None
    try:
        try:
            token = jwt.decode(id_token, keys, algorithms=algs)
        except InvalidKeyIdError:  # maybe the provider rotated its keys: refetch once, then give up
            fresh = _jwks(settings, meta, http, force=True)
            if fresh is None:
                raise
            token = jwt.decode(id_token, fresh, algorithms=algs)
    except InvalidKeyIdError as e:
        raise IDTokenError("unknown_key", f"no key {header.get('kid')!r} in the provider's JWKS") from e
    except BadSignatureError as e:
        raise IDTokenError("bad_signature", "the signature does not verify") from e
    except JoseError as e:
        raise IDTokenError("malformed", f"{type(e).__name__}: {e}") from e

    claims = dict(token.claims)
    # The two "is this token for us at all" checks first, in a fixed order, so the reason is deterministic.
    if claims.get("iss") != settings.issuer:
        raise IDTokenError("wrong_issuer", f"iss {claims.get('iss')!r}")
    aud = claims.get("aud")
    if not (aud == settings.client_id or (isinstance(aud, list) and settings.client_id in aud)):
        raise IDTokenError("wrong_audience", f"aud {aud!r}")

    now = int(settings.clock())
    options: dict[str, Any] = {k: {"essential": True} for k in ("sub", "exp", "iat")}
    options |= {"iss": {"essential": True, "value": settings.issuer},
                "aud": {"essential": True, "value": settings.client_id},
                "nonce": {"essential": True, "value": nonce}}
    params = {"nonce": nonce, "client_id": settings.client_id, "access_token": access_token}
    try:
        CodeIDToken(claims, header, options, params).validate(now=now, leeway=settings.leeway_s)
    except ExpiredTokenError as e:
        raise IDTokenError("expired", f"exp {claims.get('exp')} <= now {now} - leeway") from e
    except MissingClaimError as e:
        raise IDTokenError("missing_claim", e.claim) from e
    except InvalidClaimError as e:
        raise IDTokenError(_CLAIM_REASONS.get(e.claim, "invalid_claim"), str(e)) from e
    if claims["iat"] < now - settings.max_id_token_age_s - settings.leeway_s:
        raise IDTokenError("too_old", f"iat {claims['iat']} is older than {settings.max_id_token_age_s}s")
    if not isinstance(claims.get("sub"), str) or not claims["sub"] or len(claims["sub"]) > 255:
        raise IDTokenError("invalid_claim", "sub")
    return claims


# --- roles ------------------------------------------------------------------------------------------------------

def _claim(claims: Mapping[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def map_role(claims: Mapping[str, Any], settings: OIDCSettings) -> tuple[str, bool]:
    """(role, came from the claim). The claim may be a string or a list (e.g. groups); with several mapped
    values the most privileged role wins. Unmapped values are ignored."""
    raw = _claim(claims, settings.role_claim)
    values = [raw] if isinstance(raw, str) else [v for v in raw if isinstance(v, str)] if isinstance(raw, list) \
        else []
    mapped = {settings.role_mapping[v] for v in values if v in settings.role_mapping}
    for role in ROLES:
        if role in mapped:
            return role, True
    if settings.default_role is None:
        raise AccessDenied("no_role", f"no value of claim {settings.role_claim!r} maps to an Opsledger role")
    return settings.default_role, False


def identity_from_claims(claims: Mapping[str, Any], settings: OIDCSettings, return_to: str = "/") -> Identity:
    role, from_claim = map_role(claims, settings)
    username = claims.get(settings.username_claim)
    email = claims.get("email")
    return Identity(issuer=settings.issuer, subject=claims["sub"],
                    username=username if isinstance(username, str) else None,
                    email=email if isinstance(email, str) else None,
                    email_verified=claims.get("email_verified") is True,
                    role=role, role_from_claim=from_claim, claims=dict(claims), return_to=return_to)
