"""Access JWTs (short-lived, algorithm pinned), opaque refresh tokens and API keys (stored as sha256)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from infra.settings import Settings

ALGORITHM = "HS256"
API_KEY_PREFIX = "olk_"


class InvalidToken(Exception):
    """A credential that is malformed, forged, expired or otherwise unacceptable."""


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    role: str
    jti: uuid.UUID
    expires_at: datetime
    session_id: uuid.UUID  # the sign-in (sessions row) it was issued for: revoking that ends the token too


def _secret(settings: Settings) -> str:
    if settings.jwt_secret is None:
        raise RuntimeError("OPSLEDGER_JWT_SECRET is not set")
    return settings.jwt_secret.get_secret_value()


def issue_access_token(user_id: uuid.UUID, role: str, settings: Settings, session_id: uuid.UUID,
                       session_ends: datetime | None = None) -> tuple[str, AccessClaims]:
    """A short-lived JWT, never outliving its session (`session_ends`: the session's absolute end)."""
    now = datetime.now(UTC)
    expires = now + timedelta(seconds=settings.access_token_ttl_s)
    claims = AccessClaims(user_id, role, uuid.uuid4(), min(expires, session_ends or expires), session_id)
    payload = {"iss": settings.jwt_issuer, "aud": settings.jwt_audience, "sub": str(user_id), "role": role,
               "jti": str(claims.jti), "sid": str(session_id), "iat": now, "nbf": now, "exp": claims.expires_at}
    return jwt.encode(payload, _secret(settings), algorithm=ALGORITHM), claims


def decode_access_token(token: str, settings: Settings) -> AccessClaims:
    try:
        payload = jwt.decode(token, _secret(settings), algorithms=[ALGORITHM], audience=settings.jwt_audience,
                             issuer=settings.jwt_issuer, leeway=5,
                             options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti", "sid"]})
        return AccessClaims(uuid.UUID(payload["sub"]), str(payload.get("role", "")), uuid.UUID(payload["jti"]),
                            datetime.fromtimestamp(payload["exp"], UTC), uuid.UUID(payload["sid"]))
    except (jwt.PyJWTError, ValueError, KeyError, TypeError) as e:
        raise InvalidToken(type(e).__name__) from e


def digest(secret: str) -> str:
    """Refresh tokens and API keys are 256-bit random strings: sha256 is enough to store them."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def new_api_key() -> tuple[str, str]:
    """(the key shown once, its public prefix)."""
    prefix = secrets.token_hex(4)
    return f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}", prefix
