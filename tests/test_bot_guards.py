"""Bad input gets a clear answer in the person's language and changes nothing."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from tests.botkit import Office
from tests.test_media import docx_with_filler, jpeg_bytes, png_header_only
from workflow.media import mime_types
from workflow.media.limits import MB
from workflow.models import AuditEvent, Status


async def test_unknown_user_gets_their_id_and_nothing_else(bot_office: Office) -> None:
    office, double = bot_office, bot_office.double
    await double.send_command(office.stranger, "start")
    answer = await double.wait_for_message(office.stranger)
    assert "belum terdaftar" in answer.plain and "9999" in answer.plain
    await double.send_photo(office.stranger, jpeg_bytes())
    again = await double.wait_for_message(office.stranger)
    assert "belum terdaftar" in again.plain
    await double.settle()
    assert double.count("getFile") == 0
    assert office.outbox("notify") == []


async def test_officer_cannot_press_an_officials_button(bot_office: Office) -> None:
    office, double = bot_office, bot_office.double
    item_id = office.awaiting_approval()
    await office.flush()
    card = await double.wait_for_message(office.official, contains="Rapat Desa")
    # Forged: the officer sends the approve data for the same item from their own chat.
    own = await double.send_text(office.officer, "halo")
    await double.wait_for_message(office.officer)
    await double.press_button(office.officer, own, f"approve:{item_id}", forge=True)
    answer = await double.wait_for("answerCallbackQuery")
    assert "tidak berwenang" in answer.params["text"]
    assert office.item(item_id).status is Status.AWAITING_APPROVAL
    # Garbage and other items' ids are refused the same way.
    await double.press_button(office.officer, own, "approve:abc", forge=True)
    answer = await double.wait_for("answerCallbackQuery")
    assert "tidak berlaku" in answer.params["text"]
    await double.press_button(office.official, card, "approve:99999", forge=True)
    answer = await double.wait_for("answerCallbackQuery")
    assert "tidak ditemukan" in answer.params["text"]


async def test_double_tap_and_stale_button_say_who_decided(bot_office: Office) -> None:
    office, double = bot_office, bot_office.double
    item_id = office.awaiting_approval()
    await office.flush()
    card = await double.wait_for_message(office.official, contains="Rapat Desa")
    other = await double.wait_for_message(office.official2, contains="Rapat Desa")
    await double.press_button(office.official, card, f"approve:{item_id}")
    await double.press_button(office.official, card, f"approve:{item_id}", forge=True)
    first = await double.wait_for("answerCallbackQuery")
    second = await double.wait_for("answerCallbackQuery")
    assert "disetujui" in first.params["text"]
    assert "Sudah disetujui oleh Pak Joko" in second.params["text"]
    # The other official's card loses its buttons; pressing the old one anyway is answered.
    await double.wait_until(lambda: not double.message(office.official2,
                                                       other.message_id).buttons)
    await double.press_button(office.official2, other, f"reject:{item_id}", forge=True)
    stale = await double.wait_for("answerCallbackQuery")
    assert "Pak Joko" in stale.params["text"]
    assert office.item(item_id).status is Status.APPROVED


async def test_two_officials_at_once(bot_office: Office) -> None:
    office, double = bot_office, bot_office.double
    item_id = office.awaiting_approval()
    await office.flush()
    card = await double.wait_for_message(office.official, contains="Rapat Desa")
    other = await double.wait_for_message(office.official2, contains="Rapat Desa")
    await asyncio.gather(double.press_button(office.official, card, f"approve:{item_id}"),
                         double.press_button(office.official2, other, f"reject:{item_id}"))
    answers = [await double.wait_for("answerCallbackQuery") for _ in range(2)]
    texts = " | ".join(str(a.params.get("text")) for a in answers)
    assert office.item(item_id).status is Status.APPROVED
    assert "disetujui" in texts
    # The reject press either found the item decided, or asked for a reason that can no
    # longer be used; either way nothing was rejected.
    await double.settle()
    assert office.item(item_id).status is Status.APPROVED


async def test_broken_and_hostile_files_are_refused_with_a_message(bot_office: Office) -> None:
    office, double = bot_office, bot_office.double
    cases = [
        (jpeg_bytes()[:300], "foto.jpg", "image/jpeg", "rusak"),
        (png_header_only(30000, 30000), "bom.png", "image/png", "resolusinya"),
        (b"MZ\x90\x00" + b"\x00" * 500, "foto.jpg", "image/jpeg", "tidak diterima"),
        (b"<html><script>alert(1)</script></html>", "../../etc/laporan.pdf",
         "application/pdf", "tidak diterima"),
        (b"", "kosong.pdf", "application/pdf", "kosong"),
        (docx_with_filler(300 * MB), "laporan.docx", mime_types.DOCX, "mengembang terlalu besar"),
    ]
    for data, name, mime, expected in cases:
        await double.send_document(office.officer, data, name, mime)
        answer = await double.wait_for_message(office.officer)
        assert expected in answer.plain, (name, answer.plain)
    media_root = office.warta.media.root
    stored = [p for p in media_root.rglob("*") if p.is_file() and "tmp" not in p.parts]
    assert stored == []
    assert not list((media_root / "tmp").iterdir())


async def test_oversize_video_refused_before_download(bot_office: Office) -> None:
    office, double = bot_office, bot_office.double
    await double.send_video(office.officer, b"\x00" * 1000, file_size=2 * 1024**3)
    answer = await double.wait_for_message(office.officer)
    assert "terlalu besar" in answer.plain or "tidak bisa diambil" in answer.plain
    assert double.count("getFile") == 0


async def test_good_photo_with_dangerous_name_lands_in_media_dir(bot_office: Office) -> None:
    office, double = bot_office, bot_office.double
    await double.send_document(office.officer, jpeg_bytes(), "../../../tmp/evil.jpg",
                               "image/jpeg")
    summary = await double.wait_for_message(office.officer, contains="Draf #")
    assert "1 foto" in summary.plain
    item = office.latest_item()
    root = office.warta.media.root.resolve()
    path = office.warta.media.open_stored(item.media[0].stored_path).resolve()
    assert root in path.parents


async def test_english_speaker_sees_english(bot_office: Office) -> None:
    office, double = bot_office, bot_office.double
    await double.send_text(office.officer_en, "Village meeting <b>today</b> & more")
    summary = await double.wait_for_message(office.officer_en, contains="Draft #")
    assert "Village meeting <b>today</b> & more" in summary.plain
    assert summary.button_texts[0] == "📤 Submit"
    await double.send_command(office.officer_en, "bahasa", "id")
    await double.wait_for_message(office.officer_en, contains="Bahasa Indonesia")
    await double.send_command(office.officer_en, "status")
    status = await double.wait_for_message(office.officer_en, contains="Kiriman Anda")
    assert "draf" in status.plain


async def test_a_new_persons_language_comes_from_their_telegram_app(bot_office: Office) -> None:
    office, double = bot_office, bot_office.double
    await double.send_command(office.admin, "pengguna", "tambah 7001 petugas Rina Wati")
    await double.wait_for_message(office.admin, contains="Rina Wati")
    await double.send_command(office.admin, "pengguna", "tambah 7002 petugas Budi Santoso")
    await double.wait_for_message(office.admin, contains="Budi Santoso")
    rina = double.user(7001, "Rina", language_code="en-GB")
    budi = double.user(7002, "Budi", language_code="in")  # older Androids' Indonesian
    await double.send_command(rina, "start")
    welcome = await double.wait_for_message(rina)
    assert "Hello, Rina Wati" in welcome.plain
    await double.wait_until(lambda: {"command": "status", "description": "My items"}
                            in double.commands({"type": "chat", "chat_id": 7001}))
    await double.send_command(budi, "status")
    assert "Belum ada kiriman" in (await double.wait_for_message(budi)).plain
    # Once taken (or chosen with /bahasa) it stays, whatever the app says later.
    await double.send_command(rina, "bahasa", "id")
    await double.wait_for_message(rina, contains="Bahasa Indonesia")
    double.user(7001, "Rina", language_code="en")
    await double.send_command(rina, "status")
    assert "Belum ada kiriman" in (await double.wait_for_message(rina)).plain
    # People registered with a language (everyone else here) were never overridden.
    with office.warta.sessions() as session:
        events = [e for e in session.scalars(select(AuditEvent).where(
            AuditEvent.action == "people.language")) if e.data.get("source") == "telegram"]
    assert sorted(e.data["telegram_id"] for e in events) == [7001, 7002]


async def test_role_menus_and_help(bot_office: Office) -> None:
    office, double = bot_office, bot_office.double
    scope = {"type": "chat", "chat_id": office.editor.id}
    names = [c["command"] for c in double.commands(scope)]
    assert "judul" in names and "pengguna" not in names and "status" not in names
    officer = [c["command"] for c in double.commands({"type": "chat",
                                                       "chat_id": office.officer.id})]
    assert "status" in officer and "judul" not in officer
    await double.send_command(office.official, "bantuan")
    help_text = await double.wait_for_message(office.official)
    assert "Pejabat" in help_text.plain and "Editor" not in help_text.plain


async def test_admin_manages_people_and_others_cannot(bot_office: Office) -> None:
    office, double = bot_office, bot_office.double
    await double.send_command(office.editor, "pengguna", "tambah 7777 petugas Dewi")
    refused = await double.wait_for_message(office.editor)
    assert "tidak berwenang" in refused.plain
    await double.send_command(office.admin, "pengguna", "tambah 7777 petugas Dewi Lestari")
    saved = await double.wait_for_message(office.admin)
    assert "Dewi Lestari" in saved.plain and "petugas" in saved.plain
    await double.send_command(office.admin, "pengguna", "tambah 7777 editor Lagi")
    duplicate = await double.wait_for_message(office.admin)
    assert "sudah terdaftar" in duplicate.plain
    await double.send_command(office.admin, "pengguna", "nonaktif 1001")
    await double.wait_for_message(office.admin, contains="nonaktif")
    await double.send_text(office.officer, "masih bisa?")
    answer = await double.wait_for_message(office.officer)
    assert "belum terdaftar" in answer.plain


async def test_history_visible_to_staff_not_to_other_officers(bot_office: Office) -> None:
    office, double = bot_office, bot_office.double
    item_id = office.awaiting_approval()
    await double.send_command(office.official, "riwayat", str(item_id))
    history = await double.wait_for_message(office.official, contains=f"Riwayat #{item_id}")
    assert "Eko Editor mengajukan" in history.plain
    await double.send_command(office.officer_en, "riwayat", str(item_id))
    hidden = await double.wait_for_message(office.officer_en)
    assert "not found" in hidden.plain


async def test_an_answer_telegram_fails_with_502_is_sent_again(bot_office: Office) -> None:
    office, double = bot_office, bot_office.double
    double.fail_next("sendMessage", count=2, status=502)
    await double.send_text(office.officer, "Rapat desa")
    summary = await double.wait_for_message(office.officer, contains="Draf #", timeout=10)
    assert "Rapat desa" in summary.plain
    # A refusal that will not change (400) is not repeated; the person is told.
    double.fail_next("sendMessage", status=400, description="Bad Request: chat not found")
    await double.send_text(office.officer, "Tambahan")
    await double.wait_for_message(office.officer, contains="terjadi kesalahan")
    to_officer = [c.status for c in double.calls if c.method == "sendMessage"
                  and c.params.get("chat_id") == office.officer.id]
    assert to_officer == [502, 502, 200, 400, 200]
