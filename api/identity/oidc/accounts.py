"""What an external login becomes here: the relying party's settings from OPSLEDGER_OIDC_*, pending logins kept in
Postgres (taken once, across API processes), the local user an external account maps to (provisioned on its first
login, keyed by issuer and subject, never by username or e-mail), and the one-time code the browser trades for the
API's own tokens."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg

from api.identity import store
from api.identity.oidc.config import Identity, OIDCSettings, PendingState
from api.identity.tokens import digest
from api.problems import Problem
from infra.settings import OidcSettings, Settings

EXTERNAL_PASSWORD = "!external-login"  # not an argon2 hash: a password login of such a user always fails
LOGIN_CODE_TTL_S = 60
USERNAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def relying_party(oidc: OidcSettings) -> OIDCSettings | None:
    """The relying party's settings, or None when no issuer is configured (external login off)."""
    if not oidc.issuer:
        return None
    pairs = (item.split("=", 1) for item in oidc.role_mapping.split(",") if "=" in item)
    return OIDCSettings(
        issuer=oidc.issuer, client_id=oidc.client_id, redirect_uri=oidc.redirect_uri,
        client_secret=oidc.client_secret.get_secret_value() if oidc.client_secret else None,
        scopes=tuple(oidc.scopes.split()), role_claim=oidc.role_claim,
        role_mapping={k.strip(): v.strip() for k, v in pairs}, default_role=oidc.default_role or None,
        username_claim=oidc.username_claim, allowed_algs=tuple(oidc.allowed_algs.split()),
        fetch_userinfo=oidc.fetch_userinfo, discovery_url=oidc.discovery_url or None)


def cookie_secret(settings: Settings) -> str:
    """The binding cookie's signing key, derived from the JWT secret (one secret fewer to manage)."""
    assert settings.jwt_secret is not None
    return hmac.new(settings.jwt_secret.get_secret_value().encode(), b"opsledger-oidc-binding",
                    hashlib.sha256).hexdigest()


class PgPendingStore:
    """Pending logins in oidc_pending, keyed by sha256(state): `take` is DELETE ... RETURNING, so a state works at
    most once even with several API processes. Synchronous, like the relying party that calls it (in a thread)."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    def put(self, pending: PendingState) -> None:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute("DELETE FROM oidc_pending WHERE expires_at < %s", (time.time() - 3600,))
            conn.execute("INSERT INTO oidc_pending (state_hash, nonce, code_verifier, return_to, created_at,"
                         " expires_at) VALUES (%s, %s, %s, %s, %s, %s)",
                         (digest(pending.state), pending.nonce, pending.code_verifier, pending.return_to,
                          pending.created_at, pending.expires_at))

    def take(self, state: str) -> PendingState | None:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            row = conn.execute("DELETE FROM oidc_pending WHERE state_hash = %s RETURNING nonce, code_verifier,"
                               " created_at, expires_at, return_to", (digest(state),)).fetchone()
        return None if row is None else PendingState(state, row[0], row[1], row[2], row[3], row[4])


def username_from(identity: Identity) -> str:
    """A local username from the provider's (display only): the allowed characters, 3 to 28 of them."""
    wanted = identity.username or (identity.email or "").split("@")[0] or "user"
    cleaned = USERNAME_CHARS.sub("-", wanted).strip("._-")[:28] or "user"
    return cleaned if len(cleaned) >= 3 else f"{cleaned}-user"


async def user_for(conn: psycopg.AsyncConnection, identity: Identity) -> store.User:
    """The local user of this external account: found by (issuer, subject), else provisioned with the mapped role
    and a free username. A role that came from the provider's claim follows it on every login (a removed group
    demotes); a default role leaves what an admin set. A deactivated user stays refused."""
    row = await (await conn.execute("UPDATE oidc_identities SET last_login_at = now() WHERE issuer = %s AND"
                                    " subject = %s RETURNING user_id", (identity.issuer, identity.subject))).fetchone()
    if row is not None:
        user = await store.user_by_id(conn, row[0])
        assert user is not None
        if identity.role_from_claim and user.role != identity.role:
            user = await store.update_user(conn, user.id, role=identity.role, active=None) or user
    else:
        user = await provision(conn, identity)
    if not user.active:
        raise Problem(403, "This account is deactivated; ask an administrator.")
    return user


async def provision(conn: psycopg.AsyncConnection, identity: Identity) -> store.User:
    base = username_from(identity)
    for n in range(1, 100):
        candidate = base if n == 1 else f"{base}-{n}"
        if await store.user_by_name(conn, candidate) is None:
            try:
                user = await store.create_user(conn, candidate, EXTERNAL_PASSWORD, identity.role)
            except store.UsernameTaken:
                continue
            await conn.execute("INSERT INTO oidc_identities (issuer, subject, user_id) VALUES (%s, %s, %s)",
                               (identity.issuer, identity.subject, user.id))
            return user
    raise Problem(409, "No free username could be made for this account; ask an administrator.")


async def new_login_code(conn: psycopg.AsyncConnection, user_id: uuid.UUID) -> str:
    code = secrets.token_urlsafe(32)
    await conn.execute("DELETE FROM oidc_login_codes WHERE expires_at < now()")
    await conn.execute("INSERT INTO oidc_login_codes (code_hash, user_id, expires_at) VALUES (%s, %s, %s)",
                       (digest(code), user_id, datetime.now(UTC) + timedelta(seconds=LOGIN_CODE_TTL_S)))
    return code


async def take_login_code(conn: psycopg.AsyncConnection, code: str) -> uuid.UUID | None:
    row = await (await conn.execute("DELETE FROM oidc_login_codes WHERE code_hash = %s AND expires_at > now()"
                                    " RETURNING user_id", (digest(code),))).fetchone()
    return None if row is None else row[0]
