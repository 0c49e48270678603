"""The console reads through the API itself (in process, over ASGI), with the visitor's own token: whatever a page
shows, the API's rule table and filters (a worker's own readings only) already decided."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable
from typing import Any

import httpx
from starlette.requests import Request

from api.consistency import HEADER
from api.deps import TOKEN_PATTERN
from api.identity.session import ACCESS_COOKIE

TOKEN = re.compile(TOKEN_PATTERN)


class ApiError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status, self.detail = status, detail


class Api:
    def __init__(self, request: Request) -> None:
        headers = {"Authorization": f"Bearer {request.cookies.get(ACCESS_COOKIE, '')}"}
        after = request.query_params.get("after")
        if after and TOKEN.match(after):
            # a live update names the event it follows: every read waits until its read model has that event
            headers[HEADER] = after
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=request.app), base_url="http://console",
                                         headers=headers, timeout=30)

    async def get(self, path: str, **params: Any) -> Any:
        """The JSON of a GET; ApiError for any refusal (the caller decides whether that is an empty panel)."""
        answer = await self._client.get(path, params={k: v for k, v in params.items() if v not in (None, "")})
        if answer.status_code >= 400:
            detail = answer.json().get("detail", "") if answer.headers.get("content-type", "").endswith("json") \
                else answer.text[:200]
            raise ApiError(answer.status_code, str(detail))
        return answer.json()

    async def maybe(self, path: str, **params: Any) -> Any:
        """The JSON of a GET, or None when the API refuses it (a panel the visitor may not see, a bad filter)."""
        try:
            return await self.get(path, **params)
        except ApiError:
            return None

    async def close(self) -> None:
        await self._client.aclose()


async def gather(*calls: Awaitable[Any]) -> list[Any]:
    return list(await asyncio.gather(*calls))
