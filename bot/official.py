"""The official's side: approve, reject with a reason, ask for a revision, take down."""

from __future__ import annotations

from telegram import Update

from bot.base import WartaContext, answers_errors, confirm, reply
from bot.prompts import answer_for, typed_or_asked
from workflow.catalogue.lookup import t
from workflow.transitions import Action


@answers_errors
async def on_approve(update: Update, context: WartaContext, item_id: int) -> None:
    warta = context.warta
    with warta.sessions() as session:
        warta.workflow.approve(session, context.me, item_id, warta.now())
    await confirm(update, t("official.approved", context.lang, id=item_id))


@answer_for(Action.REJECT)
async def reject_with_reason(update: Update, context: WartaContext, item_id: int,
                             reason: str) -> None:
    warta = context.warta
    with warta.sessions() as session:
        warta.workflow.reject(session, context.me, item_id, warta.now(), reason)
    await reply(update, t("official.rejected", context.lang, id=item_id))


@answer_for(Action.REQUEST_REVISION)
async def revise_with_note(update: Update, context: WartaContext, item_id: int,
                           note: str) -> None:
    warta = context.warta
    with warta.sessions() as session:
        warta.workflow.request_revision(session, context.me, item_id, warta.now(), note)
    await reply(update, t("official.revision_asked", context.lang, id=item_id))


@answer_for(Action.TAKE_DOWN)
async def take_down_with_reason(update: Update, context: WartaContext, item_id: int,
                                reason: str) -> None:
    warta = context.warta
    with warta.sessions() as session:
        warta.workflow.take_down(session, context.me, item_id, warta.now(), reason)
    await reply(update, t("official.taking_down", context.lang, id=item_id))


on_take_down_command = typed_or_asked(Action.TAKE_DOWN, "usage.tarik")
