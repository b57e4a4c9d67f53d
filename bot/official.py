"""The official's side: approve, reject with a reason, ask for a revision, take down."""

from __future__ import annotations

from telegram import Update

from bot.base import WartaContext, answers_errors, confirm, in_worker
from bot.prompts import noted_step, typed_or_asked
from workflow.actions import Workflow
from workflow.catalogue.lookup import t
from workflow.transitions import Action


@answers_errors
async def on_approve(update: Update, context: WartaContext, item_id: int) -> None:
    warta = context.warta
    await in_worker(warta, lambda session: warta.workflow.approve(
        session, context.me, item_id, warta.now()))
    await confirm(update, t("official.approved", context.lang, id=item_id))


reject_with_reason = noted_step(Action.REJECT, Workflow.reject, "official.rejected")
revise_with_note = noted_step(Action.REQUEST_REVISION, Workflow.request_revision,
                              "official.revision_asked")
take_down_with_reason = noted_step(Action.TAKE_DOWN, Workflow.take_down,
                                   "official.taking_down")
on_take_down_command = typed_or_asked(Action.TAKE_DOWN, "usage.tarik")
