"""Hand-over of claimed work: an editor releases an item, an admin or the Head reassigns it."""

from __future__ import annotations

from telegram import Update

from bot.base import WartaContext, answers_errors, confirm, in_worker, parse_id, reply
from bot.common import TELEGRAM_ID_MAX
from workflow.catalogue.lookup import t


@answers_errors
async def on_release(update: Update, context: WartaContext, item_id: int) -> None:
    """↩️ Lepas (or /lepas ID): the claiming editor puts the item back in the queue."""
    warta = context.warta
    await in_worker(warta, lambda session: warta.workflow.release(
        session, context.me, item_id, warta.now()))
    await confirm(update, t("editor.released", context.lang, id=item_id))


@answers_errors
async def on_reassign(update: Update, context: WartaContext) -> None:
    """/alihkan ID EDITOR_TELEGRAM_ID: gives an item in editing to another editor."""
    args = context.args or []
    item_id = parse_id(args[0]) if args else None
    editor_id = parse_id(args[1], TELEGRAM_ID_MAX) if len(args) == 2 else None
    if item_id is None or editor_id is None:
        await reply(update, t("usage.alihkan", context.lang))
        return
    warta = context.warta
    item = await in_worker(warta, lambda session: warta.workflow.reassign(
        session, context.me, item_id, warta.now(), to_telegram_id=editor_id))
    name = item.editor.name if item.editor else "-"
    await reply(update, t("admin.reassigned", context.lang, id=item_id, name=name))
