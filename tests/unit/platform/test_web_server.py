"""The API's uvicorn server looks at its exit flag once a second, not ten times, and still stops at once on a signal
(infra/entry/web_server.py): served over a real socket."""

from __future__ import annotations

import asyncio
import signal
import time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import uvicorn

from infra.entry.embedded import free_port
from infra.entry.web_server import Server


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"hello"})


async def test_the_server_wakes_once_a_second_and_stops_at_once_on_a_signal() -> None:
    port = free_port()
    server = Server(uvicorn.Config(hello, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    ticks = 0
    on_tick = server.on_tick

    async def counted(counter: int) -> bool:
        nonlocal ticks
        ticks += 1
        return await on_tick(counter)

    server.on_tick = counted  # type: ignore[method-assign]
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient() as client:
            reply = await client.get(f"http://127.0.0.1:{port}/")
        assert reply.text == "hello"
        assert abs(parsedate_to_datetime(reply.headers["date"]).timestamp() - time.time()) < 3
        ticks = 0
        await asyncio.sleep(2.5)
        assert 1 <= ticks <= 4, ticks  # uvicorn's own loop: 25
        seen = ticks
        while ticks == seen:  # just after a look: the next one is a second away
            await asyncio.sleep(0.01)
        asked = time.monotonic()
        server.handle_exit(signal.SIGTERM, None)
        # uvicorn raises the signals it captured again once it has stopped (the process then ends as the signal
        # says); this process is the test's, so it forgets it here, before the loop runs again
        server._captured_signals.clear()  # noqa: SLF001
        await asyncio.wait_for(asyncio.shield(serving), 2)
        assert time.monotonic() - asked < 0.6  # shutdown itself sleeps 0.1 s; without the wake-up it takes ~1.1 s
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 5)
