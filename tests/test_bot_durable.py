"""Nothing the bot acknowledged is lost: the durable inbox (bot.inbox) under crashes and faults.

The bot runs through `bot.inbox.serve` (no PTB Updater) against the Bot API double. A crash
is simulated in process by cutting the update in hand short (`stop_timeout` near zero while
the bot's answer hangs in the double), and for real by `kill -9` of a `warta run` process.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.inbox import Inbox, Service, WebhookOptions, serve
from telesim import ApiCall, BotApiDouble, SimChat, SimUser
from tests.botkit import ALERT_CHAT, IT_CHAT, PEOPLE, Office, office_settings
from tests.conftest import truncate_all
from tests.test_media import jpeg_bytes
from warta.wiring import build_application
from workflow import db
from workflow.config import DatabaseSettings, Settings
from workflow.context import Context
from workflow.models import InboundUpdate, Item, Status
from workflow.people import add_person, find_by_telegram_id

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- harness


@dataclass
class World:
    """What outlives a bot process: the Telegram double, the database, the people."""

    double: BotApiDouble
    settings: Settings
    users: dict[str, SimUser]
    it_chat: SimChat
    alert_chat: SimChat

    def rows(self) -> list[InboundUpdate]:
        with Context(self.settings).sessions() as session:
            return list(session.scalars(select(InboundUpdate)
                                        .order_by(InboundUpdate.update_id)))

    def items_of(self, key: str) -> list[Item]:
        with Context(self.settings).sessions() as session:
            officer = find_by_telegram_id(session, PEOPLE[key][0])
            assert officer is not None
            return list(session.scalars(select(Item).where(Item.officer_id == officer.id)
                                        .order_by(Item.id)))


@contextlib.asynccontextmanager
async def open_world(settings: Settings) -> AsyncIterator[World]:
    """A migrated database with botkit's people, and the double knowing them."""
    warta = Context(settings)
    warta.upgrade()
    now = datetime.now(UTC)
    async with BotApiDouble() as double:
        users = {}
        for key, (telegram_id, name, roles, lang) in PEOPLE.items():
            with warta.sessions() as session:
                add_person(session, None, now, telegram_id=telegram_id, name=name,
                           roles=roles, language=lang)
            users[key] = double.user(telegram_id, name.split()[0], language_code=lang)
        warta.close()
        yield World(double, settings, users, double.group(IT_CHAT, "Tim IT"),
                    double.group(ALERT_CHAT, "Webmaster"))
        assert not double.unhandled, double.unhandled
        assert not double.errors, double.errors


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warta.db'}"
    url: str = request.getfixturevalue("postgres_schema_url")
    engine = db.make_engine(url)
    truncate_all(engine)
    engine.dispose()
    return url


@pytest.fixture
async def world(tmp_path: Path, database_url: str) -> AsyncIterator[World]:
    settings = dataclasses.replace(office_settings(tmp_path),
                                   database=DatabaseSettings(url=database_url))
    async with open_world(settings) as opened:
        yield opened


@contextlib.asynccontextmanager
async def bot_process(world: World, *, stop_timeout: float = 10.0,
                      webhook: WebhookOptions | None = None,
                      builder: Any = None) -> AsyncIterator[tuple[Office, Service]]:
    """One run of the bot, as a freshly started process would be: new Context, new
    Application, same database and the same Telegram."""
    warta = Context(world.settings)
    app = build_application(warta, builder or world.double.app_builder().updater(None))
    async with serve(app, warta, webhook=webhook, poll_timeout=1.0,
                     stop_timeout=stop_timeout) as service:
        yield Office(world.double, warta, world.it_chat, world.alert_chat, world.users,
                     app), service


def hung_reply(double: BotApiDouble, since: int = 0) -> ApiCall | None:
    """The bot's answer held by `hang_next("sendMessage")`, once it is on the wire."""
    return next((call for call in double.calls[since:]
                 if call.method == "sendMessage" and not call.status), None)


def acknowledged(double: BotApiDouble, update_id: int) -> bool:
    """Whether the bot asked getUpdates for a later offset (Telegram then forgets it)."""
    return any(int(call.params.get("offset", 0)) > update_id
               for call in double.calls_to("getUpdates"))


async def crash_during_reply(world: World, send: Callable[[Office], Awaitable[Any]]) -> None:
    """Runs the bot until its answer to `send` is on the wire, then ends it abruptly: the
    update in hand is cut short, as a `kill -9` would, after its database effects."""
    double = world.double
    double.hang_next("sendMessage", seconds=60)
    mark = len(double.calls)
    async with bot_process(world, stop_timeout=0.05) as (office, _service):
        await send(office)
        await double.wait_until(lambda: hung_reply(double, mark), what="the hung reply")
    interrupted = [row for row in world.rows() if row.handled_at is None]
    assert [row.attempts for row in interrupted] == [1]


async def run_until_handled(world: World) -> None:
    async with bot_process(world) as (_office, service):
        await service.drained()


def delivered_ids(double: BotApiDouble) -> Counter[int]:
    """How often each update id was handed out by getUpdates."""
    return Counter(update["update_id"] for call in double.calls_to("getUpdates")
                   if call.ok for update in call.result)


# --------------------------------------------------------------------------- tests


async def test_stored_updates_survive_a_crash_and_are_handled_once_in_order(
        world: World) -> None:
    double = world.double
    double.hang_next("sendMessage", seconds=60)  # the answer to the first text never comes
    async with bot_process(world, stop_timeout=0.05) as (office, _service):
        sent = [await double.send_text(office.officer, f"bagian {n}") for n in range(1, 6)]
        last = sent[-1].update_id
        assert last is not None
        await double.wait_until(lambda: acknowledged(double, last) and hung_reply(double),
                                what="all five acknowledged while the first is in hand")
        # Telegram has forgotten all five; only the inbox has them.
        rows = world.rows()
        assert [row.update_id for row in rows] == [message.update_id for message in sent]
        assert [(row.attempts, row.handled_at) for row in rows] == \
            [(1, None)] + [(0, None)] * 4
    mark = len(double.calls)

    async with bot_process(world) as (office, service):
        await service.drained()
        await double.wait_for_message(office.officer, contains="bagian 5")

    rows = world.rows()
    assert all(row.handled_at is not None and not row.last_error for row in rows)
    assert [row.attempts for row in rows] == [2, 1, 1, 1, 1]
    (draft,) = world.items_of("officer")
    # The first text was saved before the crash; handling it again added nothing.
    assert draft.description == "\n\n".join(f"bagian {n}" for n in range(1, 6))
    # The restarted bot continued after the stored updates: none was delivered twice.
    restarted = [call for call in double.calls_to("getUpdates") if call.seq > mark]
    assert int(restarted[0].params["offset"]) == last + 1
    assert set(delivered_ids(double).values()) == {1}


async def test_interrupted_officer_messages_are_not_applied_twice(world: World) -> None:
    double = world.double
    await crash_during_reply(world, lambda office: double.send_command(office.officer, "baru"))
    await run_until_handled(world)
    assert [item.status for item in world.items_of("officer")] == [Status.DRAFT]

    await crash_during_reply(world, lambda office: double.send_photo(
        office.officer, jpeg_bytes((640, 480)), caption="Rapat di aula"))
    await run_until_handled(world)
    await crash_during_reply(world, lambda office: double.send_text(office.officer,
                                                                    "Dihadiri 40 warga"))
    await run_until_handled(world)

    (draft,) = world.items_of("officer")
    with Context(world.settings).sessions() as session:
        fresh = session.get(Item, draft.id)
        assert fresh is not None
        assert [media.kind for media in fresh.media] == ["photo"]
        assert fresh.description == "Rapat di aula\n\nDihadiri 40 warga"
    assert [row.attempts for row in world.rows()] == [2, 2, 2]


async def test_an_update_delivered_twice_is_handled_once(world: World) -> None:
    double = world.double
    async with bot_process(world) as (office, service):
        first = await double.send_text(office.officer, "sekali saja")
        await double.wait_for_message(office.officer, contains="sekali saja")
        original = next(u for u in double.updates if u["update_id"] == first.update_id)
        # Telegram sends an update again when it did not see it acknowledged; here the
        # copy rides along with a new update, so getUpdates really hands it out again.
        await double.send_text(office.officer, "kedua")
        await double.send_update(dict(original))
        await double.wait_for_message(office.officer, contains="kedua")
        await service.drained()
        await double.settle()
    assert delivered_ids(double)[first.update_id] == 2
    (draft,) = world.items_of("officer")
    assert draft.description == "sekali saja\n\nkedua"
    assert [row.attempts for row in world.rows()] == [1, 1]
    summaries = [m for m in double.sent_to(world.users["officer"]) if "Draf #" in (m.plain or "")]
    assert len(summaries) == 2


async def test_poller_rides_out_502_429_and_a_hang(world: World,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    double = world.double
    caplog.set_level(logging.INFO, logger="warta.inbox")
    # A short read timeout so a hung getUpdates turns into TimedOut quickly.
    builder = double.app_builder().updater(None).get_updates_read_timeout(0.5)
    async with bot_process(world, builder=builder) as (office, service):
        await double.send_text(office.officer, "sebelum gangguan")
        await double.wait_for_message(office.officer, contains="sebelum gangguan")
        double.fail_next("getUpdates", status=502)
        double.fail_next("getUpdates", status=429, retry_after=1)
        double.hang_next("getUpdates", seconds=3)
        await double.wait_for("getUpdates", lambda call: call.status == 429,
                              include_failed=True)
        await double.send_text(office.officer, "sesudah gangguan")
        await double.wait_for_message(office.officer, contains="sesudah gangguan", timeout=15)
        await service.drained()
    statuses = [call.status for call in double.calls_to("getUpdates")]
    assert 502 in statuses and 429 in statuses
    flood = next(c for c in double.calls_to("getUpdates") if c.status == 429)
    after = next(c for c in double.calls_to("getUpdates") if c.seq > flood.seq)
    assert after.at - flood.at >= 0.9  # retry_after honoured
    (draft,) = world.items_of("officer")
    assert draft.description == "sebelum gangguan\n\nsesudah gangguan"
    messages = caplog.text
    assert "getUpdates failed" in messages and "flood control" in messages
    assert double.token not in messages


async def test_store_ignores_known_update_ids(world: World) -> None:
    warta = Context(world.settings)
    inbox = Inbox(warta.sessions, warta.now)
    assert inbox.next_offset() is None
    assert inbox.store([{"update_id": 5, "message": {}}, {"update_id": 6}]) == 2
    assert inbox.store([{"update_id": 6}, {"update_id": 7}, {"update_id": 7}]) == 1
    assert inbox.next_offset() == 8
    assert [row.update_id for row in inbox.pending()] == [5, 6, 7]
    assert world.rows()[0].payload == {"update_id": 5, "message": {}}
    warta.close()


async def test_offset_and_pruning_follow_telegrams_retention(world: World) -> None:
    """Telegram re-sends an unacknowledged update for 24 hours and restarts its ids at random
    after a week of silence: old rows must not steer the offset or pass for duplicates."""
    warta = Context(world.settings)
    now = [datetime(2026, 11, 25, 2, 0, tzinfo=UTC)]
    inbox = Inbox(warta.sessions, lambda: now[0])
    inbox.store([{"update_id": 900}, {"update_id": 901}])
    inbox.finish(900)
    assert inbox.next_offset() == 902
    now[0] += timedelta(hours=25)
    assert inbox.next_offset() is None  # Telegram can no longer send those two again
    now[0] += timedelta(days=3)
    assert inbox.prune() == 1  # the handled one; 901 is still to be handled
    assert [row.update_id for row in inbox.pending()] == [901]
    warta.close()


async def test_an_update_that_keeps_crashing_the_bot_is_given_up(world: World) -> None:
    """A poison update (say, a file that kills the process each time) must not block every
    update behind it forever: after MAX_ATTEMPTS interrupted starts it is closed, logged."""
    from bot.inbox import MAX_ATTEMPTS

    warta = Context(world.settings)
    inbox = Inbox(warta.sessions, warta.now)
    inbox.store([{"update_id": 1, "message": {}}])
    with warta.sessions() as session, session.begin():
        session.get_one(InboundUpdate, 1).attempts = MAX_ATTEMPTS
    warta.close()
    async with bot_process(world) as (_office, service):
        await service.drained()
    (row,) = world.rows()
    assert row.handled_at is not None and "given up" in row.last_error


def old_shape_poll(user: SimUser) -> dict[str, Any]:
    """A poll as an older self-hosted Bot API server sends it: options as plain strings,
    which python-telegram-bot 22 cannot read."""
    return {"message": {
        "message_id": 900, "date": int(datetime.now(UTC).timestamp()),
        "chat": {"id": user.id, "type": "private", "first_name": user.first_name},
        "from": {"id": user.id, "is_bot": False, "first_name": user.first_name,
                 "language_code": "id"},
        "poll": {"id": "p1", "question": "Hadir?", "options": ["ya", "tidak"]}}}


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_an_update_the_library_cannot_read_does_not_stop_the_others(
        world: World, mode: str) -> None:
    """One unreadable update among good ones: stored, acknowledged, closed with its reason;
    the sender is told in their language, the webmaster alerted once; the rest are handled."""
    double, officer = world.double, world.users["officer"]
    webhook = WebhookOptions(secret="rahasia") if mode == "webhook" else None
    async with bot_process(world, webhook=webhook) as (office, service):
        await double.send_text(officer, "Rapat desa di balai")
        poison = await double.send_update(old_shape_poll(officer))
        await double.send_update(old_shape_poll(officer))  # the same kind again: no 2nd alert
        await double.send_text(officer, "Dihadiri 30 orang")
        await double.wait_until(lambda: len(world.rows()) == 4, what="all four stored")
        await service.drained()
        await office.flush()
    rows = world.rows()
    assert len(rows) == 4 and all(row.handled_at is not None for row in rows)
    unreadable = [row for row in rows if row.last_error]
    assert [row.update_id for row in unreadable] == [poison["update_id"], poison["update_id"] + 1]
    assert all(row.last_error.startswith("unreadable") for row in unreadable)
    (draft,) = world.items_of("officer")
    assert "Rapat desa di balai" in draft.description and "Dihadiri 30 orang" in draft.description
    told = [m.text for m in double.sent_to(officer) if "tidak dikenal" in (m.text or "")]
    assert len(told) == 2
    alerts = [m.text for m in double.sent_to(world.alert_chat)
              if "tidak bisa dibaca" in (m.text or "")]
    assert len(alerts) == 1 and "message" in alerts[0]
    if mode == "polling":
        assert acknowledged(double, poison["update_id"] + 2)


# --------------------------------------------------------------------------- kill -9


def write_config(world: World, path: Path) -> Path:
    telegram = world.settings.telegram
    config = path / "config.toml"
    config.write_text(f"""
[office]
name = "Dinas Uji"

[telegram]
token = "{world.double.token}"
api_base_url = "{world.double.base_url}"
api_file_url = "{world.double.base_file_url}"
it_team_chat_id = {telegram.it_team_chat_id}
alert_chat_id = {telegram.alert_chat_id}
album_wait_seconds = 0.3
rate_limit = false

[database]
url = "{world.settings.database.url}"

[media]
dir = "{world.settings.media.dir}"

[website]
adapter = "none"
""", encoding="utf-8")
    return config


async def start_warta_run(config: Path, log_path: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PTB_TIMEDELTA": "true",
           "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    with log_path.open("ab") as log_file:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "warta.cli", "--config", str(config), "run",
            stdout=log_file, stderr=log_file, env=env, cwd=str(config.parent))


async def wait_rows(world: World, condition: Callable[[list[InboundUpdate]], bool],
                    timeout: float = 20.0) -> None:  # noqa: ASYNC109
    """Waits for the other process's database writes (no event to wait on across processes)."""
    async with asyncio.timeout(timeout):
        while not condition(world.rows()):  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_kill_9_between_acknowledging_and_handling_loses_nothing(
        world: World, tmp_path: Path) -> None:
    double = world.double
    config = write_config(world, tmp_path)
    log_path = tmp_path / "warta.log"
    double.hang_next("sendMessage", seconds=60)
    process = await start_warta_run(config, log_path)
    try:
        officer = world.users["officer"]
        sent = [await double.send_text(officer, f"bagian {n}") for n in range(1, 6)]
        last = sent[-1].update_id
        assert last is not None
        await double.wait_until(lambda: acknowledged(double, last) and hung_reply(double),
                                timeout=20, what="acknowledged while the first is in hand")
    finally:
        process.kill()  # SIGKILL: no cleanup of any kind
        await process.wait()
    rows = world.rows()
    assert len(rows) == 5 and all(row.handled_at is None for row in rows)

    process = await start_warta_run(config, log_path)
    try:
        await wait_rows(world, lambda rows: all(row.handled_at is not None for row in rows))
        await double.wait_for_message(world.users["officer"], contains="bagian 5", timeout=10)
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 20)
    assert code == 0
    assert [row.attempts for row in world.rows()] == [2, 1, 1, 1, 1]
    (draft,) = world.items_of("officer")
    assert draft.description == "\n\n".join(f"bagian {n}" for n in range(1, 6))
    assert set(delivered_ids(double).values()) == {1}
    output = log_path.read_text(encoding="utf-8")
    assert "handled again (attempt 2)" in output and "bot stopped" in output
    assert double.token not in output
