"""Whole conversations through python-telegram-bot's HTTP stack and the Bot API double."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tests.botkit import IT_CHAT, Office, office_settings, replace_telegram, start_office
from tests.conftest import Clock
from tests.test_media import jpeg_bytes, mp4_bytes, pdf_bytes
from workflow.models import Role, Status
from workflow.outbox import DEFAULT_LEASE
from workflow.people import add_person


async def officer_sends_material(office: Office) -> int:
    double = office.double
    await double.send_album(office.officer, [jpeg_bytes((800, 600)), jpeg_bytes((600, 800)),
                                             jpeg_bytes((640, 480))],
                            caption="Posyandu di Desa Ampah, 25 November")
    summary = await double.wait_for_message(office.officer, contains="Draf #")
    assert "3 foto" in summary.plain
    await double.send_document(office.officer, pdf_bytes(), "laporan.pdf", "application/pdf")
    await double.wait_for_message(office.officer, contains="1 dokumen")
    await double.send_video(office.officer, mp4_bytes(), caption="Video kegiatan")
    summary = await double.wait_for_message(office.officer, contains="1 video")
    assert "Posyandu di Desa Ampah" in summary.plain and "Video kegiatan" in summary.plain
    item = office.latest_item()
    assert [m.kind for m in item.media] == ["photo", "photo", "photo", "document", "video"]
    await double.click(office.officer, summary, "📤 Kirim")
    await double.wait_for_message(office.officer, contains="diteruskan ke Tim IT")
    assert office.item(item.id).status is Status.SUBMITTED
    return item.id


async def editor_prepares(office: Office, item_id: int) -> None:
    double = office.double
    card = await double.wait_for_message(IT_CHAT, contains=f"#{item_id}")
    await double.click(office.editor, card, "✋ Ambil")
    await double.wait_for_message(office.editor, contains="Edit #")
    await double.send_command(office.editor, "judul", f"{item_id} Posyandu Desa Ampah")
    await double.wait_for_message(office.editor, contains="judul disimpan")
    await double.send_command(office.editor, "isi",
                              f"{item_id} Kegiatan posyandu berjalan lancar.")
    await double.wait_for_message(office.editor, contains="isi disimpan")
    await double.send_command(office.editor, "sampul", f"{item_id} 2")
    await double.wait_for_message(office.editor, contains="sampul sekarang foto 2")
    await double.send_command(office.editor, "pratinjau", str(item_id))
    preview = await double.wait_for_message(office.editor, contains="Posyandu Desa Ampah")
    assert "Status: sedang diedit" in preview.plain
    await double.click(office.editor, preview, "📨 Ajukan")
    await double.wait_for_message(office.editor, contains="diajukan ke pejabat")


async def test_album_pdf_video_to_approval(bot_office: Office) -> None:
    office = bot_office
    item_id = await officer_sends_material(office)
    await editor_prepares(office, item_id)
    double = office.double
    decision = await double.wait_for_message(office.official, contains="Posyandu Desa Ampah")
    assert decision.button_texts == ["✅ Setujui", "❌ Tolak", "✏️ Revisi"]
    await double.click(office.official, decision, "✅ Setujui")
    await double.wait_for_message(office.official, contains="disetujui")
    item = office.item(item_id)
    assert item.status is Status.APPROVED
    keys = [row.idempotency_key for row in office.outbox("publish")]
    assert len(keys) == 1 and keys[0].startswith("warta-") and keys[0].endswith(f"-{item_id}")
    await double.wait_for_message(office.officer, contains="disetujui oleh Pak Joko")
    # The other official's copy of the card is edited: no stale buttons remain.
    other = double.messages(office.official2)
    await double.wait_until(lambda: all(not m.buttons for m in double.messages(office.official2)
                                        if f"#{item_id}" in (m.plain or "")))
    assert other


async def test_rejection_with_reason(bot_office: Office) -> None:
    office = bot_office
    item_id = await officer_sends_material(office)
    await editor_prepares(office, item_id)
    double = office.double
    decision = await double.wait_for_message(office.official2, contains="Posyandu Desa Ampah")
    await double.click(office.official2, decision, "❌ Tolak")
    await double.wait_for_message(office.official2, contains="alasan penolakan")
    await office.reply_to_last(office.official2, "   ")
    await double.wait_for_message(office.official2, contains="wajib diisi")
    await office.reply_to_last(office.official2, "Foto kurang jelas")
    await double.wait_for_message(office.official2, contains="ditolak")
    assert office.item(item_id).status is Status.REJECTED
    told = await double.wait_for_message(office.officer, contains="ditolak oleh Bu Wati")
    assert "Foto kurang jelas" in told.plain
    await double.wait_for_message(office.editor, contains="Foto kurang jelas")
    assert office.outbox("publish") == []


async def test_officer_picks_section_and_date_with_buttons(bot_office: Office) -> None:
    office = bot_office
    double = office.double
    for telegram_id, section in ((8001, "Bidang Sosial"), (8002, "Bidang PMD")):
        with office.warta.sessions() as session:
            add_person(session, None, office.warta.now(), telegram_id=telegram_id,
                       name=f"Petugas {section}", roles=[Role.PETUGAS], section=section)
    await double.send_text(office.officer, "Rapat bidang")
    summary = await double.wait_for_message(office.officer, contains="Draf #")
    await double.click(office.officer, summary, "📅 Pilih bidang/tanggal")
    picker = await double.wait_for_message(office.officer, contains="Tanggal kegiatan")
    assert picker.button_texts[4:] == ["Bidang PMD", "Bidang Sosial"]
    day = picker.button_texts[1]
    await double.click(office.officer, picker, day)
    dated = await double.wait_for_message(office.officer, contains="Draf #")
    assert f"Tanggal: {day}/" in dated.plain
    await double.click(office.officer, picker, "Bidang Sosial")
    placed = await double.wait_for_message(office.officer, contains="Draf #")
    assert "Bidang: Bidang Sosial" in placed.plain
    # A forged index outside the list is refused and changes nothing.
    await double.press_button(office.officer, picker, f"setsec:{office.latest_item().id}:7",
                              forge=True)
    refused = await double.wait_for("answerCallbackQuery", lambda c: "text" in c.params)
    assert "Bidang tidak dikenal" in refused.params["text"]
    assert office.latest_item().section == "Bidang Sosial"


async def test_editor_writes_title_and_body_by_replying_to_the_card(bot_office: Office) -> None:
    office, double = bot_office, bot_office.double
    await double.send_text(office.officer, "Gotong royong di Desa Bentot")
    summary = await double.wait_for_message(office.officer, contains="Draf #")
    await double.click(office.officer, summary, "📤 Kirim")
    item_id = office.latest_item().id
    card = await double.wait_for_message(IT_CHAT, contains=f"#{item_id}")
    # Before anyone claims it a reply changes nothing, and says why.
    await double.send_text(office.editor, "Terlalu cepat", chat=office.it_chat, reply_to=card)
    await double.wait_for_message(IT_CHAT, contains="bukan milik/tanggungan Anda")
    assert office.item(item_id).title == ""
    await double.click(office.editor, card, "✋ Ambil")
    hint = await double.wait_for_message(office.editor, contains="Edit #")
    assert "balas kartu" in hint.plain.lower()
    panel = next(m for m in double.messages(office.editor)
                 if m.buttons and f"#{item_id}" in m.plain)
    await double.send_text(office.editor, "Gotong Royong Desa Bentot\nWarga membersihkan "
                           "saluran air.\n\nDitutup makan bersama.", reply_to=panel)
    saved = await double.wait_for_message(office.editor, contains="disimpan")
    assert "judul, isi" in saved.plain
    item = office.item(item_id)
    assert item.title == "Gotong Royong Desa Bentot"
    assert item.body == "Warga membersihkan saluran air.\n\nDitutup makan bersama."
    assert item.description == "Gotong royong di Desa Bentot"  # not taken as officer text
    # One line on the IT team's card: the title only.
    await double.send_text(office.editor, "Gotong Royong Warga Bentot", chat=office.it_chat,
                           reply_to=card)
    await double.wait_for_message(IT_CHAT, contains="judul disimpan")
    item = office.item(item_id)
    assert item.title == "Gotong Royong Warga Bentot"
    assert item.body.startswith("Warga membersihkan")
    # Someone who is not the claiming editor is refused.
    await double.send_text(office.admin, "Judul lain", chat=office.it_chat, reply_to=card)
    await double.wait_for_message(IT_CHAT, contains="tidak berwenang")
    assert office.item(item_id).title == "Gotong Royong Warga Bentot"


async def test_claim_cards_are_not_sent_twice_when_one_editor_fails(tmp_path: Path) -> None:
    """Without an IT team chat each editor gets the claim card privately, from one outbox
    row: when the second editor's copy fails, the retry must not send the first a second."""
    settings = replace_telegram(office_settings(tmp_path), it_team_chat_id=0)
    async for office in start_office(tmp_path, settings):
        double = office.double
        with office.warta.sessions() as session:
            add_person(session, None, office.warta.now(), telegram_id=2002, name="Eka Editor",
                       roles=[Role.EDITOR], language="id")
        second = double.user(2002, "Eka")
        double.fail_next("sendMessage", count=3, status=502, chat_id=2002)  # every try, once
        await double.send_text(office.officer, "Kerja bakti di Desa Bentot")
        summary = await double.wait_for_message(office.officer, contains="Draf #")
        await double.click(office.officer, summary, "📤 Kirim")
        await double.wait_for_message(office.editor, contains="Kerja bakti")
        await double.wait_for_message(second, contains="Kerja bakti", timeout=15)
        await office.flush()
        await double.settle()
        for editor in (office.editor, second):
            cards = [m for m in double.messages(editor) if "Kerja bakti" in m.plain and m.buttons]
            assert len(cards) == 1, editor


async def test_a_notice_handed_over_but_never_sent_goes_out_once_its_lease_ends(
        tmp_path: Path) -> None:
    """The bot's handler hands the rows it queued to its own notifier, leased to it: if
    that notifier never sends them (the process died after the commit), nobody else sends
    them while the lease lasts, and the next look after it sends them, once."""
    clock = Clock(datetime(2026, 12, 2, 3, 0, tzinfo=UTC))  # a Wednesday, office hours
    async for office in start_office(tmp_path, clock=clock):
        double = office.double
        notifier = office.app.bot_data["notifier"]
        lost: list[object] = []
        notifier.take = lost.append  # the batch dies with the process
        await double.send_text(office.officer, "Gotong royong di Desa Lenggang")
        summary = await double.wait_for_message(office.officer, contains="Draf #")
        await double.click(office.officer, summary, "📤 Kirim")
        await double.wait_for_message(office.officer, contains="diteruskan")
        assert lost
        await office.flush()
        await double.settle()
        assert not [m for m in double.messages(office.it_chat) if "Gotong royong" in m.plain]
        clock.advance(seconds=DEFAULT_LEASE.total_seconds() + 1)
        await office.flush()
        await office.flush()
        cards = await double.wait_for_message(office.it_chat, contains="Gotong royong")
        await double.settle()
        assert [m for m in double.messages(office.it_chat) if "Gotong royong" in m.plain] \
            == [cards]
