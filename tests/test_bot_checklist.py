"""The forwarding checklist through the bot: shown on the panel, blocking, then passing."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.botkit import IT_CHAT, Office, office_settings, start_office
from tests.test_bot_flow import officer_sends_material
from workflow.config import ChecklistSettings
from workflow.models import Status

# The defaults, less alt text (tested below on its own) and what the
# officer sets on their own side (date, section): cover, title, 30 words, category.
RULES = ChecklistSettings(activity_date=False, section=False, photo_alt_text=False)
LONG_BODY = " ".join(["Kegiatan posyandu di Desa Ampah berjalan lancar dan tertib."] * 4)


@pytest.fixture
async def strict_office(tmp_path: Path) -> AsyncIterator[Office]:
    settings = dataclasses.replace(office_settings(tmp_path), checklist=RULES)
    async for running_office in start_office(tmp_path, settings):
        yield running_office


async def test_a_failing_rule_blocks_forwarding_until_the_editor_completes_it(
    strict_office: Office,
) -> None:
    office, double = strict_office, strict_office.double
    item_id = await officer_sends_material(office)
    card = await double.wait_for_message(IT_CHAT, contains=f"#{item_id}")
    await double.click(office.editor, card, "✋ Ambil")
    panel = await double.wait_for_message(office.editor, contains="Daftar periksa")
    assert "✅ Foto sampul" in panel.plain and "❌ Kategori" in panel.plain
    await double.send_command(office.editor, "judul", f"{item_id} Posyandu Desa Ampah")
    await double.wait_for_message(office.editor, contains="judul disimpan")
    await double.send_command(office.editor, "isi", f"{item_id} Posyandu berjalan lancar.")
    await double.wait_for_message(office.editor, contains="isi disimpan")

    await double.send_command(office.editor, "ajukan", str(item_id))
    refused = await double.wait_for_message(office.editor, contains="Belum bisa diajukan")
    assert "❌ Isi minimal 30 kata (sekarang 3)" in refused.plain
    assert "❌ Kategori" in refused.plain
    assert "Foto sampul" not in refused.plain  # only what is missing
    assert office.item(item_id).status is Status.IN_EDITING
    assert not office.double.messages(office.official)

    await double.send_command(office.editor, "isi", f"{item_id} {LONG_BODY}")
    await double.wait_for_message(office.editor, contains="isi disimpan")
    await double.send_command(office.editor, "kategori", f"{item_id} Kesehatan")
    await double.wait_for_message(office.editor, contains="disimpan")
    await double.send_command(office.editor, "ajukan", str(item_id))
    await double.wait_for_message(office.editor, contains="diajukan ke pejabat")
    assert office.item(item_id).status is Status.AWAITING_APPROVAL
    decision = await double.wait_for_message(office.official, contains="Daftar periksa")
    assert "✅ Kategori" in decision.plain
    assert "✅ Isi minimal 30 kata (sekarang 36)" in decision.plain
    assert "❌" not in decision.plain
    assert decision.button_texts == ["✅ Setujui", "❌ Tolak", "✏️ Revisi"]


async def test_the_english_refusal_lists_the_same_rules(strict_office: Office) -> None:
    office, double = strict_office, strict_office.double
    item_id = await officer_sends_material(office)
    card = await double.wait_for_message(IT_CHAT, contains=f"#{item_id}")
    await double.click(office.editor, card, "✋ Ambil")
    await double.wait_for_message(office.editor, contains="Daftar periksa")
    await double.send_command(office.editor, "bahasa", "en")
    await double.wait_for_message(office.editor, contains="English")
    await double.send_command(office.editor, "judul", f"{item_id} {'x' * 130}")
    await double.wait_for_message(office.editor, contains="saved")
    await double.send_command(office.editor, "ajukan", str(item_id))
    refused = await double.wait_for_message(office.editor, contains="Not forwarded yet")
    assert "❌ Title of 1–120 characters (now 130)" in refused.plain
    assert "❌ Category" in refused.plain


ALT_ONLY = ChecklistSettings(cover_photo=False, min_body_words=0, max_title_chars=0,
                             activity_date=False, section=False, category=False,
                             photo_alt_text=True)


@pytest.fixture
async def alt_office(tmp_path: Path) -> AsyncIterator[Office]:
    settings = dataclasses.replace(office_settings(tmp_path), checklist=ALT_ONLY)
    async for running_office in start_office(tmp_path, settings):
        yield running_office


async def test_alt_text_comes_from_the_caption_and_from_alt(alt_office: Office) -> None:
    """The album's caption says what its first photo shows; the editor describes the others
    with /alt, and only then may the item go to the official."""
    office, double = alt_office, alt_office.double
    item_id = await officer_sends_material(office)
    photos = [m for m in office.item(item_id).media if m.kind == "photo"]
    assert photos[0].alt_text == "Posyandu di Desa Ampah, 25 November"
    assert [m.alt_text for m in photos[1:]] == ["", ""]
    card = await double.wait_for_message(IT_CHAT, contains=f"#{item_id}")
    await double.click(office.editor, card, "✋ Ambil")
    panel = await double.wait_for_message(office.editor, contains="Daftar periksa")
    assert "❌" in panel.plain
    await double.send_command(office.editor, "judul", f"{item_id} Posyandu Desa Ampah")
    await double.wait_for_message(office.editor, contains="judul disimpan")
    await double.send_command(office.editor, "isi", f"{item_id} Posyandu berjalan lancar.")
    await double.wait_for_message(office.editor, contains="isi disimpan")
    await double.send_command(office.editor, "ajukan", str(item_id))
    refused = await double.wait_for_message(office.editor, contains="Belum bisa diajukan")
    assert "kurang 2: foto 2, 3" in refused.plain, refused.plain

    await double.send_command(office.editor, "alt", f"{item_id} 2")
    await double.wait_for_message(office.editor, contains="Tulis nomor foto lalu apa yang tampak")
    assert office.item(item_id).media[1].alt_text == ""
    for number, words in ((2, "Kader menimbang balita"), (3, "Ibu hamil diperiksa bidan")):
        await double.send_command(office.editor, "alt", f"{item_id} {number} {words}")
        await double.wait_for_message(office.editor, contains="teks alternatif foto disimpan")
    assert [m.alt_text for m in office.item(item_id).media if m.kind == "photo"][1:] == [
        "Kader menimbang balita", "Ibu hamil diperiksa bidan"]
    # The line under a photo on the website, in the same way.
    await double.send_command(office.editor, "keterangan", f"{item_id} 2 Penimbangan balita")
    await double.wait_for_message(office.editor, contains="keterangan foto disimpan")
    assert office.item(item_id).media[1].caption == "Penimbangan balita"
    await double.send_command(office.editor, "ajukan", str(item_id))
    await double.wait_for_message(office.editor, contains="diajukan ke pejabat")
    assert office.item(item_id).status is Status.AWAITING_APPROVAL
