"""Two bot services on one PostgreSQL behind a round-robin proxy, in webhook mode: each update
handled once, each chat's updates in order, an album answered once and whole although its
parts were stored by different services. Needs PostgreSQL (WARTA_TEST_PG_URL); SQLite is
one process by nature. bench/bench_two_processes.py does the same with `warta run`."""

from __future__ import annotations

import contextlib
import dataclasses
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.inbox import Pending, Processor, Service, WebhookOptions, chat_of, serve
from telesim import BotApiDouble, RoundRobinProxy, SimUser
from tests.botkit import office_settings
from tests.conftest import truncate_all
from tests.test_bot_durable import World, open_world
from tests.test_media import jpeg_bytes
from warta.wiring import build_application
from workflow import db
from workflow.config import DatabaseSettings
from workflow.context import Context
from workflow.models import InboundUpdate, Item, Role
from workflow.people import add_person, find_by_telegram_id

pytestmark = pytest.mark.postgres

SECRET = "rahasia-dua-proses"
CHATS = 20
TEXTS_PER_CHAT = 12
ALBUM_AFTER = 5  # each officer's album comes after their fifth text
ALBUM_PHOTOS = 3


@pytest.fixture
async def world(tmp_path: Path, postgres_schema_url: str) -> AsyncIterator[World]:
    engine = db.make_engine(postgres_schema_url)
    truncate_all(engine)
    engine.dispose()
    settings = dataclasses.replace(office_settings(tmp_path),
                                   database=DatabaseSettings(url=postgres_schema_url))
    async with open_world(settings) as opened:
        yield opened


def add_officers(world: World) -> list[SimUser]:
    warta = Context(world.settings)
    officers = []
    for n in range(CHATS):
        telegram_id = 50_000 + n
        with warta.sessions() as session:
            add_person(session, None, datetime.now(UTC), telegram_id=telegram_id,
                       name=f"Petugas {n}", roles=[Role.PETUGAS])
        officers.append(world.double.user(telegram_id, f"Petugas{n}"))
    warta.close()
    return officers


@contextlib.asynccontextmanager
async def two_services(world: World, proxy: RoundRobinProxy) -> AsyncIterator[list[Service]]:
    """Two services as two processes would be (own Context, own Application), both
    registering the proxy's URL as the webhook; the proxy alternates between them."""
    hook = WebhookOptions(url=f"{proxy.url}/telegram", secret=SECRET)
    async with contextlib.AsyncExitStack() as stack:
        services = []
        for _ in range(2):
            warta = Context(world.settings)
            app = build_application(warta, world.double.app_builder().updater(None))
            services.append(await stack.enter_async_context(serve(app, warta, webhook=hook)))
        proxy.backends = [service.webhook.url for service in services if service.webhook]
        yield services


async def send_everything(double: BotApiDouble, officers: list[SimUser]) -> dict[int, list[str]]:
    """Texts from every officer in turn, an album each along the way; returns what each
    officer's draft must say, in order."""
    expected: dict[int, list[str]] = defaultdict(list)
    for turn in range(TEXTS_PER_CHAT):
        for officer in officers:
            text = f"petugas {officer.id} kabar {turn}"
            await double.send_text(officer, text)
            expected[officer.id].append(text)
            if turn == ALBUM_AFTER:
                caption = f"album petugas {officer.id}"
                await double.send_album(officer, [jpeg_bytes((64 + n, 48)) for n in
                                                  range(ALBUM_PHOTOS)], caption=caption)
                expected[officer.id].append(caption)
    return expected


def summaries(double: BotApiDouble, officer: SimUser) -> list[str]:
    return [m.plain for m in double.sent_to(officer) if "Draf #" in (m.plain or "")]


async def test_two_services_share_the_updates_without_losing_repeating_or_reordering(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    double = world.double
    officers = add_officers(world)
    handled: list[tuple[int, int, int]] = []  # (processor, update_id, chat), as they start
    real_handle = Processor.handle

    async def recorded(self: Processor, row: Pending, attempt: int) -> str:
        handled.append((id(self), row.update_id, chat_of(row.payload)))
        return await real_handle(self, row, attempt)

    monkeypatch.setattr(Processor, "handle", recorded)
    async with RoundRobinProxy() as proxy, two_services(world, proxy) as services:
        expected = await send_everything(double, officers)
        per_chat = TEXTS_PER_CHAT + 1  # an answer per text, one for the album
        await double.wait_until(lambda: all(len(summaries(double, officer)) >= per_chat
                                            for officer in officers), 120,
                                what="every text and album answered")
        for service in services:
            await service.drained(timeout=30)
        await double.settle(quiet=3.0)  # past an album sweep: no late second answer

    rows = world.rows()
    sent = len(double.updates)
    assert sent == CHATS * (TEXTS_PER_CHAT + ALBUM_PHOTOS)
    # None lost, none handled twice: every update stored once, handled once, first try.
    assert [row.update_id for row in rows] == [update["update_id"] for update in double.updates]
    assert all(row.handled_at is not None and row.attempts == 1 and not row.last_error
               for row in rows)
    assert Counter(update_id for _, update_id, _ in handled) == {row.update_id: 1
                                                                  for row in rows}
    # Both took part, in storing and in handling.
    assert len(proxy.forwarded) == 2 and min(proxy.forwarded.values()) > sent // 3
    assert len({processor for processor, _, _ in handled}) == 2
    # Each chat's updates were taken up in update_id order, whoever took them.
    by_chat: dict[int, list[int]] = defaultdict(list)
    for _, update_id, chat in handled:
        by_chat[chat].append(update_id)
    assert all(ids == sorted(ids) for ids in by_chat.values())
    # Album parts were stored by different services (the proxy alternates) ...
    assert_albums_were_split(rows, proxy)
    with Context(world.settings).sessions() as session:
        for officer in officers:
            person = find_by_telegram_id(session, officer.id)
            assert person is not None
            (draft,) = session.scalars(select(Item).where(Item.officer_id == person.id))
            # ... and still went whole into one draft, its caption in its place.
            assert draft.description == "\n\n".join(expected[officer.id])
            assert len(draft.media) == ALBUM_PHOTOS
            answers = summaries(double, officer)
            # One answer per text and ONE for the album, which showed the whole album.
            assert len(answers) == TEXTS_PER_CHAT + 1
            assert not [a for a in answers if "1 foto" in a or "2 foto" in a]
            assert any(f"album petugas {officer.id}" in a and "3 foto" in a for a in answers)


def assert_albums_were_split(rows: list[InboundUpdate], proxy: RoundRobinProxy) -> None:
    """Stored in update_id order through an alternating proxy, so an album's consecutive
    parts went to both services; checked on what the proxy forwarded."""
    assert proxy.routes, "the proxy records where each update went"
    albums: dict[str, set[str]] = defaultdict(set)
    route = dict(proxy.routes)
    for row in rows:
        group = (row.payload.get("message") or {}).get("media_group_id")
        if group:
            albums[group].add(route[row.update_id])
    assert len(albums) == CHATS
    assert all(len(backends) == 2 for backends in albums.values())
