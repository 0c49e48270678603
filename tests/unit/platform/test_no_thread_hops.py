"""FastAPI runs a plain `def` endpoint or dependency in a worker thread, one hop per request (the scans bench's API
profile: a third of its samples were the thread pool, for three accessors of app.state). Every endpoint and
dependency of the application is a coroutine, so a request never leaves the event loop unless a route says why."""

from __future__ import annotations

import inspect
from collections.abc import Iterator

from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts

from api.app import create_app
from infra.settings import Settings


def calls(dependant: Dependant, where: str) -> Iterator[tuple[str, object]]:
    if dependant.call is not None:
        yield where, dependant.call
    for sub in dependant.dependencies:
        yield from calls(sub, where)


def runs_in_a_thread(call: object) -> bool:
    """What FastAPI's own check decides: a coroutine (or async generator) function, or an instance whose __call__ is
    one (a security scheme, a parameterised dependency), runs on the loop; anything else in the thread pool."""
    return not any(inspect.iscoroutinefunction(c) or inspect.isasyncgenfunction(c)
                   for c in (call, inspect.getattr_static(type(call), "__call__", None)))


def test_every_endpoint_and_dependency_runs_on_the_loop() -> None:
    app = create_app(Settings.model_validate({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
                                              "OPSLEDGER_JWT_SECRET": "x" * 48}))
    found = [(where, call) for route in iter_route_contexts(app.routes) if getattr(route, "dependant", None)
             for where, call in calls(route.dependant, f"{sorted(route.methods or ['WS'])} {route.path}")]
    assert len(found) > 100  # every route was walked
    threaded = sorted({f"{where}: {getattr(call, '__qualname__', call)}" for where, call in found
                       if runs_in_a_thread(call)})
    assert threaded == []


def test_the_check_tells_a_plain_function_from_a_coroutine() -> None:
    def plain() -> None: ...

    async def coroutine() -> None: ...

    class Scheme:
        async def __call__(self) -> None: ...

    assert runs_in_a_thread(plain)
    assert not runs_in_a_thread(coroutine)
    assert not runs_in_a_thread(Scheme())
