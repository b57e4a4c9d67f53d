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

# The defaults, less what the bot gives editors no command for (alt text) and what the
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
