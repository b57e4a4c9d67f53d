"""`warta demo`: a whole office day with no token and no internet.

A throw-away database and media folder, the Bot API double in place of Telegram, a small
local website behind the webhook adapter, and the real bot in between. An officer sends an
album and a report, the IT team edits, an official approves, the publisher posts it; a
second item is rejected with a reason. Each step prints what each person saw, then the
audit trail.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import tempfile
from io import BytesIO
from pathlib import Path

from PIL import Image, ImageDraw

from bot.inbox import serve
from publisher.receiver import Receiver
from telesim import BotApiDouble, SimChat, SimUser, StoredMessage
from warta.render import format_item
from warta.wiring import build_application
from workflow.clock import utc_now
from workflow.config import ChecklistSettings, Settings
from workflow.context import Context
from workflow.models import Role
from workflow.people import add_person
from workflow.queries import list_items

IT_CHAT = -100200
ALERT_CHAT = -100300
CAST = [
    ("sari", 1001, "Sari (petugas)", (Role.PETUGAS,)),
    ("eko", 2001, "Eko (editor)", (Role.EDITOR,)),
    ("joko", 3001, "Pak Joko (pejabat)", (Role.PEJABAT, Role.KEPALA)),
    ("ani", 4001, "Ani (admin)", (Role.ADMIN,)),
]


def photo(label: str, colour: str) -> bytes:
    image = Image.new("RGB", (1200, 800), colour)
    ImageDraw.Draw(image).text((40, 40), label, fill="white")
    buffer = BytesIO()
    image.save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def report_pdf(marker: str = "") -> bytes:
    """A one-page PDF with a valid cross-reference table, made here; `marker` goes into a
    comment line, so callers can make each one unique."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>"]
    out = bytearray(b"%PDF-1.4\n" + (b"% " + marker.encode() + b"\n" if marker else b""))
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


class Transcript:
    """Prints each chat's new messages after every step, as the people saw them."""

    def __init__(self, double: BotApiDouble, chats: dict[str, SimUser | SimChat]) -> None:
        self.double = double
        self.chats = chats
        self.seen: dict[str, int] = dict.fromkeys(chats, 0)

    def show(self, step: str) -> None:
        print(f"\n=== {step} ===")
        for label, chat in self.chats.items():
            messages = self.double.messages(chat)
            for message in messages[self.seen[label]:]:
                print(self.line(label, message))
            self.seen[label] = len(messages)

    @staticmethod
    def line(label: str, message: StoredMessage) -> str:
        arrow = f"bot → {label}" if message.from_bot else f"{label} → bot"
        text = (message.plain or "").strip() or f"[{message.kind}]"
        if message.kind not in ("text", None) and message.plain:
            text = f"[{message.kind}] {text}"
        buttons = f"  [{' | '.join(message.button_texts)}]" if message.buttons else ""
        indented = text.replace("\n", "\n      ")
        return f"  {arrow}: {indented}{buttons}"


async def play(workdir: Path) -> int:
    secret = secrets.token_hex(16)
    website = await Receiver(secret).start()
    double = await BotApiDouble().start()
    try:
        settings = Settings()
        settings = dataclasses.replace(
            settings,
            telegram=dataclasses.replace(settings.telegram, token=double.token,
                                         it_team_chat_id=IT_CHAT, alert_chat_id=ALERT_CHAT,
                                         album_wait_seconds=0.4, rate_limit=False),
            database=dataclasses.replace(settings.database,
                                         url=f"sqlite:///{workdir / 'demo.db'}"),
            media=dataclasses.replace(settings.media, dir=str(workdir / "media")),
            website=dataclasses.replace(settings.website, adapter="webhook",
                                        webhook_url=website.hook_url, webhook_secret=secret),
            publisher=dataclasses.replace(settings.publisher, interval_seconds=0.5),
            # What the demo's two items have: a title, a few words, photos (the second
            # has none, and is rejected for it).
            checklist=ChecklistSettings(cover_photo=False, min_body_words=3, activity_date=False,
                                        section=False, category=False, photo_alt_text=False),
        )
        warta = Context(settings, utc_now)
        warta.upgrade()
        people = {}
        for key, telegram_id, name, roles in CAST:
            with warta.sessions() as session:
                add_person(session, None, warta.now(), telegram_id=telegram_id, name=name,
                           roles=roles)
            people[key] = double.user(telegram_id, name.split()[0])
        chats: dict[str, SimUser | SimChat] = {
            "Sari": people["sari"], "Tim IT": double.group(IT_CHAT, "Tim IT"),
            "Eko": people["eko"], "Pak Joko": people["joko"],
            "Webmaster": double.group(ALERT_CHAT, "Webmaster")}
        transcript = Transcript(double, chats)
        app = build_application(warta, double.app_builder().updater(None))
        async with serve(app, warta):
            await office_day(double, people, transcript)
            await asyncio.sleep(0.2)
            transcript.show("Selesai")
        print("\n=== Jejak audit (audit trail) ===")
        with warta.sessions() as session:
            for item in list_items(session):
                print(format_item(session, item.id, settings.office.language))
        print(f"\nDi situs uji: {len(website.posts)} berita terbit "
              f"({', '.join(p['url'] for p in website.posts.values())})")
        warta.close()
        return 0 if len(website.posts) == 1 else 1
    finally:
        await double.stop()
        await website.stop()


async def office_day(double: BotApiDouble, people: dict[str, SimUser],
                     transcript: Transcript) -> None:
    sari, eko, joko = people["sari"], people["eko"], people["joko"]

    await double.send_album(sari, [photo("Posyandu 1", "#2a6f97"), photo("Posyandu 2", "#468faf")],
                            caption="Posyandu Desa Ampah: 48 balita ditimbang.")
    summary = await double.wait_for_message(sari, contains="Draf #")
    await double.send_document(sari, report_pdf(), "laporan-posyandu.pdf", "application/pdf")
    summary = await double.wait_for_message(sari, contains="1 dokumen")
    transcript.show("1. Petugas mengirim album dan laporan")
    await double.click(sari, summary, "📤 Kirim")
    card = await double.wait_for_message(IT_CHAT, contains="#1")
    transcript.show("2. Kiriman diteruskan ke Tim IT")
    await double.click(eko, card, "✋ Ambil")
    await double.wait_for_message(eko, contains="Edit #1")
    await double.send_command(eko, "judul", "1 Posyandu Desa Ampah Timbang 48 Balita")
    await double.wait_for_message(eko, contains="disimpan")
    await double.send_command(eko, "isi", "1 Kegiatan posyandu di Desa Ampah berjalan lancar.\n\n"
                              "Sebanyak 48 balita ditimbang dan mendapat vitamin A.")
    await double.wait_for_message(eko, contains="disimpan")
    transcript.show("3. Editor mengambil dan menyunting")
    await double.send_command(eko, "ajukan", "1")
    decision = await double.wait_for_message(joko, contains="Posyandu Desa Ampah")
    transcript.show("4. Diajukan ke pejabat")
    await double.click(joko, decision, "✅ Setujui")
    await double.wait_for_message(sari, contains="sudah terbit", timeout=15)
    transcript.show("5. Disetujui dan terbit di situs")

    await double.send_text(sari, "Rapat RT tanpa foto")
    draft = await double.wait_for_message(sari, contains="Draf #2")
    await double.click(sari, draft, "📤 Kirim")
    card = await double.wait_for_message(IT_CHAT, contains="#2")
    await double.click(eko, card, "✋ Ambil")
    await double.wait_for_message(eko, contains="Edit #2")
    await double.send_command(eko, "judul", "2 Rapat RT")
    await double.wait_for_message(eko, contains="disimpan")
    await double.send_command(eko, "ajukan", "2")
    decision = await double.wait_for_message(joko, contains="Rapat RT")
    await double.click(joko, decision, "❌ Tolak")
    await double.wait_for_message(joko, contains="alasan penolakan")
    question = double.last_sent(joko)
    await double.send_text(joko, "Tidak ada foto kegiatan.", reply_to=question)
    await double.wait_for_message(sari, contains="ditolak")
    transcript.show("6. Item kedua ditolak dengan alasan")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="warta-demo-") as workdir:
        return asyncio.run(play(Path(workdir)))
