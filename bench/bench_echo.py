"""Throughput floor: a bare python-telegram-bot echo bot against the Bot API double.

    .venv/bin/python -m bench.bench_echo --updates 2000 --repeat 3

Everything goes through PTB's real stack (Updater long polling, HTTPXRequest, one
sendMessage per update) on loopback, so the figure is what the framework itself costs on this
machine.  A full-flow benchmark imports ``measure`` and runs it for both apps in the same
process to report its throughput relative to this floor.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from telesim import BotApiDouble, running

App = Application[Any, Any, Any, Any, Any, Any]
AppFactory = Callable[[BotApiDouble], App]
Injector = Callable[[BotApiDouble, int], Awaitable[object]]

FIRST_USER_ID = 10_001


@dataclass(frozen=True)
class BenchResult:
    """One measured run: ``updates`` handled in ``seconds``."""

    label: str
    updates: int
    seconds: float

    @property
    def per_second(self) -> float:
        """Updates handled per second."""
        return self.updates / self.seconds if self.seconds > 0 else float("inf")

    def __str__(self) -> str:
        return (
            f"{self.label}: {self.updates} updates in {self.seconds:.2f} s "
            f"= {self.per_second:.0f} updates/s"
        )


async def _echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.message is not None and update.message.text is not None:
        await update.message.reply_text(update.message.text)


def echo_app(double: BotApiDouble) -> App:
    """The floor: a PTB Application with one text handler that echoes each message."""
    app = double.app_builder().build()
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, _echo))
    return app


async def send_text_from_users(double: BotApiDouble, i: int, users: int = 20) -> object:
    """Default injector: text message ``i`` from one of ``users`` users, round robin."""
    user_id = FIRST_USER_ID + i % users
    return await double.send_text(user_id, f"pesan uji {i}")


async def measure(
    app_factory: AppFactory,
    n: int,
    *,
    label: str = "echo",
    inject: Injector = send_text_from_users,
    reply_method: str = "sendMessage",
    replies_per_update: int = 1,
    users: int = 20,
    warmup: int = 50,
    timeout: float = 300.0,  # noqa: ASYNC109 - an overall bound, passed on to wait_until
) -> BenchResult:
    """Time how long the app takes to answer ``n`` injected updates.

    A fresh double and app are started; ``users`` simulated users (ids from 10001) exist.
    ``warmup`` updates are answered first (connection set-up, first-call costs), then the clock
    runs from the first injection until ``n * replies_per_update`` more successful
    ``reply_method`` calls have been seen.
    """
    async with BotApiDouble() as double:
        for offset in range(users):
            double.user(FIRST_USER_ID + offset, f"Pengguna {offset}")
        async with running(app_factory(double)):
            await _inject_and_wait(
                double, inject, range(warmup), reply_method, replies_per_update, timeout
            )
            began = time.perf_counter()
            await _inject_and_wait(
                double, inject, range(warmup, warmup + n), reply_method, replies_per_update, timeout
            )
            elapsed = time.perf_counter() - began
        if double.unhandled:
            raise RuntimeError(f"unhandled methods: {sorted({c.method for c in double.unhandled})}")
    return BenchResult(label, n, elapsed)


async def _inject_and_wait(
    double: BotApiDouble,
    inject: Injector,
    indexes: range,
    reply_method: str,
    replies_per_update: int,
    timeout: float,  # noqa: ASYNC109 - forwarded to wait_until
) -> None:
    target = double.count(reply_method) + len(indexes) * replies_per_update
    for i in indexes:
        await inject(double, i)
    await double.wait_until(
        lambda: double.count(reply_method) >= target,
        timeout,
        what=f"{target} {reply_method} calls",
    )


async def _main(updates: int, repeat: int) -> list[BenchResult]:
    results = []
    for _ in range(repeat):
        result = await measure(echo_app, updates)
        print(result, flush=True)
        results.append(result)
    return results


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: run the echo floor ``--repeat`` times and print the median."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    # The double is on loopback; an HTTP(S)_PROXY in the environment must not be used for it.
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    os.environ.setdefault("no_proxy", "127.0.0.1,localhost")
    results = asyncio.run(_main(args.updates, args.repeat))
    median = statistics.median(r.per_second for r in results)
    print(f"echo floor (median of {len(results)}): {median:.0f} updates/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
