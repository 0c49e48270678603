"""Optional HMAC signing of ML requests, with the outgoing webhooks' scheme (projections/alerts/notify/webhook.py):
`X-Opsledger-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + message)>`, where the message is
`<METHOD> <path and query>\n<body>` (so a signed read's query is covered too). An admin turns signing on for an API
key (`POST /api/ml/keys/{key_id}/signing`, the secret shown once); from then on every ML request made with that key
must be signed, within OPSLEDGER_ANALYTICS_SIGNATURE_TOLERANCE_S of the server's clock, and each signature is
accepted once (request_signatures), so a captured request cannot be replayed. The secret is kept encrypted like
device secrets (infra/secrets.py: Fernet, rotated by `opsledger secrets-rotate`).
"""

from __future__ import annotations

import secrets
import time
import uuid

import psycopg
from fastapi import Request

from api.identity.principal import CurrentPrincipal
from api.problems import Problem
from api.routes.devices.deps import secret_box
from infra import secrets as vault
from infra.secrets import SecretBox
from projections.alerts.notify.webhook import SIGNATURE_HEADER, sign, verify

REMEMBER = "INSERT INTO request_signatures (signature, key_id) VALUES (%s, %s) ON CONFLICT DO NOTHING RETURNING 1"
FORGET_OLD = "DELETE FROM request_signatures WHERE seen_at < now() - make_interval(secs => %s)"
SECRET_BYTES = 32


def owner_of(key_id: uuid.UUID) -> str:
    """The device_secrets row of a key's signing secret."""
    return f"signing:{key_id}"


def message(method: str, target: str, body: bytes) -> bytes:
    return f"{method} {target}\n".encode() + body


def signature(secret: str, method: str, target: str, body: bytes, at: int | None = None) -> str:
    """What a client sends as X-Opsledger-Signature (tests and clients use this)."""
    return sign(secret, message(method, target, body), int(time.time()) if at is None else at)


async def enable(conn: psycopg.AsyncConnection, box: SecretBox, key_id: uuid.UUID) -> str:
    secret = secrets.token_urlsafe(SECRET_BYTES)
    await vault.put(conn, box, owner_of(key_id), 1, {"secret": secret})
    return secret


async def disable(conn: psycopg.AsyncConnection, key_id: uuid.UUID) -> None:
    await vault.forget(conn, owner_of(key_id))


async def check(request: Request, principal: CurrentPrincipal) -> None:
    """Dependency of every ML route: 401 when the key signs its requests and this one is unsigned, wrongly signed,
    stale or seen before."""
    if principal.kind != "key":
        return
    tolerance_s = request.app.state.settings.analytics.signature_tolerance_s
    async with request.app.state.pool.connection() as conn:
        row = await (await conn.execute(vault.SELECT, (owner_of(principal.id), 1))).fetchone()
        if row is None:
            return  # this key does not sign
        secret = secret_box(request).open(row[0])["secret"] or ""
        header = request.headers.get(SIGNATURE_HEADER, "")
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        body = await request.body()
        if not verify(secret, header, message(request.method, target, body), now=time.time(),
                      tolerance_s=tolerance_s):
            raise Problem(401, f"This API key signs its requests: send a valid, fresh {SIGNATURE_HEADER}.")
        if await (await conn.execute(REMEMBER, (header, principal.id))).fetchone() is None:
            raise Problem(401, "This signed request was already received; sign each request anew.")
        if secrets.randbelow(100) == 0:
            await conn.execute(FORGET_OLD, (2 * tolerance_s,))
