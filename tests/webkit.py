"""The office with its web pages served: the bot on the Bot API double, the pages on loopback.

Items reach the pages the way they reach them in an office: photos sent to the bot, the
Kirim and Ambil buttons pressed; a month of finished items for the dashboard is driven
straight through the workflow on a clock that moves.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import socket
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from telesim import StoredMessage
from tests.botkit import IT_CHAT, Office, office_settings, start_office
from tests.conftest import START, Clock
from warta.demo import photo
from web.server import serving
from workflow import logins
from workflow.actions import Edit
from workflow.config import Settings, WebSettings

# Two cores shared with other test runs: the bot may be slow to answer, never silent.
PATIENCE = 20.0
PHOTOS = (("Posyandu 1", "#2e7d32"), ("Posyandu 2", "#1565c0"), ("Posyandu 3", "#ef6c00"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def web_office_settings(tmp_path: Path, public_url: str = "") -> Settings:
    return dataclasses.replace(office_settings(tmp_path), web=WebSettings(
        listen=f"127.0.0.1:{free_port()}", public_url=public_url))


@dataclass
class WebOffice:
    office: Office
    clock: Clock
    url: str

    def login_link(self, key: str) -> str:
        """A one-time sign-in link for the person `key` (as /web sends it)."""
        warta = self.office.warta
        with warta.sessions() as session:
            token = logins.issue_link(session, self.office.person(key), warta.now())
        return f"{self.url}/login/{token}"


async def start_web_office(tmp_path: Path, public_url: str = "") -> AsyncIterator[WebOffice]:
    """The bot and the pages of one office, on a clock pinned to a Wednesday morning."""
    clock = Clock(START)
    settings = web_office_settings(tmp_path, public_url)
    async for office in start_office(tmp_path, settings, clock):
        async with serving(office.warta):
            yield WebOffice(office, clock, f"http://{settings.web.listen}")


async def claimed_item(office: Office, caption: str = "Posyandu di Desa Ampah") -> int:
    """Three photos sent to the bot and submitted by the officer, claimed by the editor:
    the editor has the item's editing panel in their private chat."""
    double = office.double
    await double.send_album(office.officer, [photo(label, colour) for label, colour in PHOTOS],
                            caption=caption)
    await double.wait_for_message(office.officer, timeout=PATIENCE, contains="Draf #")
    await double.wait_until(lambda: len(office.latest_item().media) == len(PHOTOS), PATIENCE)
    item_id = office.latest_item().id

    def draft_card() -> StoredMessage | None:
        """The summary of the whole album (notices of earlier items may come after it)."""
        return next((m for m in reversed(double.messages(office.officer))
                     if f"Draf #{item_id}" in (m.plain or "") and "3 foto" in (m.plain or "")
                     and "📤 Kirim" in m.button_texts), None)

    summary = await double.wait_until(draft_card, PATIENCE)
    await double.click(office.officer, summary, "📤 Kirim")
    card = await double.wait_for_message(IT_CHAT, timeout=PATIENCE, contains=f"#{item_id}")
    await double.click(office.editor, card, "✋ Ambil")
    await double.wait_for_message(office.editor, timeout=PATIENCE, contains="Edit #")
    return item_id


def forwarded(office: Office, item_id: int) -> None:
    """The claimed item given a title and body and forwarded to the officials."""
    wf, now = office.warta.workflow, office.warta.now()
    with office.warta.sessions() as session:
        wf.edit(session, office.person("editor"), item_id, now,
                Edit(title="Posyandu Desa Ampah", body=BODY, category="Berita"))
        wf.forward(session, office.person("editor"), item_id, now)


def published(office: Office, item_id: int) -> None:
    """The claimed item forwarded, approved by the first official and put on the website."""
    forwarded(office, item_id)
    wf, now = office.warta.workflow, office.warta.now()
    with office.warta.sessions() as session:
        wf.approve(session, office.person("official"), item_id, now)
        wf.mark_published(session, item_id, now, remote_id="77",
                          url=f"https://dinas.example.go.id/berita-{item_id}")


BODY = ("Kegiatan posyandu di Desa Ampah berjalan lancar. Sebanyak 40 balita ditimbang dan "
        "diberi vitamin A oleh kader bersama petugas puskesmas. Ibu hamil mendapat "
        "penyuluhan gizi dan pemeriksaan kesehatan.")


def a_month_of_work(web: WebOffice) -> None:
    """Nine items of the last two weeks through every stage, each started on a working
    morning, some on time and some late, two rejected: the figures the dashboard draws."""
    office, clock = web.office, web.clock
    wf = office.warta.workflow
    officer, editor = office.person("officer"), office.person("editor")
    official = office.person("official")
    start = clock.now
    sections = ("Bidang Sosial", "Bidang PMD", "Sekretariat")
    mornings = [day for day in (start - timedelta(days=n) for n in range(14, 0, -1))
                if day.weekday() < 5][-9:]
    for number, morning in enumerate(mornings):
        clock.now = morning
        with office.warta.sessions() as session:
            item = wf.create_draft(session, officer, clock.now,
                                   description=f"Kegiatan {number + 1}")
            wf.update_draft(session, officer, item.id, clock.now,
                            section=sections[number % 3])
            wf.submit(session, officer, item.id, clock.advance(minutes=10))
            wf.claim(session, editor, item.id, clock.advance(minutes=40 + 80 * (number % 4)))
            wf.edit(session, editor, item.id, clock.advance(minutes=30),
                    Edit(title=f"Berita kegiatan {number + 1}", body=BODY))
            wf.forward(session, editor, item.id, clock.advance(minutes=60 + 70 * (number % 3)))
            decided = clock.advance(minutes=20 + 45 * (number % 3))
            if number % 4 == 3:
                wf.reject(session, official, item.id, decided, "Foto kurang jelas")
            else:
                wf.approve(session, official, item.id, decided)
                wf.mark_published(session, item.id, clock.advance(minutes=5), remote_id=str(
                    number), url=f"https://dinas.example.go.id/berita-{number}")
    clock.now = start


def init_data(token: str, telegram_id: int, at: datetime, start_param: str = "") -> str:
    """What Telegram hands a Mini App: the user and auth_date, signed with the bot's
    token as Telegram documents it."""
    fields = {"auth_date": str(int(at.timestamp())), "query_id": "AAH-test",
              "user": json.dumps({"id": telegram_id, "first_name": "Tester",
                                  "language_code": "id"}, separators=(",", ":"))}
    if start_param:
        fields["start_param"] = start_param
    check = "\n".join(f"{key}={value}" for key, value in sorted(fields.items()))
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urllib.parse.urlencode(fields)
