"""The faults a test injects while the bot runs: kill -9, Bot API errors, hangs."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from telesim import ControlClient
from tests.faults.office import Office


class Killer:
    """kill -9 of the bot at random moments, and a restart after a random down time.

    After a kill the outbox leases of the dead process are let run out (`skip_downtime`);
    updates injected while the bot is down wait in the double. `marks` holds, per kill, the
    highest call seq the double had seen when the process was dead (to attribute a
    notification sent twice to the kill between its two copies)."""

    def __init__(self, office: Office, rng: random.Random,
                 interval: tuple[float, float] = (0.5, 6.0),
                 downtime: tuple[float, float] = (0.0, 1.5)) -> None:
        self.office = office
        self.rng = rng
        self.interval = interval
        self.downtime = downtime
        self.next_kill = time.monotonic() + rng.uniform(*interval)
        self.restart_at: float | None = None
        self.marks: list[int] = []
        self.moved = 0

    @property
    def kills(self) -> int:
        return self.office.bot.kills

    def tick(self) -> None:
        bot, now = self.office.bot, time.monotonic()
        if self.restart_at is not None:
            if now >= self.restart_at:
                bot.start()
                self.restart_at = None
                self.next_kill = time.monotonic() + self.rng.uniform(*self.interval)
            return
        if now >= self.next_kill:
            self.kill_now()
            self.restart_at = time.monotonic() + self.rng.uniform(*self.downtime)

    def kill_now(self) -> None:
        self.office.bot.kill()
        self.office.log.refresh()
        self.marks.append(max(self.office.log.calls, default=0))
        self.moved += self.office.skip_downtime()

    def ensure_running(self) -> None:
        if self.restart_at is not None or not self.office.bot.alive:
            self.office.bot.start()
            self.restart_at = None


@dataclass(frozen=True)
class Fault:
    """One fault for the double: `fail_next` (status, retry_after) or `hang_next` (hang)."""

    method: str
    status: int = 0
    retry_after: int | None = None
    hang: float = 0.0
    count: int = 1

    def apply(self, control: ControlClient) -> None:
        if self.hang:
            control.post("hang_next", method=self.method, count=self.count,
                         seconds=self.hang)
        else:
            control.post("fail_next", method=self.method, count=self.count,
                         status=self.status, retry_after=self.retry_after)

    def __str__(self) -> str:
        what = f"hang {self.hang:.0f} s" if self.hang else (
            f"{self.status}" + (f" retry_after={self.retry_after}" if self.retry_after else ""))
        return f"{self.method} {what} x{self.count}"


def telegram_faults(rng: random.Random, count: int, hang: float) -> list[Fault]:
    """A seeded mix of Bot API faults: 502, 429 with retry_after, and hangs shorter than
    the bot's read timeout (`hang`), on sending, editing and polling."""
    menu = [
        lambda: Fault("sendMessage", 502, count=rng.randint(1, 3)),
        lambda: Fault("sendMessage", 429, retry_after=rng.randint(1, 2)),
        lambda: Fault("sendMessage", hang=hang),
        lambda: Fault("sendPhoto", 502),
        lambda: Fault("editMessageText", 502, count=rng.randint(1, 2)),
        lambda: Fault("editMessageText", 429, retry_after=1),
        lambda: Fault("editMessageText", hang=hang),
        lambda: Fault("getUpdates", 502, count=rng.randint(1, 2)),
        lambda: Fault("getUpdates", 429, retry_after=rng.randint(1, 2)),
        lambda: Fault("getUpdates", hang=hang),
    ]
    return [rng.choice(menu)() for _ in range(count)]


class FaultInjector:
    """Applies `faults` one at a time at a random pace, like bursts of a real outage.

    A fault for a method is armed only once the double has used up the last one armed for
    that method (it answered that many calls of it since) and then answered one call of it
    normally: `fail_next` counts calls, not time, so arming faster than the bot calls would
    chain every fault into one outage of that method lasting until all are used up, the bot
    backing off longer at each (up to 30 s between polls). Each fault is a burst instead,
    and the bot is seen to recover from it."""

    def __init__(self, office: Office, faults: list[Fault], rng: random.Random,
                 pace: tuple[float, float] = (0.2, 0.6)) -> None:
        self.office = office
        self.waiting = list(faults)
        self.rng = rng
        self.pace = pace
        self.applied: list[Fault] = []
        self.next_at = time.monotonic() + 1.0
        self._armed: dict[str, tuple[int, int]] = {}  # method -> (call seq then, count)

    @property
    def done(self) -> bool:
        return not self.waiting

    def _free(self, method: str) -> bool:
        if method not in self._armed:
            return True
        mark, count = self._armed[method]
        since = [call for seq, call in sorted(self.office.log.calls.items())
                 if seq > mark and call["method"] == method]
        return len(since) > count and any(call["status"] == 200 for call in since[count:])

    def tick(self) -> None:
        if not self.waiting or time.monotonic() < self.next_at:
            return
        fault = next((f for f in self.waiting if self._free(f.method)), None)
        if fault is None:
            return
        self.waiting.remove(fault)
        fault.apply(self.office.double.control)
        self._armed[fault.method] = (max(self.office.log.calls, default=0), fault.count)
        self.applied.append(fault)
        self.next_at = time.monotonic() + self.rng.uniform(*self.pace)
