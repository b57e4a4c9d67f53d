"""Warta's bot under load, against the bare PTB echo floor and the same-calls ceiling.

    .venv/bin/python -m bench.bench_flow --items 100 --repeat 3 [--database postgres]
    .venv/bin/python -m bench.bench_flow --items 100 --profile bench/profiles/flow-before.txt

Throughput: officers, an editor and an official drive items through the whole SOP over
PTB's real stack and the Bot API double, six updates per item (a caption, *Kirim*,
*Ambil*, /judul, /ajukan, *Setujui*), with every answer, card and notification the bot
sends. Reported as updates per second next to, in the same run, the echo bot's (one call
per update) and the same-calls ceiling's (a bot making the flow's three Bot API calls per
update and nothing else); issue target: >= 0.6x the ceiling, median of the runs.

SQL statements per update are counted per step of the bot (bench/instruments.py): intake
(the durable inbox), identity (who is asking), action (the handler's workflow call),
notifier (the outbox sender), and the jobs beside them; target <= 10 in all.

Profile: with --profile, one measured flow runs under pyinstrument (cProfile when it is
not installed) and the top of the profile is written to the given file; nothing else runs.

Memory: peak RSS while one 50 MB video is received through a self-hosted-style file URL
(no 20 MB cap), compared with the process's peak before it (issue target: < 20 MB more).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import importlib
import io
import os
import pstats
import resource
import struct
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from sqlalchemy import func, select
from telegram import Update
from telegram.ext import MessageHandler, filters

from bench.bench_echo import App, echo_app, measure
from bench.instruments import (
    HARNESS,
    StatementCounter,
    database_threads_profiled,
    database_url,
    environment,
    load_now,
    spread,
    step,
    step_order,
    steps_attributed,
)
from bot.inbox import serve
from telesim import BotApiDouble, SimChat, SimUser, StoredMessage
from tests.flow import HARNESS_CHECKLIST
from warta.wiring import build_application
from workflow.clock import utc_now
from workflow.config import Settings
from workflow.context import Context
from workflow.models import Item, Role, Status
from workflow.people import add_person

IT_CHAT = -100500
OFFICERS = 200  # one draft each: an officer's texts before Kirim all go to one draft
UPDATES_PER_ITEM = 6
POLL_SECONDS = 0.01
# The flow makes a little over 3 Bot API calls per update; the ceiling is drawn at 3.
CEILING_CALLS = 3


def settings_for(workdir: Path, token: str, url: str = "") -> Settings:
    base = Settings()
    return dataclasses.replace(
        base,
        telegram=dataclasses.replace(base.telegram, token=token, it_team_chat_id=IT_CHAT,
                                     album_wait_seconds=0.2, rate_limit=False,
                                     max_download_mb=2000),
        database=dataclasses.replace(base.database,
                                     url=url or f"sqlite:///{workdir / 'bench.db'}"),
        media=dataclasses.replace(base.media, dir=str(workdir / "media"), max_video_mb=60),
        website=dataclasses.replace(base.website, adapter="none"),
        checklist=HARNESS_CHECKLIST,
    )


class Office:
    def __init__(self, double: BotApiDouble, workdir: Path, url: str = "",
                 settings: Settings | None = None) -> None:
        self.double = double
        self.warta = Context(settings or settings_for(workdir, double.token, url), utc_now)
        self.warta.upgrade()
        now = self.warta.now()
        cast = [(5000 + n, f"Petugas {n}", Role.PETUGAS) for n in range(OFFICERS)]
        cast += [(6000, "Editor", Role.EDITOR), (7000, "Pejabat", Role.PEJABAT)]
        self.users: list[SimUser] = []
        for telegram_id, name, role in cast:
            with self.warta.sessions() as session:
                add_person(session, None, now, telegram_id=telegram_id, name=name, roles=[role])
            self.users.append(double.user(telegram_id, name))
        self.officers, (self.editor, self.official) = self.users[:OFFICERS], self.users[OFFICERS:]
        self.it_chat: SimChat = double.group(IT_CHAT, "Tim IT")

    def count(self, state: Status) -> int:
        with step(HARNESS), self.warta.sessions() as session:
            return session.scalar(select(func.count()).where(Item.state == state)) or 0

    async def wait_for_count(self, state: Status, items: int, limit: float = 120.0) -> None:
        """Polls the database every few milliseconds (not after every Bot API call, as
        `double.wait_until` would: the harness's own queries would then weigh on the bot)."""
        deadline = time.perf_counter() + limit
        while True:
            if self.count(state) >= items:
                return
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{items} items {state.value} not reached")
            await asyncio.sleep(POLL_SECONDS)


async def run_flow(office: Office, items: int) -> float:
    """Seconds to take `items` items from a caption to approved."""
    double = office.double
    began = time.perf_counter()
    summaries: list[StoredMessage] = []
    for n in range(items):
        officer = office.officers[n % OFFICERS]
        await double.send_text(officer, f"Kegiatan nomor {n} di desa")
    for n in range(items):
        summaries.append(await double.wait_for_message(office.officers[n % OFFICERS],
                                                       contains="Draf #", timeout=120))
    for n, summary in enumerate(summaries):
        await double.click(office.officers[n % OFFICERS], summary, "📤 Kirim")
    await double.wait_until(lambda: len([m for m in double.messages(office.it_chat)
                                         if m.buttons]) >= items, 120, what="claim cards")
    cards = [m for m in double.messages(office.it_chat) if m.buttons]
    for card in cards:
        await double.click(office.editor, card, "✋ Ambil")
    await office.wait_for_count(Status.IN_EDITING, items)
    item_ids = [int(card.plain.split("#", 1)[1].split()[0]) for card in cards]
    for item_id in item_ids:
        await double.send_command(office.editor, "judul", f"{item_id} Judul {item_id}")
    for item_id in item_ids:
        await double.send_command(office.editor, "ajukan", str(item_id))
    await double.wait_until(lambda: len([m for m in double.messages(office.official)
                                         if m.buttons]) >= items, 120, what="decision cards")
    for card in [m for m in double.messages(office.official) if m.buttons]:
        await double.click(office.official, card, "✅ Setujui")
    await office.wait_for_count(Status.APPROVED, items)
    return time.perf_counter() - began


@dataclasses.dataclass(frozen=True)
class FlowResult:
    per_second: float
    api_calls_per_update: float  # Bot API calls the bot made (long polls not counted)
    statements: Counter[str]  # SQL statements per step, BEGIN and COMMIT included
    updates: int
    texts: Counter[tuple[str, str]]  # (step, statement's opening) with --show-sql

    def per_update(self, steps: Iterable[str]) -> float:
        return sum(self.statements[name] for name in steps) / self.updates


Profiler = Callable[[Callable[[], Awaitable[float]]], Awaitable[float]]


async def _unprofiled(flow: Callable[[], Awaitable[float]]) -> float:
    return await flow()


async def measure_flow(items: int, database: str, profile: Profiler = _unprofiled,
                       *, show_sql: bool = False) -> FlowResult:
    with tempfile.TemporaryDirectory(prefix="warta-bench-") as workdir, \
            database_url(database, Path(workdir)) as url, steps_attributed():
        async with BotApiDouble() as double:
            office = Office(double, Path(workdir), url)
            counter = StatementCounter(office.warta.engine, keep_text=show_sql)
            app = build_application(office.warta, double.app_builder().updater(None))
            async with serve(app, office.warta):
                await run_flow(office, 5)  # warm-up: first-call costs, connections
                calls_before = len(double.calls)
                counter.take()
                counter.texts.clear()
                seconds = await profile(lambda: run_flow(office, items))
                statements = counter.take()
                calls = [c for c in double.calls[calls_before:] if c.method != "getUpdates"]
            office.warta.close()
    updates = items * UPDATES_PER_ITEM
    return FlowResult(updates / seconds, len(calls) / updates, statements, updates,
                      counter.texts)


async def _answer_three_times(update: Update, _context: object) -> None:
    if update.message is not None and update.message.text is not None:
        for _ in range(CEILING_CALLS):
            await update.message.reply_text(update.message.text)


def api_only_app(double: BotApiDouble) -> App:
    """The ceiling for any bot that answers each update with CEILING_CALLS Bot API calls (as
    the SOP's flow must: answer, card, notices) and does nothing else: no database."""
    app = double.app_builder().build()
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, _answer_three_times))
    return app


def big_video(path: Path, megabytes: int) -> Path:
    """A structurally valid MP4 whose mdat is `megabytes` of zeros, written in chunks."""
    def box(kind: bytes, payload: bytes = b"") -> bytes:
        return struct.pack(">I4s", 8 + len(payload), kind) + payload

    hdlr = box(b"hdlr", bytes(8) + b"vide" + bytes(12) + b"VideoHandler\x00")
    trak = box(b"trak", box(b"tkhd", bytes(84)) + box(b"mdia", box(b"mdhd", bytes(24)) + hdlr))
    head = box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2mp41")
    head += box(b"moov", box(b"mvhd", bytes(100)) + trak)
    size = megabytes * 1024 * 1024
    chunk = bytes(1024 * 1024)
    with path.open("wb") as out:
        out.write(head + struct.pack(">I4s", 8 + size, b"mdat"))
        for _ in range(megabytes):
            out.write(chunk)
    return path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def measure_video_memory(megabytes: int) -> tuple[float, float]:
    """(peak RSS before, peak RSS after) in MB around receiving one big video."""
    with tempfile.TemporaryDirectory(prefix="warta-bench-") as workdir:
        video = big_video(Path(workdir) / "video.mp4", megabytes)
        async with BotApiDouble(download_limit=None) as double:
            office = Office(double, Path(workdir))
            app = build_application(office.warta, double.app_builder().updater(None))
            officer = office.officers[0]
            async with serve(app, office.warta):
                await double.send_text(officer, "pemanasan")
                await double.wait_for_message(officer, contains="Draf #")
                before = peak_rss_mb()
                await double.send_video(officer, video, caption="Video kegiatan")
                await double.wait_for_message(officer, contains="1 video", timeout=120)
                after = peak_rss_mb()
            office.warta.close()
    return before, after


async def _main(items: int, repeat: int, video_mb: int, database: str,
                show_sql: bool = False) -> None:
    print(environment(), flush=True)
    print(f"database {database} · {items} items x {UPDATES_PER_ITEM} updates · {repeat} runs",
          flush=True)
    updates = items * UPDATES_PER_ITEM
    echoes, flows, ceilings = [], [], []
    for run in range(1, repeat + 1):
        echo = await measure(echo_app, updates, label="echo floor")
        flow = await measure_flow(items, database, show_sql=show_sql)
        ceiling = await measure(api_only_app, updates, replies_per_update=CEILING_CALLS)
        echoes.append(echo.per_second)
        flows.append(flow)
        ceilings.append(ceiling.per_second)
        print(f"run {run}: echo {echo.per_second:.0f} upd/s · same-calls ceiling "
              f"{ceiling.per_second:.0f} · warta {flow.per_second:.0f} "
              f"({flow.per_second / ceiling.per_second:.2f}x ceiling) · "
              f"{flow.api_calls_per_update:.2f} Bot API calls and "
              f"{flow.per_update(flow.statements):.1f} SQL statements per update · "
              f"{load_now()}", flush=True)
    print_summary(echoes, ceilings, flows)
    if show_sql:
        print_statements(flows[-1])
    if video_mb > 0:
        before, after = await measure_video_memory(video_mb)
        print(f"{video_mb} MB video: peak RSS {before:.1f} MB before, {after:.1f} MB after "
              f"(+{after - before:.1f} MB; target < 20 MB)")


def print_summary(echoes: list[float], ceilings: list[float], flows: list[FlowResult]) -> None:
    ratios = [flow.per_second / ceiling for flow, ceiling in zip(flows, ceilings, strict=True)]
    runs = len(flows)
    print(f"\nmedian (min–max) of {runs} runs")
    print("| figure | value |\n|---|---|")
    print(f"| echo floor, upd/s | {spread(echoes).show()} |")
    print(f"| same-calls ceiling ({CEILING_CALLS} calls/update), upd/s | "
          f"{spread(ceilings).show()} |")
    print(f"| warta full flow, upd/s | {spread([f.per_second for f in flows]).show()} |")
    print(f"| warta / ceiling (target >= 0.6x) | {spread(ratios).show(2)} |")
    print(f"| warta / echo | "
          f"{spread([f.per_second / e for f, e in zip(flows, echoes, strict=True)]).show(2)} |")
    print(f"| Bot API calls per update | "
          f"{spread([f.api_calls_per_update for f in flows]).show(2)} |")
    steps = sorted({name for flow in flows for name in flow.statements}, key=step_order)
    for name in steps:
        print(f"| SQL statements per update: {name} | "
              f"{spread([f.per_update([name]) for f in flows]).show(2)} |")
    print(f"| SQL statements per update: all (target <= 10) | "
          f"{spread([f.per_update(f.statements) for f in flows]).show(2)} |")


def print_statements(flow: FlowResult, top: int = 8) -> None:
    """The statements each step runs most, per update, from the last run."""
    for name in sorted({name for name, _ in flow.texts}, key=step_order):
        print(f"\n{name}: the {top} most frequent statements, per update")
        ranked = sorted(((count, text) for (step_name, text), count in flow.texts.items()
                         if step_name == name), reverse=True)
        for count, text in ranked[:top]:
            print(f"  {count / flow.updates:5.2f}  {text}")


def pyinstrument_or_cprofile(reports: list[str]) -> Profiler:
    """Profiles the flow into `reports`: the event loop's thread with pyinstrument's tree
    when it is installed (it sees through await), else cProfile's top 60 by cumulative
    time; and the database threads (bot.base.in_worker) with cProfile."""
    async def profiled(flow: Callable[[], Awaitable[float]]) -> float:
        with database_threads_profiled() as threads:
            seconds, report = await _loop_profiled(flow)
        database = "\n".join(profile.report() for profile in threads)
        reports.append(f"{environment()}\nflow took {seconds:.2f} s\n\n"
                       f"== event loop's thread ==\n"
                       f"{report}\n\n== database threads (cProfile, cumulative) ==\n{database}")
        return seconds
    return profiled


async def _loop_profiled(flow: Callable[[], Awaitable[float]]) -> tuple[float, str]:
    """The event loop's thread profiled while the flow runs: (seconds, report)."""
    try:
        pyinstrument = importlib.import_module("pyinstrument")
    except ImportError:
        pyinstrument = None
    if pyinstrument is not None:
        # "disabled": every task of the loop is sampled, not only the one that started it.
        profiler = pyinstrument.Profiler(async_mode="disabled", interval=0.001,
                                         use_timing_thread=True)
        profiler.start()
        seconds = await flow()
        profiler.stop()
        flat = profiler.output_text(unicode=True, color=False, flat=True)
        tree = profiler.output_text(unicode=True, color=False, show_all=False)
        report = f"== self time, flat ==\n{flat}\n\n== call tree ==\n{tree}"
    else:
        profiler = cProfile.Profile()
        profiler.enable()
        seconds = await flow()
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(60)
        report = out.getvalue()
    return seconds, report


async def _profile(items: int, database: str) -> str:
    reports: list[str] = []
    flow = await measure_flow(items, database, pyinstrument_or_cprofile(reports))
    print(f"profiled flow on {database}: {flow.per_second:.0f} upd/s under the profiler")
    return reports[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--video-mb", type=int, default=50, help="0 skips the memory figure")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--profile", type=Path, help="profile one flow into this file")
    parser.add_argument("--show-sql", action="store_true",
                        help="also list each step's most frequent statements")
    args = parser.parse_args(argv)
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    if args.profile:
        args.profile.parent.mkdir(parents=True, exist_ok=True)
        args.profile.write_text(asyncio.run(_profile(args.items, args.database)))
        print(f"profile written to {args.profile}")
    else:
        asyncio.run(_main(args.items, args.repeat, args.video_mb, args.database,
                          args.show_sql))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
