"""A whole office on the real python-telegram-bot stack, against the Bot API double."""

from __future__ import annotations

import atexit
import dataclasses
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from bot.inbox import serve
from telesim import BotApiDouble, SimChat, SimUser, StoredMessage
from tests.flow import HARNESS_CHECKLIST
from warta.wiring import build_application
from workflow import db
from workflow.actions import Edit
from workflow.config import (
    DatabaseSettings,
    MediaSettings,
    Settings,
    TelegramSettings,
    WebsiteSettings,
)
from workflow.context import Context
from workflow.models import Item, OutboxMessage, Role
from workflow.people import add_person, find_by_telegram_id

IT_CHAT = -1001
ALERT_CHAT = -1002

PEOPLE = {
    "officer": (1001, "Sari Petugas", (Role.PETUGAS,), "id"),
    "officer_en": (1002, "Sam Officer", (Role.PETUGAS,), "en"),
    "editor": (2001, "Eko Editor", (Role.EDITOR,), "id"),
    "official": (3001, "Pak Joko", (Role.PEJABAT,), "id"),
    "official2": (3002, "Bu Wati", (Role.PEJABAT,), "id"),
    "admin": (4001, "Ani Admin", (Role.ADMIN,), "id"),
}


@dataclass
class Office:
    double: BotApiDouble
    warta: Context
    it_chat: SimChat
    alert_chat: SimChat
    users: dict[str, SimUser]
    app: Any = None

    async def flush(self) -> None:
        """Sends queued notifications now instead of on the notifier's next tick."""
        await self.app.bot_data["notifier"].flush(self.app.bot)

    def person(self, key: str) -> Any:
        return self.person_by(PEOPLE[key][0])

    def person_by(self, telegram_id: int) -> Any:
        with self.warta.sessions() as session:
            return find_by_telegram_id(session, telegram_id)

    def awaiting_approval(self) -> int:
        """An item driven straight through the workflow to the officials' desks."""
        wf, now = self.warta.workflow, self.warta.now()
        officer, editor = self.person("officer"), self.person("editor")
        with self.warta.sessions() as session:
            item = wf.create_draft(session, officer, now, description="Rapat koordinasi desa")
            wf.submit(session, officer, item.id, now)
            wf.claim(session, editor, item.id, now)
            wf.edit(session, editor, item.id, now, Edit(title="Rapat Desa", body="Isi berita"))
            wf.forward(session, editor, item.id, now)
        return item.id

    def __getattr__(self, name: str) -> SimUser:
        users = self.__dict__.get("users", {})
        if name in users:
            return users[name]
        raise AttributeError(name)

    def item(self, item_id: int) -> Item:
        with self.warta.sessions() as session:
            item = session.get(Item, item_id)
            assert item is not None
            item.media  # noqa: B018 - load before the session closes
            return item

    def latest_item(self) -> Item:
        with self.warta.sessions() as session:
            item_id = session.scalar(select(Item.id).order_by(Item.id.desc()).limit(1))
        assert item_id is not None
        return self.item(item_id)

    def outbox(self, kind: str) -> list[OutboxMessage]:
        with self.warta.sessions() as session:
            return list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)))

    async def reply_to_last(self, who: SimUser, text: str) -> StoredMessage:
        """Answers the bot's last question (a ForceReply) as a phone client does."""
        question = self.double.last_sent(who)
        return await self.double.send_text(who, text, reply_to=question)


def office_settings(tmp_path: Path, **telegram: Any) -> Settings:
    return Settings(
        telegram=TelegramSettings(token="x", it_team_chat_id=IT_CHAT, alert_chat_id=ALERT_CHAT,
                                  album_wait_seconds=0.3, rate_limit=False, **telegram),
        database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'warta.db'}"),
        media=MediaSettings(dir=str(tmp_path / "media")),
        website=WebsiteSettings(adapter="none"),
        checklist=HARNESS_CHECKLIST,
    )


async def start_office(tmp_path: Path, settings: Settings | None = None,
                       clock: Any = None) -> AsyncIterator[Office]:
    settings = settings or office_settings(tmp_path)
    warta = Context(settings, clock or (lambda: datetime.now(UTC)))
    if not new_sqlite_database(settings.database.url):
        warta.upgrade()
    now = warta.now()
    async with BotApiDouble() as double:
        users = {}
        for key, (telegram_id, name, roles, lang) in PEOPLE.items():
            with warta.sessions() as session:
                add_person(session, None, now, telegram_id=telegram_id, name=name, roles=roles,
                           language=lang)
            users[key] = double.user(telegram_id, name.split()[0], language_code=lang)
        users["stranger"] = double.user(9999, "Orang", language_code="id")
        it_chat = double.group(IT_CHAT, "Tim IT")
        alert_chat = double.group(ALERT_CHAT, "Webmaster")
        app = build_application(warta, double.app_builder().updater(None))
        async with serve(app, warta):
            yield Office(double, warta, it_chat, alert_chat, users, app)
        assert not double.unhandled, double.unhandled
        assert not double.errors, double.errors


_template: list[Path] = []  # the one migrated database of this test process


def new_sqlite_database(url: str) -> bool:
    """For a SQLite file that does not exist yet: makes it as `warta db upgrade` would,
    and says so. Migrating takes a fifth of a second and a hundred offices are started per
    run, so the migrated file is made once per process and copied; each copy gets its own
    installation token, as the migration gives each database (posts on the session's
    WordPress are told apart by it)."""
    prefix = "sqlite:///"
    path = Path(url.removeprefix(prefix))
    if not url.startswith(prefix) or path.exists():
        return False
    if not _template:
        folder = Path(tempfile.mkdtemp(prefix="warta-botkit-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        engine = db.make_engine(f"{prefix}{folder / 'migrated.db'}")
        db.upgrade(engine)
        engine.dispose()
        _template.append(folder / "migrated.db")
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(_template[0], path)
    engine = db.make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE installation SET token = :token"),
                           {"token": secrets.token_hex(4)})
    engine.dispose()
    return True


@pytest.fixture
async def bot_office(tmp_path: Path) -> AsyncIterator[Office]:
    async for running_office in start_office(tmp_path):
        yield running_office


def replace_telegram(settings: Settings, **changes: Any) -> Settings:
    return dataclasses.replace(settings, telegram=dataclasses.replace(settings.telegram,
                                                                      **changes))
