"""The composition root: the bot with the publisher's job on its queue and the web pages
beside it, and `warta run`."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from bot.app import RepeatingJob, builder_for, serve_until_signal
from bot.app import build_application as build_bot
from bot.base import WartaApp
from publisher.worker import job_callback, make_worker
from web.server import serving
from workflow.context import Context


def build_application(warta: Context, builder: Any | None = None) -> WartaApp:
    """The bot for `warta`'s settings, publishing approved items to the configured website
    from the same process; `builder` lets tests point PTB at the double (Any, as in
    bot.app: PTB's ApplicationBuilder has six type parameters its chained calls change)."""
    worker = make_worker(warta, clock=warta.clock)
    jobs = [] if worker is None else [
        RepeatingJob("publisher", warta.settings.publisher.interval_seconds,
                     job_callback(worker), first_after_seconds=1.0)]
    return build_bot(warta, builder, jobs)


def run(warta: Context) -> None:
    """Runs until SIGINT/SIGTERM: long polling, or a webhook when one is configured.

    Updates go through the durable inbox (bot.inbox): stored before Telegram is told they
    arrived, so a crash never loses one. PTB's own Updater is not used, because it
    acknowledges updates before they are handled.
    """
    # Tests run PTB with timedeltas for durations; production must read them the same way.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    # httpx logs every request URL at INFO, and Bot API URLs contain the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    app = build_application(warta, builder_for(warta).updater(None))
    asyncio.run(_serve(app, warta))


async def _serve(app: WartaApp, warta: Context) -> None:
    """The bot and, when configured, the web pages, in one event loop."""
    async with serving(warta):
        await serve_until_signal(app, warta)
