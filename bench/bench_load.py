"""Latency under load: 50 officers at once while the sweeper and the publisher run.

    .venv/bin/python -m bench.bench_load [--officers 50] [--rounds 3] [--repeat 3]
                                         [--database postgres]

Each officer, all of them at the same time, does `rounds` times: a text (a new draft), an
album of three photos, a press of *Kirim*; each waits for the bot's first answer before
the next. Beside them an editor and an official take other items through the whole SOP
without pause (claim, /judul, /ajukan, approve), so the publisher (webhook adapter to
publisher.receiver on loopback, every 0.5 s) has posts to make, and the sweeper runs
every second.

Latency is from the moment an update is available to the bot (injected into the Bot API
double; for an album its last photo) to the first Bot API call the bot makes for it (a
message to that chat, or the answer to that button press). An album is answered on
purpose `album_wait_seconds` after its last photo: its figures are shown with that wait
taken off. The echo bot (answers every message and press at once, nothing else) gets the
same officers' script in the same process run: the floor. Target: Warta's p99 <= 3x echo's.

A loop-lag probe sleeps 5 ms over and over and records the overshoot: the time the event
loop ran something else (the bot, the double, the receiver and this harness all share it).
Target: no gap > 50 ms. SQL statements per step are counted as in bench_flow.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import io
import os
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from PIL import Image
from telegram import Update
from telegram.ext import CallbackQueryHandler, ContextTypes, MessageHandler, filters

from bench.bench_echo import App
from bench.bench_flow import Office, settings_for
from bench.instruments import (
    StatementCounter,
    database_url,
    environment,
    load_now,
    percentile,
    spread,
    step_order,
    steps_attributed,
)
from bot.inbox import serve
from publisher.receiver import Receiver
from telesim import ApiCall, BotApiDouble, SimChat, SimUser, StoredMessage, running
from warta.wiring import build_application
from workflow.config import Settings

ALBUM_PHOTOS = 3
ALBUM_WAIT = 0.2
PROBE_SLEEP = 0.005
GAP_LIMIT = 0.050
ANSWER_TIMEOUT = 120.0
WATCH_EVERY = 0.002
RECEIVER_SECRET = "rahasia-bench"
FIRST_LOAD_OFFICER = 100  # Office's officers from here on are the load; 0.. drive the SOP


class Answers:
    """Finds each awaited update's first answer in the double's call log: one watcher task
    reads the log incrementally (a waiter per officer scanning it would load the loop)."""

    def __init__(self, double: BotApiDouble) -> None:
        self.double = double
        self.seen = 0
        self.waiting: dict[tuple[str, object], asyncio.Future[float]] = {}

    def expect(self, *keys: tuple[str, object]) -> asyncio.Future[float]:
        """A future for the arrival time of the first call matching any of `keys`:
        ("chat", chat_id) or ("query", callback_query_id)."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        for key in keys:
            self.waiting[key] = future
        return future

    async def watch(self) -> None:
        while True:
            calls = self.double.calls
            for call in calls[self.seen:]:
                self._settle(call)
            self.seen = len(calls)
            await asyncio.sleep(WATCH_EVERY)

    def _settle(self, call: ApiCall) -> None:
        if call.method == "getUpdates":
            return
        for key in (("chat", call.params.get("chat_id")),
                    ("query", call.params.get("callback_query_id"))):
            future = self.waiting.pop(key, None)
            if future is None:
                continue
            for other in [k for k, f in self.waiting.items() if f is future]:
                del self.waiting[other]
            if not future.done():
                future.set_result(call.at)


@dataclasses.dataclass
class Sample:
    latencies: dict[str, list[float]] = dataclasses.field(default_factory=lambda: defaultdict(list))
    lags: list[float] = dataclasses.field(default_factory=list)
    statements: Counter[str] = dataclasses.field(default_factory=Counter)
    updates: int = 0
    published: int = 0
    approved: int = 0
    seconds: float = 0.0

    def all_at_once(self) -> list[float]:
        """Every latency, albums with their deliberate wait taken off."""
        return [value for values in self.latencies.values() for value in values]


async def probe_loop(lags: list[float]) -> None:
    while True:
        began = time.perf_counter()
        await asyncio.sleep(PROBE_SLEEP)
        lags.append(time.perf_counter() - began - PROBE_SLEEP)


def phone_photo(seed: int) -> bytes:
    """A small JPEG: the double makes its renditions with Pillow inside the event loop
    everyone shares, so big photos would weigh on the figures as harness cost."""
    image = Image.new("RGB", (320, 240), ((seed * 37) % 256, (seed * 91) % 256, 120))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


class Script:
    """One officer's turns, timed: `inject` sends, the first answer is awaited."""

    def __init__(self, double: BotApiDouble, answers: Answers, sample: Sample) -> None:
        self.double = double
        self.answers = answers
        self.sample = sample

    async def send(self, kind: str, user: SimUser, inject: Callable[[], Awaitable[object]],
                   subtract: float = 0.0) -> None:
        future = self.answers.expect(("chat", user.id))
        await inject()
        sent = time.monotonic()
        answered = await asyncio.wait_for(future, ANSWER_TIMEOUT)
        self.sample.latencies[kind].append(answered - sent - subtract)

    async def press(self, kind: str, user: SimUser, message: StoredMessage, label: str,
                    *, forge: bool = False, by_chat: bool = True) -> None:
        """Times a button press to its answer; `by_chat` also takes a message to the
        presser's chat as the answer (not for the editor and the official, whose chats get
        notifications about other items)."""
        data = "bench:1" if forge else message.button_data(label)
        # Injecting yields to nobody, so the answer cannot come before it is expected.
        query = await self.double.press_button(user, message, data, forge=forge)
        sent = time.monotonic()
        keys: list[tuple[str, object]] = [("query", query["id"])]
        if by_chat:
            keys.append(("chat", user.id))
        answered = await asyncio.wait_for(self.answers.expect(*keys), ANSWER_TIMEOUT)
        self.sample.latencies[kind].append(answered - sent)

    async def officer(self, user: SimUser, rounds: int, seed: int, *, echo: bool) -> None:
        photos = [phone_photo(seed * ALBUM_PHOTOS + n) for n in range(ALBUM_PHOTOS)]
        for turn in range(rounds):
            await self.send("text", user, functools.partial(
                self.double.send_text, user, f"Kegiatan {seed}-{turn} di kelurahan"))
            await self.send("album", user, functools.partial(
                self.double.send_album, user, photos, caption=f"Foto {seed}-{turn}"),
                subtract=0.0 if echo else ALBUM_WAIT)
            if echo:
                await self.press("button", user, self.double.messages(user)[-1], "", forge=True)
            else:
                await self.press("button", user, last_with(self.double, user, "📤 Kirim"),
                                 "📤 Kirim")
            self.sample.updates += 2 + ALBUM_PHOTOS


def has_button(message: StoredMessage, label: str) -> bool:
    return label in message.button_texts


def last_with(double: BotApiDouble, user: SimUser, label: str) -> StoredMessage:
    for message in reversed(double.messages(user)):
        if has_button(message, label):
            return message
    raise LookupError(f"no message with {label!r} for {user.id}")


async def card_for(double: BotApiDouble, chat: SimUser | SimChat, item_id: int,
                   label: str) -> StoredMessage:
    """The card of `item_id` with a `label` button in `chat`, once it is there."""
    deadline = time.monotonic() + ANSWER_TIMEOUT
    while True:
        for message in reversed(double.messages(chat)):
            if f"#{item_id}" in (message.plain or "") and has_button(message, label):
                return message
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {label!r} card for item {item_id}")
        await asyncio.sleep(0.01)


async def sop_driver(office: Office, script: Script, stop: asyncio.Event) -> int:
    """Takes one item after another from a caption to approved until `stop`; the presses
    are timed as "sop button". Returns how many were approved."""
    double, approved, n = office.double, 0, 0
    while not stop.is_set():
        officer = office.officers[n % FIRST_LOAD_OFFICER]
        n += 1
        await script.send("sop text", officer,
                          functools.partial(double.send_text, officer, f"Liputan {n} di desa"))
        summary = last_with(double, officer, "📤 Kirim")
        item_id = int(summary.plain.split("#", 1)[1].split()[0])
        await script.press("sop button", officer, summary, "📤 Kirim")
        claim = await card_for(double, office.it_chat, item_id, "✋ Ambil")
        await script.press("sop button", office.editor, claim, "✋ Ambil", by_chat=False)
        await double.send_command(office.editor, "judul", f"{item_id} Judul {item_id}")
        await double.send_command(office.editor, "ajukan", str(item_id))
        decision = await card_for(double, office.official, item_id, "✅ Setujui")
        await script.press("sop button", office.official, decision, "✅ Setujui",
                           by_chat=False)
        script.sample.updates += 6
        approved += 1
    return approved


def load_settings(workdir: Path, token: str, url: str, receiver: Receiver) -> Settings:
    base = settings_for(workdir, token, url)
    return dataclasses.replace(
        base,
        telegram=dataclasses.replace(base.telegram, album_wait_seconds=ALBUM_WAIT),
        website=dataclasses.replace(base.website, adapter="webhook",
                                    webhook_url=receiver.hook_url,
                                    webhook_secret=RECEIVER_SECRET),
        publisher=dataclasses.replace(base.publisher, interval_seconds=0.5),
        alerts=dataclasses.replace(base.alerts, sweep_seconds=1.0),
    )


async def measure_warta(officers: int, rounds: int, database: str) -> Sample:
    sample = Sample()
    receiver = await Receiver(RECEIVER_SECRET).start()
    with tempfile.TemporaryDirectory(prefix="warta-load-") as workdir, \
            database_url(database, Path(workdir)) as url, steps_attributed():
        async with BotApiDouble() as double:
            settings = load_settings(Path(workdir), double.token, url, receiver)
            office = Office(double, Path(workdir), settings=settings)
            counter = StatementCounter(office.warta.engine)
            answers = Answers(double)
            script = Script(double, answers, Sample())  # warm-up figures are dropped
            app = build_application(office.warta, double.app_builder().updater(None))
            async with serve_with(app, office, answers):
                await script.officer(office.officers[FIRST_LOAD_OFFICER - 1], 1, 0, echo=False)
                counter.take()
                script.sample = sample
                stop = asyncio.Event()
                probe = asyncio.create_task(probe_loop(sample.lags))
                driver = asyncio.create_task(sop_driver(office, script, stop))
                began = time.perf_counter()
                await asyncio.gather(*(script.officer(office.officers[FIRST_LOAD_OFFICER + n],
                                                      rounds, n + 1, echo=False)
                                       for n in range(officers)))
                sample.seconds = time.perf_counter() - began
                probe.cancel()
                stop.set()
                sample.approved = await driver
                sample.statements = counter.take()
            office.warta.close()
    sample.published = len(receiver.posts)
    await receiver.stop()
    return sample


@contextlib.asynccontextmanager
async def serve_with(app: App, office: Office, answers: Answers) -> AsyncIterator[None]:
    """bot.inbox.serve plus the answer watcher."""
    async with serve(app, office.warta):
        watcher = asyncio.create_task(answers.watch())
        try:
            yield
        finally:
            watcher.cancel()


async def _echo_message(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.effective_chat is not None:
        await update.effective_chat.send_message("ok")


async def _echo_press(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.callback_query is not None:
        await update.callback_query.answer("ok")


def echo_everything(double: BotApiDouble) -> App:
    """The floor: answers every message and every button press at once, nothing else."""
    app = double.app_builder().build()
    app.add_handler(MessageHandler(filters.ALL, _echo_message))
    app.add_handler(CallbackQueryHandler(_echo_press))
    return app


async def measure_echo(officers: int, rounds: int) -> Sample:
    sample = Sample()
    async with BotApiDouble() as double:
        users = [double.user(9000 + n, f"Petugas {n}") for n in range(officers + 1)]
        answers = Answers(double)
        script = Script(double, answers, Sample())
        async with running(echo_everything(double)):
            watcher = asyncio.create_task(answers.watch())
            await script.officer(users[-1], 1, 0, echo=True)
            script.sample = sample
            probe = asyncio.create_task(probe_loop(sample.lags))
            began = time.perf_counter()
            await asyncio.gather(*(script.officer(users[n], rounds, n + 1, echo=True)
                                   for n in range(officers)))
            sample.seconds = time.perf_counter() - began
            probe.cancel()
            watcher.cancel()
    return sample


def ms(values: list[float], share: float) -> float:
    return 1000 * percentile(values, share)


def print_tables(echoes: list[Sample], wartas: list[Sample]) -> None:
    print(f"\nmedian (min–max) of {len(wartas)} runs; latencies in ms")
    print("| bot | kind | n/run | p50 | p95 | p99 | max |\n|---|---|---|---|---|---|---|")
    for name, samples in (("echo", echoes), ("warta", wartas)):
        kinds = sorted({kind for sample in samples for kind in sample.latencies})
        for kind in [*kinds, "all"]:
            series = [s.all_at_once() if kind == "all" else s.latencies[kind] for s in samples]
            label = f"{kind} (minus {ALBUM_WAIT * 1000:.0f} ms wait)" if (
                kind == "album" and name == "warta") else kind
            cells = " | ".join(spread([ms(v, share) for v in series]).show(1)
                               for share in (0.50, 0.95, 0.99, 1.0))
            print(f"| {name} | {label} | {len(series[0])} | {cells} |")
    ratios = [ms(w.all_at_once(), 0.99) / ms(e.all_at_once(), 0.99)
              for w, e in zip(wartas, echoes, strict=True)]
    print(f"\nwarta p99 / echo p99 (target <= 3x): {spread(ratios).show(1)}")
    print("| bot | loop lag p50 ms | p99 ms | max ms | gaps > 50 ms | updates/s |\n"
          "|---|---|---|---|---|---|")
    for name, samples in (("echo", echoes), ("warta", wartas)):
        print(f"| {name} | {spread([ms(s.lags, 0.5) for s in samples]).show(1)} | "
              f"{spread([ms(s.lags, 0.99) for s in samples]).show(1)} | "
              f"{spread([ms(s.lags, 1.0) for s in samples]).show(1)} | "
              f"{spread([sum(lag > GAP_LIMIT for lag in s.lags) for s in samples]).show()} | "
              f"{spread([s.updates / s.seconds for s in samples]).show()} |")
    print(f"\nbeside the load: {spread([s.approved for s in wartas]).show()} items approved, "
          f"{spread([s.published for s in wartas]).show()} posts published per run")
    print("| SQL statements per update | value |\n|---|---|")
    steps = sorted({name for s in wartas for name in s.statements}, key=step_order)
    for name in steps:
        print(f"| {name} | {spread([s.statements[name] / s.updates for s in wartas]).show(2)} |")
    print(f"| all | {spread([sum(s.statements.values()) / s.updates for s in wartas]).show(2)} |")


async def _main(officers: int, rounds: int, repeat: int, database: str) -> None:
    print(environment(), flush=True)
    print(f"database {database} · {officers} officers x {rounds} rounds (text, album of "
          f"{ALBUM_PHOTOS}, button) · {repeat} runs", flush=True)
    echoes, wartas = [], []
    for run in range(1, repeat + 1):
        echoes.append(await measure_echo(officers, rounds))
        wartas.append(await measure_warta(officers, rounds, database))
        print(f"run {run}: echo p99 {ms(echoes[-1].all_at_once(), 0.99):.1f} ms · warta p99 "
              f"{ms(wartas[-1].all_at_once(), 0.99):.1f} ms, loop max lag "
              f"{ms(wartas[-1].lags, 1.0):.1f} ms · {load_now()}", flush=True)
    print_tables(echoes, wartas)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--officers", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args(argv)
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    asyncio.run(_main(args.officers, args.rounds, args.repeat, args.database))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
