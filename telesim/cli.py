"""The command line: ``python -m telesim`` serves a simulator until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Sequence

from telesim.server import CLOUD_DOWNLOAD_LIMIT, DEFAULT_TOKEN, BotApiDouble


async def _serve(args: argparse.Namespace) -> None:
    double = BotApiDouble(
        args.token,
        host=args.host,
        port=args.port,
        download_limit=None if args.no_download_limit else CLOUD_DOWNLOAD_LIMIT,
        strict_chats=not args.lenient_chats,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with double:
        # The parent process reads this line to learn the port (useful with --port 0).
        print(f"BotApiDouble listening on {double.url}", flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m telesim --port N --token T``: serve until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(description="Telegram Bot API double on loopback")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--no-download-limit", action="store_true", help="lift the 20 MB cap")
    parser.add_argument("--lenient-chats", action="store_true", help="accept unknown chat ids")
    asyncio.run(_serve(parser.parse_args(argv)))
    return 0
