"""Device and camera secrets, encrypted at rest in Postgres (device_secrets) with Fernet keys from settings.

OPSLEDGER_SECRETS_KEYS is a comma-separated list of Fernet keys: the first encrypts, every one decrypts, so a key is
rotated by putting a new one first, running `opsledger secrets-rotate` (re-encrypts every row with it), then dropping
the old one. There is no default key: `opsledger up` makes one per data directory (file mode 0600).

A row is immutable per (owner_id, version): a registry event names the version it goes with, so a poller never pairs
a device's new address with its old community (or the reverse). Secrets never reach an event, a log line or a
response; the API writes the row in the same request that emits the registry event.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import orjson
import psycopg
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

INSERT = ("INSERT INTO device_secrets (owner_id, version, ciphertext) VALUES (%s, %s, %s)"
          " ON CONFLICT (owner_id, version) DO UPDATE SET ciphertext = EXCLUDED.ciphertext, created_at = now()")
SELECT = "SELECT ciphertext FROM device_secrets WHERE owner_id = %s AND version = %s"
SELECT_MANY = "SELECT owner_id, version, ciphertext FROM device_secrets WHERE owner_id = ANY(%s)"
DELETE = "DELETE FROM device_secrets WHERE owner_id = %s"
ALL = "SELECT owner_id, version, ciphertext FROM device_secrets FOR UPDATE"
REWRITE = "UPDATE device_secrets SET ciphertext = %s WHERE owner_id = %s AND version = %s"


class SecretsUnavailable(RuntimeError):
    """No key is configured, or a stored secret does not decrypt with any configured key."""


class SecretBox:
    """Encrypts a small mapping of secrets with the first key; decrypts with any key."""

    def __init__(self, keys: str | None) -> None:
        found = [key.strip() for key in (keys or "").split(",") if key.strip()]
        if not found:
            raise SecretsUnavailable("OPSLEDGER_SECRETS_KEYS is not set: no device or camera secret can be kept")
        try:
            self._fernet = MultiFernet([Fernet(key.encode()) for key in found])
        except ValueError as e:  # not 32 url-safe base64-encoded bytes
            raise SecretsUnavailable("OPSLEDGER_SECRETS_KEYS holds a key that is not a Fernet key") from e

    def __repr__(self) -> str:
        return "SecretBox(<keys hidden>)"

    def seal(self, values: Mapping[str, str | None]) -> bytes:
        return self._fernet.encrypt(orjson.dumps(dict(values)))

    def open(self, token: bytes) -> dict[str, str | None]:
        try:
            values = orjson.loads(self._fernet.decrypt(bytes(token)))
        except InvalidToken as e:
            raise SecretsUnavailable("a stored secret does not decrypt with any configured key") from e
        return dict(values)

    def rotate(self, token: bytes) -> bytes:
        return self._fernet.rotate(bytes(token))


async def put(conn: psycopg.AsyncConnection, box: SecretBox, owner_id: str, version: int,
              values: Mapping[str, str | None]) -> None:
    await conn.execute(INSERT, (owner_id, version, box.seal(values)))


async def get(conn: psycopg.AsyncConnection, box: SecretBox, owner_id: str, version: int) -> dict[str, str | None]:
    row = await (await conn.execute(SELECT, (owner_id, version))).fetchone()
    if row is None:
        raise SecretsUnavailable(f"no stored secrets for {owner_id} version {version}")
    return box.open(row[0])


async def get_many(conn: psycopg.AsyncConnection, box: SecretBox,
                   owner_ids: list[str]) -> dict[tuple[str, int], bytes]:
    """Ciphertexts by (owner, version); opened one by one by the caller, so one bad row spoils only its owner."""
    rows = await (await conn.execute(SELECT_MANY, (owner_ids,))).fetchall()
    return {(owner, version): bytes(token) for owner, version, token in rows}


async def forget(conn: psycopg.AsyncConnection, owner_id: str) -> None:
    await conn.execute(DELETE, (owner_id,))


def rotate_all(database_url: str, box: SecretBox) -> int:
    """Re-encrypt every stored secret with the first key; returns how many rows were rewritten."""
    with psycopg.connect(database_url) as conn, conn.transaction():
        rows = conn.execute(ALL).fetchall()
        for owner, version, token in rows:
            conn.execute(REWRITE, (box.rotate(bytes(token)), owner, version))
    return len(rows)


def secret_file(data_dir: Path, name: str, make: Callable[[], str]) -> str:
    """A secret of this data directory (the embedded stack's JWT secret, its Fernet key), made once by `make` and
    kept in a file only its owner may read (mode 0600, created exclusively so two starts cannot race)."""
    path = data_dir / name
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(make())
    return path.read_text().strip()


def new_key() -> str:
    return Fernet.generate_key().decode()
