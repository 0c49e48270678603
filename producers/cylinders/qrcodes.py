"""Cylinder QR codes: opaque, unguessable (60 random bits), with a check character against typos and misreads."""

from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
PREFIX = "CYL-"


def check_character(body: str) -> str:
    """Luhn mod 32 over the Crockford alphabet: catches every single-character error and every adjacent swap but
    one (0 <-> Z, the values 0 and 31; like 09/90 in Luhn mod 10)."""
    factor, total, n = 2, 0, len(ALPHABET)
    for char in reversed(body):
        addend = factor * ALPHABET.index(char)
        total += addend // n + addend % n
        factor = 1 if factor == 2 else 2
    return ALPHABET[(n - total % n) % n]


def new_code() -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(12))
    return f"{PREFIX}{body}{check_character(body)}"


def is_valid(code: str) -> bool:
    code = code.strip().upper()
    if not code.startswith(PREFIX) or len(code) != len(PREFIX) + 13:
        return False
    body, check = code[len(PREFIX):-1], code[-1]
    return all(c in ALPHABET for c in body + check) and check_character(body) == check
