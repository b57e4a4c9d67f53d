"""Serving the web pages on `[web] listen`, inside `warta run` or alone (`warta web`)."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from web.app import make_app
from workflow.context import Context

log = logging.getLogger(__name__)


@asynccontextmanager
async def serving(warta: Context) -> AsyncIterator[web.AppRunner | None]:
    """The pages served while the block runs; nothing when `[web] listen` is empty."""
    settings = warta.settings.web
    if not settings.listen:
        yield None
        return
    runner = web.AppRunner(make_app(warta, warta.settings.telegram.token), access_log=None)
    await runner.setup()
    host, port = settings.address
    await web.TCPSite(runner, host, port).start()
    log.info("web pages on http://%s:%d", host, port)
    try:
        yield runner
    finally:
        await runner.cleanup()


async def serve_alone(warta: Context) -> None:
    """`warta web`: the pages until SIGINT or SIGTERM, for a process of their own."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with serving(warta):
        await stop.wait()
