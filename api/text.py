"""Text that the store and the hashers can take: no NUL (PostgreSQL text), no lone surrogates (UTF-8)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, SecretStr

from schemas.envelope import NO_NUL


def storable(text: str) -> str:
    if "\x00" in text:
        raise ValueError("text must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from e
    return text


def storable_secret(secret: SecretStr) -> SecretStr:
    storable(secret.get_secret_value())
    return secret


Text = Annotated[str, Field(pattern=NO_NUL), AfterValidator(storable)]  # the pattern: what the document says
Secret = Annotated[SecretStr, Field(json_schema_extra={"pattern": NO_NUL}), AfterValidator(storable_secret)]
