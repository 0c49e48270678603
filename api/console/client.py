"""The console reads through the API itself (in process, over ASGI), with the visitor's own token: whatever a page
shows, the API's rule table and filters (a worker's own readings only) already decided.

Each call carries exactly the credential the page's gate accepted (a Bearer header wins over the session cookie, as
in `credentials`) and comes from the visitor's own address: a page opened with a good token and a bogus cookie must
not send the bogus one, and whatever the calls cost (failed credentials, requests) is counted against the visitor,
never against one in-process address every visitor would share."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable
from typing import Any

import httpx
from starlette.requests import Request

from api.consistency import HEADER
from api.deps import TOKEN_PATTERN
from api.identity.principal import address_of, credentials

TOKEN = re.compile(TOKEN_PATTERN)


class ApiError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status, self.detail = status, detail


class Api:
    def __init__(self, request: Request) -> None:
        secret = credentials(request)  # what the gate authenticated this page with
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        after = request.query_params.get("after")
        if after and TOKEN.match(after):
            # a live update names the event it follows: every read waits until its read model has that event
            headers[HEADER] = after
        transport = httpx.ASGITransport(app=request.app, client=(address_of(request), 0))
        self._client = httpx.AsyncClient(transport=transport, base_url="http://console", headers=headers, timeout=30)

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
