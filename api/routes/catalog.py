"""The AsyncAPI document of every topic and event."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fastapi import APIRouter

from schemas.asyncapi import asyncapi_document

router = APIRouter(tags=["catalog"])


@lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    return asyncapi_document()


@router.get("/asyncapi.json")
async def asyncapi() -> dict[str, Any]:
    return _document()
