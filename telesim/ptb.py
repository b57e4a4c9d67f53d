"""Run a python-telegram-bot application against a simulator, as run_polling would."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from telegram.ext import Application
    from telegram.ext._applicationbuilder import InitApplicationBuilder


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def application_builder(
    url: str, token: str, *, local_mode: bool = False
) -> InitApplicationBuilder:
    """An ``ApplicationBuilder`` pointed at a double served at ``url`` (in or out of process)."""
    from telegram.ext import ApplicationBuilder

    builder = ApplicationBuilder().token(token).base_url(f"{url}/bot")
    return builder.base_file_url(f"{url}/file/bot").local_mode(local_mode)


@contextlib.asynccontextmanager
async def running(
    application: Application[Any, Any, Any, Any, Any, Any],
    *,
    webhook: bool = False,
    secret_token: str | None = None,
    host: str = "127.0.0.1",
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    """Run ``application`` the way ``run_polling``/``run_webhook`` do, inside a test.

    Same order as PTB: initialize, post_init, updater start, start ... updater stop, stop,
    post_stop, shutdown, post_shutdown (``async with application`` alone skips the post_*
    hooks).  ``webhook=True`` serves PTB's webhook on a free loopback port and registers it
    with setWebhook and ``secret_token``; otherwise the Updater long-polls.
    """
    updater = application.updater
    if updater is None:
        raise ValueError("the application was built without an Updater")
    await application.initialize()
    try:
        if application.post_init is not None:
            await application.post_init(application)
        if webhook:
            port = free_port(host)
            await updater.start_webhook(
                listen=host,
                port=port,
                url_path="telegram-webhook",
                webhook_url=f"http://{host}:{port}/telegram-webhook",
                secret_token=secret_token,
            )
        else:
            await updater.start_polling(poll_interval=0.0)
        await application.start()
        try:
            yield application
        finally:
            if updater.running:
                await updater.stop()
            await application.stop()
            if application.post_stop is not None:
                await application.post_stop(application)
    finally:
        await application.shutdown()
        if application.post_shutdown is not None:
            await application.post_shutdown(application)
