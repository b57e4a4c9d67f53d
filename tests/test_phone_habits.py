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
