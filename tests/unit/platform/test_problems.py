"""A pydantic ValidationError inside a handler: the caller's error in a command (422), the server's in a read (500,
logged); both are problem+json."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import BaseModel
from structlog.testing import capture_logs

from api.problems import PROBLEM_JSON, install_problem_handlers


class Level(BaseModel):
    dbmv: float


def app() -> FastAPI:
    made = FastAPI()
    install_problem_handlers(made)

    @made.get("/stored")
    async def stored() -> Level:
        return Level.model_validate({"dbmv": "not a number"})  # what a read model held

    @made.post("/command")
    async def command(body: dict[str, str]) -> Level:
        return Level.model_validate(body)  # an event built from the caller's input

    return made


def call(method: str, path: str, **request: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app(), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path, **request)
    return asyncio.run(go())


def test_a_command_whose_input_makes_no_valid_event_is_422() -> None:
    answer = call("POST", "/command", json={"dbmv": "loud"})
    assert answer.status_code == 422 and answer.headers["content-type"] == PROBLEM_JSON
    assert answer.json()["errors"][0]["loc"] == ["dbmv"]


def test_a_read_that_cannot_validate_what_the_server_holds_is_a_logged_500() -> None:
    with capture_logs() as logs:
        answer = call("GET", "/stored")
    assert answer.status_code == 500 and answer.headers["content-type"] == PROBLEM_JSON
    assert "errors" not in answer.json() and "not a number" not in answer.text
    assert [entry["event"] for entry in logs] == ["request.failed"]
