"""The official's side: approve, reject with a reason, or ask for a revision."""

from __future__ import annotations

from telegram import Update

from bot.base import WartaContext, answer_button, answers_errors, confirm, reply
from bot.prompts import answer_for, ask
from workflow.catalogue.lookup import t


@answers_errors
async def on_approve(update: Update, context: WartaContext, item_id: int) -> None:
    warta = context.warta
    with warta.sessions() as session:
        warta.workflow.approve(session, context.me, item_id, warta.now())
    await confirm(update, t("official.approved", context.lang, id=item_id))


@answers_errors
async def on_reject(update: Update, context: WartaContext, item_id: int) -> None:
    await _ask_reason(update, context, item_id, "reject")


@answers_errors
async def on_revise(update: Update, context: WartaContext, item_id: int) -> None:
    await _ask_reason(update, context, item_id, "revise")


async def _ask_reason(update: Update, context: WartaContext, item_id: int, purpose: str) -> None:
    """Checks the item is still open for a decision before asking why (no wasted typing)."""
    warta = context.warta
    action = "reject" if purpose == "reject" else "request_revision"
    with warta.sessions() as session:
        warta.workflow.ensure_allowed(session, context.me, item_id, action)
    await answer_button(update)
    await ask(update, context, purpose, item_id)


@answer_for("reject")
async def reject_with_reason(update: Update, context: WartaContext, item_id: int,
                             reason: str) -> None:
    warta = context.warta
    with warta.sessions() as session:
        warta.workflow.reject(session, context.me, item_id, warta.now(), reason)
    await reply(update, t("official.rejected", context.lang, id=item_id))


@answer_for("revise")
async def revise_with_note(update: Update, context: WartaContext, item_id: int,
                           note: str) -> None:
    warta = context.warta
    with warta.sessions() as session:
        warta.workflow.request_revision(session, context.me, item_id, warta.now(), note)
    await reply(update, t("official.revision_asked", context.lang, id=item_id))
