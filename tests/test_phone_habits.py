"""What a real office trips over on phones (issue 14), through the real bot stack."""

from __future__ import annotations

from tests.botkit import Office
from workflow.models import Status


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
