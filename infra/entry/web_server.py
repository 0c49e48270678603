"""uvicorn's server, waking once a second instead of ten times.

uvicorn's main loop sleeps 0.1 s between looks at its exit flag and refreshes the Date header every tenth look: about
a third of an idle API process's CPU (py-spy, `opsledger bench idle`). This one sleeps a second between looks (the
Date header keeps its one-second resolution) and is woken at once by a stop signal, so a SIGTERM still stops it
without delay. A stop asked by setting `should_exit` from code is seen within a second.
"""

from __future__ import annotations

import asyncio
from types import FrameType

import uvicorn

TICK_S = 1.0


class Server(uvicorn.Server):
    _nap: asyncio.Future[None] | None = None

    async def main_loop(self) -> None:
        loop = asyncio.get_running_loop()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 10) % 864_000  # on_tick refreshes the Date header when counter % 10 == 0
            self._nap = nap = loop.create_future()
            timer = loop.call_later(TICK_S, _wake, nap)
            try:
                await nap
            finally:
                timer.cancel()
            should_exit = await self.on_tick(counter)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        nap = self._nap
        if nap is not None:  # a signal handler runs between two bytecodes of the loop's thread: hand over the wake-up
            nap.get_loop().call_soon_threadsafe(_wake, nap)


def _wake(nap: asyncio.Future[None]) -> None:
    if not nap.done():
        nap.set_result(None)
