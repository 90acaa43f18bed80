"""A delay in front of the local wiki, as slow as production's API can be.

Lift Wing's own load tests measured medians of 140-700 ms per request, mostly MediaWiki.
The proxy (aiohttp, keep-alive both ways, in a process of its own so that it never
competes with the load generator's event loop) adds a delay to every API call and passes
everything else through unchanged; the delay can be changed while it runs (`set_delay`:
the chaos benchmark slows the wiki down and back). An upstream that does not answer is a
502, as a load balancer in front of a dead backend answers.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
from typing import Any

import aiohttp
from aiohttp import web


def _serve(ports: "mp.Queue[int]", target: str, delay_ms: Any) -> None:
    async def main() -> None:
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256))

        async def forward(request: web.Request) -> web.Response:
            await asyncio.sleep(delay_ms.value / 1000)
            try:
                async with session.request(request.method, f"{target}{request.path_qs}", data=await request.read(),
                                           allow_redirects=False) as answer:
                    body = await answer.read()
                    return web.Response(body=body, status=answer.status,
                                        content_type=answer.content_type or "application/json")
            except aiohttp.ClientError:
                return web.Response(status=502, text="upstream unavailable")

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", forward)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        ports.put(site._server.sockets[0].getsockname()[1])  # noqa: SLF001 - the port the kernel chose
        await asyncio.Event().wait()

    asyncio.run(main())


class LatencyProxy:
    """`url` answers like `api_url`, `delay_ms` later."""

    def __init__(self, api_url: str, delay_ms: float) -> None:
        self._base, _, self._path = api_url.rpartition("/")
        context = mp.get_context("spawn")
        self._ports: "mp.Queue[int]" = context.Queue()
        self._delay = context.Value("d", float(delay_ms))
        self._process = context.Process(target=_serve, args=(self._ports, self._base, self._delay), daemon=True)
        self.url = ""

    def set_delay(self, delay_ms: float) -> None:
        self._delay.value = float(delay_ms)

    def __enter__(self) -> "LatencyProxy":
        self._process.start()
        self.url = f"http://127.0.0.1:{self._ports.get(timeout=60)}/{self._path}"
        return self

    def __exit__(self, *exc: object) -> None:
        self._process.terminate()
        self._process.join(10)
