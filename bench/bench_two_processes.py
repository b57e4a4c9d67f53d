"""Real `warta run` processes in webhook mode on one PostgreSQL, behind a round-robin proxy.

    WARTA_TEST_PG_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        .venv/bin/python -m bench.bench_two_processes [--updates 10000] [--chats 200]

The Bot API is telesim (in this process), which delivers each update by POST to one webhook
URL, as Telegram does: one at a time, the next after the 200. That URL is a round-robin
proxy on loopback (telesim.RoundRobinProxy) in front of the processes, so an album's
parts are stored by different processes. Officers send texts and albums of three photos;
each text is answered with the draft, each album with one answer once it is complete.

Runs once with one process and once with two, each on a fresh schema. Prints the
environment, the throughput of each (updates from the first sent to the last handled,
per second) and the checks: lost (sent but not handled), twice (handled more than once:
an attempt counted twice, or more answers than updates asked for), out of order (a draft
whose texts are not in the order sent), albums split (an album answered more than once or
with part of its photos). The machine is shared: the load average is printed with each run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import re
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from bench.instruments import database_url, environment, load_now
from telesim import BotApiDouble, RoundRobinProxy, SimUser
from tests.test_media import jpeg_bytes
from workflow.config import Settings
from workflow.context import Context
from workflow.models import InboundUpdate, Item, Role
from workflow.people import add_person, find_by_telegram_id

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-two-processes"
IT_CHAT = -100600
ALBUMS_PER_CHAT = 2
ALBUM_PHOTOS = 3
PHOTOS = re.compile(r"(\d+) foto")
POLL_SECONDS = 0.2


@dataclasses.dataclass(frozen=True)
class Plan:
    """What each officer sends, in order: texts, with albums (their caption) among them."""

    chats: int
    per_chat: int  # updates per chat: texts plus album parts

    @property
    def texts_per_chat(self) -> int:
        return self.per_chat - ALBUMS_PER_CHAT * ALBUM_PHOTOS

    def album_after(self, turn: int) -> bool:
        """Albums come after the first and the second third of the texts."""
        step = max(1, self.texts_per_chat // (ALBUMS_PER_CHAT + 1))
        return turn % step == step - 1 and turn // step < ALBUMS_PER_CHAT


@dataclasses.dataclass(frozen=True)
class Result:
    processes: int
    updates: int
    seconds: float
    lost: int
    twice: int
    out_of_order: int
    albums_split: int
    forwarded: dict[str, int]
    load: str

    def show(self) -> str:
        share = " / ".join(str(count) for count in self.forwarded.values())
        return (f"{self.processes} process{'es' if self.processes > 1 else ''}: "
                f"{self.updates / self.seconds:.1f} updates/s ({self.updates} in "
                f"{self.seconds:.1f} s; proxy forwarded {share}) · lost {self.lost} · "
                f"twice {self.twice} · out of order {self.out_of_order} · albums split "
                f"{self.albums_split} · {self.load}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(workdir: Path, double: BotApiDouble, url: str, proxy: str, port: int,
                 name: str) -> Path:
    config = workdir / f"{name}.toml"
    config.write_text(f"""
[office]
name = "Dinas Bench"

[telegram]
token = "{double.token}"
api_base_url = "{double.base_url}"
api_file_url = "{double.base_file_url}"
it_team_chat_id = {IT_CHAT}
album_wait_seconds = 0.3
rate_limit = false
webhook_url = "{proxy}/telegram"
webhook_listen = "127.0.0.1"
webhook_port = {port}
webhook_secret = "{SECRET}"

[database]
url = "{url}"

[media]
dir = "{workdir / 'media'}"

[website]
adapter = "none"
""", encoding="utf-8")
    return config


@contextlib.asynccontextmanager
async def warta_runs(workdir: Path, double: BotApiDouble, url: str, proxy: RoundRobinProxy,
                     count: int) -> AsyncIterator[list[asyncio.subprocess.Process]]:
    """`count` `warta run` processes, each on its own port behind the proxy; SIGTERM after."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PTB_TIMEDELTA": "true",
           "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    processes, ports = [], []
    try:
        for n in range(count):
            port = free_port()
            config = write_config(workdir, double, url, proxy.url, port, f"warta-{n}")
            with (workdir / f"warta-{n}.log").open("ab") as log:
                processes.append(await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "warta.cli", "--config", str(config), "run",
                    stdout=log, stderr=log, env=env, cwd=str(workdir)))
            ports.append(port)
        await double.wait_until(lambda: len(double.calls_to("setWebhook")) >= count, 60,
                                what="every process registered the webhook")
        proxy.backends = [f"http://127.0.0.1:{port}" for port in ports]
        yield processes
    finally:
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()


def add_officers(warta: Context, double: BotApiDouble, chats: int) -> list[SimUser]:
    now = datetime.now(UTC)
    officers = []
    for n in range(chats):
        with warta.sessions() as session:
            add_person(session, None, now, telegram_id=80_000 + n, name=f"Petugas {n}",
                       roles=[Role.PETUGAS])
        officers.append(double.user(80_000 + n, f"Petugas{n}"))
    return officers


async def send_all(double: BotApiDouble, officers: list[SimUser],
                   plan: Plan) -> dict[int, list[str]]:
    """Every officer in turn; returns what each draft must say, in order."""
    expected: dict[int, list[str]] = {officer.id: [] for officer in officers}
    photos = [jpeg_bytes((64 + n, 48)) for n in range(ALBUM_PHOTOS)]
    for turn in range(plan.texts_per_chat):
        for officer in officers:
            text = f"kabar {turn} dari {officer.id}"
            await double.send_text(officer, text)
            expected[officer.id].append(text)
            if plan.album_after(turn):
                caption = f"album {turn} dari {officer.id}"
                await double.send_album(officer, photos, caption=caption)
                expected[officer.id].append(caption)
    return expected


def unhandled(warta: Context) -> int:
    with warta.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(InboundUpdate)
                                  .where(InboundUpdate.handled_at.is_(None))) or 0)


async def wait_handled(warta: Context, double: BotApiDouble, sent: int,
                       limit: float) -> None:
    """Until Telegram has delivered everything and nothing stored is left to handle."""
    deadline = time.perf_counter() + limit
    while time.perf_counter() < deadline:
        with warta.sessions() as session:
            stored = session.scalar(select(func.count()).select_from(InboundUpdate)) or 0
        if stored >= sent and unhandled(warta) == 0:
            return
        await asyncio.sleep(POLL_SECONDS)
    raise TimeoutError(f"not all {sent} updates handled within {limit:.0f} s")


def answers(double: BotApiDouble, officer: SimUser) -> list[str]:
    return [m.plain for m in double.sent_to(officer) if "Draf #" in (m.plain or "")]


def check(warta: Context, double: BotApiDouble, officers: list[SimUser],
          expected: dict[int, list[str]], plan: Plan) -> tuple[int, int, int, int]:
    """(lost, twice, out of order, albums split), as described in the module docstring."""
    with warta.sessions() as session:
        rows = list(session.execute(select(InboundUpdate.update_id, InboundUpdate.handled_at,
                                           InboundUpdate.attempts)))
        handled = {update_id for update_id, at, _ in rows if at is not None}
        lost = len({u["update_id"] for u in double.updates} - handled)
        twice = sum(1 for _, _, attempts in rows if attempts > 1)
        out_of_order = split = 0
        for officer in officers:
            person = find_by_telegram_id(session, officer.id)
            assert person is not None
            drafts = list(session.scalars(select(Item).where(Item.officer_id == person.id)))
            if [d.description for d in drafts] != ["\n\n".join(expected[officer.id])]:
                out_of_order += 1
            said = answers(double, officer)
            twice += max(0, len(said) - plan.texts_per_chat - ALBUMS_PER_CHAT)
            # A split album shows a count of photos that is not whole albums.
            split += sum(1 for text in said
                         if (found := PHOTOS.search(text)) and int(found[1]) % ALBUM_PHOTOS)
            if len(said) < plan.texts_per_chat + ALBUMS_PER_CHAT:
                lost += 1
    return lost, twice, out_of_order, split


async def measure(processes: int, plan: Plan, limit: float) -> Result:
    with tempfile.TemporaryDirectory(prefix="warta-bench-2p-") as workdir, \
            database_url("postgres", Path(workdir)) as url:
        settings = Settings()
        settings = dataclasses.replace(settings, database=dataclasses.replace(
            settings.database, url=url))
        warta = Context(settings)
        warta.upgrade()
        async with BotApiDouble() as double, RoundRobinProxy() as proxy:
            double.group(IT_CHAT, "Tim IT")
            officers = add_officers(warta, double, plan.chats)
            async with warta_runs(Path(workdir), double, url, proxy, processes):
                began = time.perf_counter()
                expected = await send_all(double, officers, plan)
                sent = len(double.updates)
                await wait_handled(warta, double, sent, limit)
                seconds = time.perf_counter() - began
                load = load_now()
                # The last albums' answers come after their quiet period.
                want = plan.texts_per_chat + ALBUMS_PER_CHAT
                with contextlib.suppress(Exception):
                    await double.wait_until(lambda: all(len(answers(double, o)) >= want
                                                        for o in officers), 30,
                                            what="every answer")
                await double.settle(quiet=2.5)  # past an album sweep: a late second answer
                lost, twice, disorder, split = check(warta, double, officers, expected, plan)
            forwarded = {backend.rsplit(":", 1)[1]: count
                         for backend, count in proxy.forwarded.items()}
        warta.close()
    return Result(processes, sent, seconds, lost, twice, disorder, split, forwarded, load)


async def _main(updates: int, chats: int, limit: float) -> None:
    print(environment(), flush=True)
    plan = Plan(chats, max(ALBUMS_PER_CHAT * ALBUM_PHOTOS + 3, updates // chats))
    print(f"webhook mode · PostgreSQL · {plan.chats} chats x {plan.per_chat} updates "
          f"({plan.texts_per_chat} texts, {ALBUMS_PER_CHAT} albums of {ALBUM_PHOTOS} photos) "
          f"= {plan.chats * plan.per_chat} updates · round-robin proxy on loopback", flush=True)
    results = []
    for processes in (1, 2):
        result = await measure(processes, plan, limit)
        results.append(result)
        print(result.show(), flush=True)
    one, two = (r.updates / r.seconds for r in results)
    print(f"two processes / one: {two / one:.2f}x", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=10_000)
    parser.add_argument("--chats", type=int, default=200)
    parser.add_argument("--limit", type=float, default=1800.0,
                        help="seconds a run may take before it is abandoned")
    args = parser.parse_args()
    asyncio.run(_main(args.updates, args.chats, args.limit))


if __name__ == "__main__":
    main()
