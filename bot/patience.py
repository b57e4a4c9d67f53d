"""Bot API requests that fail on the way are tried again, briefly, before anyone is told.

A person's answer (a draft summary, "sent to the IT team", a refusal) is sent while their
update is handled, after the workflow has committed: if Telegram answers that send with a
502 or the connection drops, the step is done but the person would see nothing. So every
request except getUpdates (the poller has its own backoff) goes through `Patient`:

- a network error or 5xx is tried again after 0.5 s and 1 s (three tries in all);
- a time-out is not: the message may have arrived, and a second copy would be worse;
- a 400/403 is not either: it will not change;
- flood control (429) is left to python-telegram-bot's `AIORateLimiter` when it is on
  (`telegram.rate_limit`, the default); without it, a short `retry_after` is waited out.

Notifications have the outbox's longer retries behind this; direct answers have only this.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut
from telegram.ext import AIORateLimiter, BaseRateLimiter

log = logging.getLogger("warta.bot")

JSONDict = dict[str, Any]
Result = bool | JSONDict | list[JSONDict]

TRIES = 3
FIRST_DELAY = 0.5  # seconds; doubled for each further try
# Without the rate limiter, flood control longer than this is not waited out inline: the
# person's handler would hang that long (the outbox retries notifications later anyway).
MAX_INLINE_RETRY_AFTER = 10.0


class Patient(BaseRateLimiter[None]):
    """Retries what failed before Telegram could act on it; wraps the rate limiter, if any."""

    def __init__(self, limiter: AIORateLimiter | None = None, *, tries: int = TRIES,
                 first_delay: float = FIRST_DELAY) -> None:
        self.limiter = limiter
        self.tries = tries
        self.first_delay = first_delay

    async def initialize(self) -> None:
        if self.limiter is not None:
            await self.limiter.initialize()

    async def shutdown(self) -> None:
        if self.limiter is not None:
            await self.limiter.shutdown()

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Result]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: None,
    ) -> Result:
        for attempt in range(1, self.tries + 1):
            try:
                if self.limiter is not None:
                    return await self.limiter.process_request(callback, args, kwargs, endpoint,
                                                              data, None)
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                wait = retry_after_seconds(error)
                if self.limiter is not None or attempt == self.tries or \
                        wait > MAX_INLINE_RETRY_AFTER:
                    raise
                log.info("telegram: %s flood control, waiting %.0f s", endpoint, wait)
                await asyncio.sleep(wait)
            except (TimedOut, BadRequest):
                raise
            except NetworkError as error:
                if attempt == self.tries:
                    raise
                delay = self.first_delay * 2 ** (attempt - 1)
                log.info("telegram: %s failed (%s), trying again in %.1f s", endpoint,
                         error, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable: the last try returns or raises")


def retry_after_seconds(error: RetryAfter) -> float:
    """RetryAfter.retry_after is a timedelta with PTB_TIMEDELTA, else a number."""
    value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
