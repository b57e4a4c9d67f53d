"""Buttons come from the transitions table: one name per step, a reason asked where due."""

from __future__ import annotations

from sqlalchemy import update

from bot.render import CARD_BUTTONS, VIEW_BUTTONS
from tests.botkit import Office
from tests.test_bot_flow import editor_prepares, officer_sends_material
from workflow.models import MessageCopy, Status
from workflow.transitions import TRANSITIONS, Action

# SPEC section 3: returning, rejecting and asking for a revision each need a reason;
# section 10 (issue 11): so do a correction (its dated note) and a take-down.
NEED_A_REASON = {Action.RETURN_TO_OFFICER, Action.REJECT, Action.REQUEST_REVISION,
                 Action.OPEN_CORRECTION, Action.TAKE_DOWN}


def test_each_step_button_is_named_by_its_action() -> None:
    for verbs in CARD_BUTTONS.values():
        for verb in verbs:
            assert verb in VIEW_BUTTONS or (isinstance(verb, Action) and verb in TRANSITIONS)
    assert {t.action for t in TRANSITIONS.values() if t.needs_note} == NEED_A_REASON


async def test_revision_asked_through_the_button_and_through_an_earlier_card(
    bot_office: Office,
) -> None:
    office, double = bot_office, bot_office.double
    item_id = await officer_sends_material(office)
    await editor_prepares(office, item_id)
    decision = await double.wait_for_message(office.official, contains="Posyandu Desa Ampah")
    assert decision.button_data("✏️ Revisi") == f"request_revision:{item_id}"
    # A card sent before the step had one name carries "revise": it still asks first.
    await double.press_button(office.official, decision, f"revise:{item_id}", forge=True)
    await double.wait_for_message(office.official, contains="catatan revisi")
    # So does the question it left, remembered under its earlier name.
    with office.warta.sessions() as session, session.begin():
        session.execute(update(MessageCopy).where(
            MessageCopy.purpose == "ask:request_revision").values(purpose="ask:revise"))
    await office.reply_to_last(office.official, "Judul kurang jelas")
    await double.wait_for_message(office.official, contains=f"Revisi #{item_id} diminta")
    assert office.item(item_id).status is Status.IN_EDITING
    await double.wait_for_message(office.editor, contains="Judul kurang jelas")
