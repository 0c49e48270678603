"""Which methods a path takes: the most specific templates decide (a literal segment beats a parameter)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from api.methods import allowed_methods, templates


def app() -> FastAPI:
    made = FastAPI()

    @made.get("/things/{thing_id}")
    @made.put("/things/{thing_id}")
    @made.get("/things")
    async def one() -> None: ...

    @made.post("/things")
    @made.post("/things/ship")
    async def two() -> None: ...

    return made


@pytest.mark.parametrize(("path", "methods"), [
    ("/things/ship", {"POST"}),  # not GET/PUT of a thing called "ship"
    ("/things/7", {"GET", "PUT"}),
    ("/things", {"GET", "POST"}),  # two routes on one path: both in Allow
    ("/docs", {"GET", "HEAD"}),  # the app's own pages
    ("/nothing", None),  # no template: left to the router's 404
])
def test_the_most_specific_templates_decide(path: str, methods: set[str] | None) -> None:
    assert allowed_methods(templates(app()), path) == methods
