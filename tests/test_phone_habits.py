"""What a real office trips over on phones (issue 14), through the real bot stack."""

from __future__ import annotations

import io
import time

from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.botkit import IT_CHAT, Office
from tests.conftest import Office as ConftestOffice
from tests.test_media import jpeg_bytes, mp4_bytes
from workflow.actions import Edit, Workflow
from workflow.config import NoteSettings
from workflow.models import Item, OutboxMessage, Status
from workflow.post_html import post_html_for_preview


async def test_a_too_short_rejection_reason_is_asked_again(bot_office: Office) -> None:
    office, double = bot_office, bot_office.double
    item_id = office.awaiting_approval()
    await office.flush()
    decision = await double.wait_for_message(office.official, contains=f"#{item_id}")
    await double.click(office.official, decision, "❌ Tolak")
    await double.wait_for_message(office.official, contains="alasan penolakan")
    await office.reply_to_last(office.official, "jelek")
    again = await double.wait_for_message(office.official, contains="Terlalu singkat")
    assert "3 kata" in again.plain and "alasan penolakan" in again.plain
    assert office.item(item_id).status is Status.AWAITING_APPROVAL
    await office.reply_to_last(office.official, "Fotonya buram semua")
    await double.wait_for_message(office.official, contains="ditolak")
    assert office.item(item_id).status is Status.REJECTED


def in_editing(office: Office) -> int:
    """An item the editor has claimed, driven straight through the workflow."""
    wf, now = office.warta.workflow, office.warta.now()
    officer, editor = office.person("officer"), office.person("editor")
    with office.warta.sessions() as session:
        item = wf.create_draft(session, officer, now, description="Rapat koordinasi desa")
        wf.submit(session, officer, item.id, now)
        wf.claim(session, editor, item.id, now)
    return item.id


async def test_body_and_title_on_the_lines_below_the_command(bot_office: Office) -> None:
    office, double = bot_office, bot_office.double
    item_id = in_editing(office)
    await double.send_command(office.editor, "isi",
                              f"{item_id}\nKalimat pertama.\n\nKalimat kedua.")
    await double.wait_for_message(office.editor, contains="isi disimpan")
    assert office.item(item_id).body == "Kalimat pertama.\n\nKalimat kedua."
    await double.send_command(office.editor, "judul", f"{item_id}\nRapat Desa Ampah")
    await double.wait_for_message(office.editor, contains="judul disimpan")
    assert office.item(item_id).title == "Rapat Desa Ampah"
    await double.send_command(office.editor, "isi", f"{item_id}\n\n")
    await double.wait_for_message(office.editor, contains="Cara pakai: /isi")
    assert office.item(item_id).body == "Kalimat pertama.\n\nKalimat kedua."


def officer_items(office: Office) -> list[int]:
    with office.warta.sessions() as session:
        officer = office.person("officer")
        return list(session.scalars(select(Item.id).where(Item.officer_id == officer.id)))


async def test_an_edited_text_or_caption_replaces_what_it_said(bot_office: Office) -> None:
    office, double = bot_office, bot_office.double
    text = await double.send_text(office.officer, "Rapat di balai desa")
    await double.wait_for_message(office.officer, contains="Draf #")
    photo = await double.send_photo(office.officer, jpeg_bytes((640, 480)),
                                    caption="Foto pertama")
    await double.wait_for_message(office.officer, contains="1 foto")
    await double.edit_by_user(office.officer, text, "Rapat di balai desa Ampah")
    await double.wait_for_message(office.officer, contains="balai desa Ampah")
    await double.edit_by_user(office.officer, photo, "Peserta rapat")
    summary = await double.wait_for_message(office.officer, contains="Peserta rapat")
    item = office.latest_item()
    assert item.description == "Rapat di balai desa Ampah\n\nPeserta rapat"
    assert len(item.media) == 1
    await double.click(office.officer, summary, "📤 Kirim")
    await double.wait_for_message(office.officer, contains="diteruskan ke Tim IT")
    await double.edit_by_user(office.officer, photo, "Peserta rapat desa")
    await double.wait_for_message(office.officer, contains=f"#{item.id} sudah di Tim IT")
    await office.flush()
    note = await double.wait_for_message(IT_CHAT, contains="mengubah keterangan")
    assert "Sari Petugas" in note.plain and "Peserta rapat desa" in note.plain
    with office.warta.sessions() as session:
        office.warta.workflow.claim(session, office.person("editor"), item.id,
                                    office.warta.now())
    await double.edit_by_user(office.officer, text, "Rapat di balai Desa Ampah")
    await double.wait_for_message(office.officer, contains="diteruskan ke editornya")
    await office.flush()
    await double.wait_for_message(office.editor, contains="menjadi: Rapat di balai Desa Ampah")
    assert officer_items(office) == [item.id]
    assert office.item(item.id).description == "Rapat di balai desa Ampah\n\nPeserta rapat"
    with office.warta.sessions() as session:
        wf, now = office.warta.workflow, office.warta.now()
        editor = office.person("editor")
        wf.edit(session, editor, item.id, now, Edit(title="Rapat Desa", body="Isi berita"))
        wf.forward(session, editor, item.id, now)
        wf.approve(session, office.person("official"), item.id, now)
    await double.edit_by_user(office.officer, photo, "Peserta rapat RT")
    refused = await double.wait_for_message(office.officer, contains="tidak ikut")
    assert f"#{item.id}" in refused.plain


async def test_a_greeting_is_answered_and_opens_no_draft(bot_office: Office) -> None:
    office, double = bot_office, bot_office.double
    for greeting in ("halo", "Selamat pagi, Pak!", "terima kasih 🙏", "hi"):
        await double.send_text(office.officer, greeting)
        hint = await double.wait_for_message(office.officer, contains="Halo, Sari")
        assert "Kirim" in hint.plain
    assert officer_items(office) == []
    await double.send_text(office.officer, "Rapat di balai desa")
    await double.wait_for_message(office.officer, contains="Draf #")
    await double.send_text(office.officer, "thanks")
    await double.wait_for_message(office.officer, contains="Halo, Sari")
    await double.send_text(office.officer_en, "Good morning")
    await double.wait_for_message(office.officer_en, contains="Hello, Sam")
    assert office.latest_item().description == "Rapat di balai desa"
    assert len(officer_items(office)) == 1


async def test_a_round_video_is_a_video_and_other_kinds_are_declined(
    bot_office: Office,
) -> None:
    office, double = bot_office, bot_office.double
    await double.send_video_note(office.officer, mp4_bytes())
    await double.wait_for_message(office.officer, contains="1 video")
    assert [media.kind for media in office.latest_item().media] == ["video"]
    officer = office.officer
    others: list[dict[str, object]] = [
        {"voice": {"file_id": "v1", "file_unique_id": "uv1", "duration": 3}},
        {"location": {"latitude": -1.5, "longitude": 114.9}},
        {"contact": {"phone_number": "+62811", "first_name": "Budi"}},
        {"sticker": {"file_id": "s1", "file_unique_id": "us1", "type": "regular",
                     "width": 512, "height": 512, "is_animated": False, "is_video": False}},
        {"poll": {"id": "p1", "question": "Rapat?", "options": [], "total_voter_count": 0,
                  "is_closed": False, "is_anonymous": True, "type": "regular",
                  "allows_multiple_answers": False, "allows_revoting": False,
                  "members_only": False}},
    ]
    for number, content in enumerate(others):
        await double.send_update({"message": {
            "message_id": 9000 + number, "date": int(time.time()), "chat": officer.chat_api(),
            "from": officer.to_api(), **content}})
        await double.wait_for_message(officer, contains="tidak bisa diterima")
    assert len(office.latest_item().media) == 1


async def test_forwarded_material_keeps_its_source_on_the_editors_card(
    bot_office: Office,
) -> None:
    office, double = bot_office, bot_office.double
    channel = {"type": "channel", "chat": {"id": -100777, "type": "channel",
                                           "title": "Humas Kabupaten"},
               "message_id": 7, "date": int(time.time()) - 600}
    person = {"type": "user", "sender_user": {"id": 5555, "is_bot": False,
                                              "first_name": "Budi", "last_name": "Lurah"},
              "date": int(time.time()) - 300}
    with double.forwarded_from(channel):
        await double.send_photo(office.officer, jpeg_bytes((640, 480)),
                                caption="Bupati meresmikan pasar")
    await double.wait_for_message(office.officer, contains="1 foto")
    with double.forwarded_from(person):
        await double.send_text(office.officer, "Pasar dibuka pukul 08.00")
    summary = await double.wait_for_message(office.officer, contains="pukul 08.00")
    await double.send_text(office.officer, "Rapat di balai desa")
    await double.wait_for_message(office.officer, contains="balai desa")
    item = office.latest_item()
    assert item.forwarded_from == "Humas Kabupaten; Budi Lurah"
    await double.click(office.officer, summary, "📤 Kirim")
    card = await double.wait_for_message(IT_CHAT, contains=f"#{item.id}")
    assert "Diteruskan dari Humas Kabupaten; Budi Lurah" in card.plain


async def test_an_album_with_a_slow_part_is_answered_once(bot_office: Office) -> None:
    office, double = bot_office, bot_office.double
    await double.send_photo(office.officer, jpeg_bytes((640, 480)), caption="Kerja bakti",
                            media_group_id="album-slow")
    await double.wait_until(lambda: len(double.downloads) == 1)
    double.hang_next("getFile", seconds=1.0)  # longer than the album wait (0.3 s)
    await double.send_photo(office.officer, jpeg_bytes((480, 640)),
                            media_group_id="album-slow")
    summary = await double.wait_for_message(office.officer, contains="Draf #")
    assert "2 foto" in summary.plain
    await double.settle(quiet=0.6)
    answers = [m for m in double.sent_to(office.officer) if "Draf #" in (m.plain or "")]
    assert len(answers) == 1


def heic_bytes(size: tuple[int, int] = (640, 480)) -> bytes:
    """An iPhone-style HEIC photo with the camera's make and a GPS position in its EXIF."""
    exif = Image.Exif()
    exif[0x010F] = "Apple"
    exif[0x8825] = {1: "S", 2: (1.0, 30.0, 0.0), 3: "E", 4: (114.0, 50.0, 0.0)}
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, "HEIF", exif=exif.tobytes(), quality=60)
    return out.getvalue()


async def test_a_heic_photo_sent_as_a_file_becomes_a_clean_jpeg(bot_office: Office) -> None:
    office, double = bot_office, bot_office.double
    await double.send_document(office.officer, heic_bytes(), "IMG_0042.HEIC", "image/heic")
    await double.wait_for_message(office.officer, contains="1 foto")
    media = office.latest_item().media
    assert [(m.kind, m.mime, m.width, m.height) for m in media] == [
        ("photo", "image/jpeg", 640, 480)]
    with Image.open(office.warta.media.open_stored(media[0].stored_path)) as stored:
        assert stored.format == "JPEG" and not stored.getexif()
    broken = heic_bytes()[:300]
    await double.send_document(office.officer, broken, "IMG_0043.HEIC", "image/heic")
    refused = await double.wait_for_message(office.officer, contains="rusak")
    assert "kirim ulang sebagai foto, bukan file" in refused.plain
    assert "image/" not in refused.plain
    await double.send_document(office.officer_en, b"GIF89a" + bytes(40), "a.gif", "image/gif")
    refused = await double.wait_for_message(office.officer_en, contains="not accepted")
    assert "as a photo, not a file" in refused.plain and "image/" not in refused.plain


def entity(kind: str, text: str, part: str, **extra: str) -> dict[str, object]:
    """A Telegram message entity over `part` of `text` (offsets in UTF-16 units)."""
    at = text.index(part)
    return {"type": kind, "offset": len(text[:at].encode("utf-16-le")) // 2,
            "length": len(part.encode("utf-16-le")) // 2, **extra}


async def test_the_editors_formatting_reaches_the_post(bot_office: Office) -> None:
    office, double = bot_office, bot_office.double
    item_id = in_editing(office)
    text = (f"/isi {item_id}\n🎉 Rapat <b>desa</b> berjalan lancar.\n"
            "Lihat situs kabupaten.\n\n- hadir 40 orang\n- dipimpin camat")
    await double.send_text(office.editor, text, entities=[
        entity("bot_command", text, "/isi"), entity("bold", text, "Rapat"),
        entity("italic", text, "berjalan lancar"), entity("underline", text, "lancar"),
        entity("strikethrough", text, "40"),
        entity("text_link", text, "situs kabupaten", url="https://kab.go.id/?a=1&b=2"),
        entity("text_link", text, "camat", url="javascript:alert(1)")])
    await double.wait_for_message(office.editor, contains="isi disimpan")
    html = post_html_for_preview(office.item(item_id), [])
    assert "🎉 <strong>Rapat</strong> &lt;b&gt;desa&lt;/b&gt; <em>berjalan </em>" in html
    assert "<u><em>lancar</em></u>.<br>" in html
    assert ('<a href="https://kab.go.id/?a=1&amp;b=2" rel="nofollow noopener">'
            "situs kabupaten</a>") in html
    assert '<ul class="wp-block-list"><!-- wp:list-item -->' in html
    assert "<li>hadir <s>40</s> orang</li>" in html and "<li>dipimpin camat</li>" in html
    assert "javascript" not in html
    await double.send_command(office.editor, "bantuan")
    help_text = await double.wait_for_message(office.editor, contains="/isi")
    assert "tebal, miring" in help_text.plain


async def test_media_numbers_stay_after_one_is_removed(bot_office: Office) -> None:
    office, double = bot_office, bot_office.double
    await double.send_album(office.officer, [jpeg_bytes((800, 600)), jpeg_bytes((600, 800)),
                                             jpeg_bytes((640, 480))], caption="Kerja bakti")
    summary = await double.wait_for_message(office.officer, contains="3 foto")
    await double.click(office.officer, summary, "📤 Kirim")
    await double.wait_for_message(office.officer, contains="diteruskan ke Tim IT")
    item = office.latest_item()
    first, second, third = (m.id for m in item.media)
    with office.warta.sessions() as session:
        office.warta.workflow.claim(session, office.person("editor"), item.id,
                                    office.warta.now())
    await double.send_command(office.editor, "hapus", f"{item.id} 1")
    removed = await double.wait_for_message(office.editor, contains="dihapus")
    assert "foto 1 dihapus" in removed.plain and "tetap: foto 2, foto 3" in removed.plain
    await double.send_command(office.editor, "sampul", f"{item.id} 3")
    cover = await double.wait_for_message(office.editor, contains="sampul")
    assert "sampul sekarang foto 3" in cover.plain
    assert office.item(item.id).cover is not None
    assert office.item(item.id).cover.id == third  # the third photo sent, not the fourth
    await double.send_command(office.editor, "hapus", f"{item.id} 1")
    await double.wait_for_message(office.editor, contains="Nomor media tidak ada")
    await double.send_command(office.editor, "pratinjau", str(item.id))
    album = await double.wait_for(
        "sendMediaGroup", lambda call: call.messages[0].chat_id == office.editor.id)
    assert [m.caption for m in album.messages] == ["2", "3 ★"]
    await double.send_command(office.editor, "urut", f"{item.id} 3 2")
    order = await double.wait_for_message(office.editor, contains="urutan baru")
    assert "1 (dulu 3), 2 (dulu 2)" in order.plain
    assert [m.id for m in office.item(item.id).media] == [third, second]
    assert first not in [m.id for m in office.item(item.id).media]


# --- the workflow rules behind them, on each database ------------------------------------


def test_an_edited_message_replaces_its_own_part_only(
    session: Session, workflow: Workflow, office: ConftestOffice,
) -> None:
    officer, now = office.officer, office.now
    item = workflow.add_text(session, officer, now, "Rapat desa", "telegram:1:10:0")
    workflow.add_text(session, officer, now, "Peserta 30 orang", "telegram:1:11:0")
    workflow.add_text(session, officer, now, "Dihadiri camat", "telegram:1:12:0")
    workflow.revise_text(session, officer, now, "telegram:1:10", "Rapat Desa Ampah",
                         "telegram:1:10:5")
    # The same edit handled twice (after a crash) changes nothing more.
    workflow.revise_text(session, officer, now, "telegram:1:10", "Rapat Desa Ampah",
                         "telegram:1:10:5")
    revised = workflow.revise_text(session, officer, now, "telegram:1:12", "",
                                   "telegram:1:12:6")
    assert revised is not None and revised.id == item.id
    stored = session.get(Item, item.id, populate_existing=True)
    assert stored is not None and stored.description == "Rapat Desa Ampah\n\nPeserta 30 orang"
    assert workflow.revise_text(session, officer, now, "telegram:1:99", "x",
                                "telegram:1:99:1") is None
    workflow.submit(session, officer, item.id, now)
    for _ in range(2):  # handled twice after a crash: one note
        workflow.revise_text(session, officer, now, "telegram:1:11", "Peserta 35 orang",
                             "telegram:1:11:7")
    notes = session.scalars(select(OutboxMessage).where(
        OutboxMessage.template == "item.officer_edit")).all()
    assert [(n.target, n.payload["note"]) for n in notes] == [("it_team", "Peserta 35 orang")]
    stored = session.get(Item, item.id, populate_existing=True)
    assert stored is not None and stored.description == "Rapat Desa Ampah\n\nPeserta 30 orang"


def test_an_officials_reason_needs_three_words_or_fifteen_characters() -> None:
    notes = NoteSettings()
    assert not notes.long_enough("Tidak layak")
    assert notes.long_enough("Foto kurang jelas")
    assert notes.long_enough("Kurangfotonyaaa")
    assert NoteSettings(min_words=0, min_chars=0).long_enough("x")
