"""Creating users outside HTTP: the first admin (`opsledger users create`) and the demo admin of `opsledger up`."""

from __future__ import annotations

import os
import secrets

import psycopg

from api.identity import store
from api.identity.passwords import hash_password


async def create_user(database_url: str, username: str, password: str, role: str) -> store.User:
    from api.routes.identity.auth import (
        NewUser,  # the same rules as the API: username pattern, length, not the username
    )

    NewUser.model_validate({"username": username, "password": password, "role": role})
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        return await store.create_user(conn, username, hash_password(password), role)


async def demo_admin(database_url: str) -> tuple[str, str] | None:
    """(username, password) of a new admin when there is none yet; the password is random and shown once."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        if await store.count_admins(conn):
            return None
    password = os.environ.get("OPSLEDGER_DEMO_ADMIN_PASSWORD") or secrets.token_urlsafe(18)
    await create_user(database_url, "admin", password, "admin")
    return "admin", password
