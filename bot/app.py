"""All the bot's wiring in one place: handlers, jobs, start-up and shutdown."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Coroutine, Sequence
from datetime import date
from typing import Any, NamedTuple

import httpx
from telegram import Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import (
    common,
    editor,
    handover,
    inbox,
    invitations,
    officer,
    official,
    prompts,
    scheduler,
)
from bot.base import (
    ItemHandler,
    WartaApp,
    WartaContext,
    answer_button,
    answers_errors,
    log,
    parse_id,
    reply,
    send_queued_with,
)
from bot.commands import COMMANDS, guarded
from bot.menus import Menus
from bot.notifier import Notifier
from bot.patience import Patient
from bot.render import EARLIER_NAMES, JOIN_BUTTONS
from workflow import people
from workflow.catalogue.lookup import t
from workflow.context import Context
from workflow.errors import InvalidValue
from workflow.models import Role
from workflow.transitions import TRANSITIONS, Action

NOTIFIER_TICK_SECONDS = 2.0


class RepeatingJob(NamedTuple):
    """A job the composition root adds to the bot's queue (the publisher, for one)."""

    name: str
    every_seconds: float
    callback: Callable[[Any], Coroutine[Any, Any, None]]
    first_after_seconds: float = 1.0

# Who handles a press of each button that takes no reason (see bot.render.CARD_BUTTONS);
# a press of a step the table says needs a reason asks for it first.
ON_PRESS: dict[str, ItemHandler] = {
    Action.SUBMIT: officer.on_submit,
    "note": officer.on_add_note,
    "date": officer.on_pick_date,
    Action.CANCEL: officer.on_cancel,
    Action.CLAIM: editor.on_claim,
    "preview": editor.on_preview,
    Action.FORWARD: editor.on_forward,
    Action.APPROVE: official.on_approve,
    Action.RETRY_PUBLISH: editor.on_retry,
    Action.RELEASE: handover.on_release,
}

def builder_for(warta: Context) -> Any:  # PTB's ApplicationBuilder has six type slots
    """PTB's builder pointed at the configured Bot API server."""
    telegram = warta.settings.telegram
    if not telegram.token:
        raise InvalidValue("telegram.token is empty (set it or WARTA_TELEGRAM_TOKEN)",
                           field="token")
    return (ApplicationBuilder().token(telegram.token).base_url(telegram.api_base_url)
            .base_file_url(telegram.api_file_url).local_mode(telegram.local_mode))


def build_application(warta: Context, builder: Any | None = None,
                      jobs: Sequence[RepeatingJob] = ()) -> WartaApp:
    """The bot for `warta`'s settings; `builder` lets tests point PTB at the double, `jobs`
    are run on the bot's queue beside its own (the bot does not know what they do)."""
    builder = builder or builder_for(warta)
    builder = builder.context_types(ContextTypes(context=WartaContext))
    limiter = AIORateLimiter(max_retries=3) if warta.settings.telegram.rate_limit else None
    builder = builder.rate_limiter(Patient(limiter))
    app: WartaApp = builder.post_init(_post_init).post_shutdown(_post_shutdown).build()
    notifier = Notifier(warta)
    send_queued_with(warta, notifier)
    app.bot_data.update(warta=warta, notifier=notifier,
                        menus=Menus(warta.settings.web.public_url))

    app.add_handler(TypeHandler(Update, common.identify), group=-1)
    for name in COMMANDS:
        app.add_handler(CommandHandler(name, guarded(name)))
    app.add_handler(CallbackQueryHandler(on_button))
    private = filters.ChatType.PRIVATE
    app.add_handler(MessageHandler(private & filters.UpdateType.EDITED_MESSAGE, on_edited))
    app.add_handler(MessageHandler(
        private & (filters.PHOTO | filters.VIDEO | filters.VIDEO_NOTE | filters.Document.ALL),
        officer.on_media))
    app.add_handler(MessageHandler(private & filters.TEXT & ~filters.COMMAND, on_private_text))
    app.add_handler(MessageHandler(
        filters.ChatType.GROUPS & filters.REPLY & filters.TEXT & ~filters.COMMAND,
        on_group_reply))
    app.add_handler(MessageHandler(private & filters.COMMAND, on_unknown_command))
    app.add_handler(MessageHandler(private & ~filters.COMMAND, on_unsupported))
    app.add_error_handler(on_error)

    queue = app.job_queue
    if queue is not None:
        queue.run_repeating(_notify_tick, NOTIFIER_TICK_SECONDS, first=0.5, name="notifier")
        queue.run_repeating(scheduler.sweep_job, warta.settings.alerts.sweep_seconds, first=5.0,
                           name="deadlines")
        queue.run_repeating(officer.answer_due_albums, officer.ALBUM_SWEEP_SECONDS,
                            first=officer.ALBUM_SWEEP_SECONDS, name="album-answers")
        for job in jobs:
            queue.run_repeating(job.callback, job.every_seconds, first=job.first_after_seconds,
                                name=job.name)
    return app


async def _post_init(app: WartaApp) -> None:
    warta: Context = app.bot_data["warta"]
    warta.ensure_schema()
    app.bot_data["http"] = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0))
    warta.media.cleanup_stale_temp()
    menus: Menus = app.bot_data["menus"]
    with warta.sessions() as session:
        everyone = people.list_people(session)
    for person in everyone:
        await menus.set_for(app.bot, person)
    log.info("bot started for %s with %d people", warta.settings.office.name, len(everyone))


async def _post_shutdown(app: WartaApp) -> None:
    client = app.bot_data.pop("http", None)
    if client is not None:
        await client.aclose()
    app.bot_data["warta"].close()


async def _notify_tick(context: WartaContext) -> None:
    context.kick_notifier(look=True)


async def on_button(update: Update, context: WartaContext) -> None:
    """Routes `verb:item` (and `join_yes:request`) button data; anything else (old or
    forged) gets a short answer."""
    query = update.callback_query
    if query is None:
        return
    verb, _, rest = (query.data or "").partition(":")
    item_text, _, value = rest.partition(":")
    item_id, index = parse_id(item_text), parse_id(value or "x", 1000)
    if verb == "setdate" and item_id and _is_date(value):
        await officer.on_set_date(update, context, item_id, value)
        return
    if verb == "setsec" and item_id and (value == "0" or index):
        await officer.on_set_section(update, context, item_id, index or 0)
        return
    verb = EARLIER_NAMES.get(verb, verb)
    button_item = parse_id(rest)
    if verb in JOIN_BUTTONS and button_item:
        await invitations.on_join_answer(update, context, button_item, JOIN_BUTTONS[verb])
        return
    if verb in ON_PRESS and button_item:
        await ON_PRESS[verb](update, context, button_item)
        return
    if verb in TRANSITIONS and TRANSITIONS[Action(verb)].needs_note and button_item:
        await prompts.ask_reason(update, context, button_item, Action(verb))
        return
    await answer_button(update, t("error.stale", context.lang), alert=True)


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


async def on_private_text(update: Update, context: WartaContext) -> None:
    if not await _answered_as_reply(update, context):
        await officer.on_text(update, context)


async def on_edited(update: Update, context: WartaContext) -> None:
    """An edited message: an officer's correction of their draft; anyone else's edited
    text is read as the text it now is."""
    if context.me.has_role(Role.PETUGAS):
        await officer.on_edited(update, context)
    elif update.effective_message is not None and update.effective_message.text:
        await on_private_text(update, context)


async def on_group_reply(update: Update, context: WartaContext) -> None:
    await _answered_as_reply(update, context)


async def _answered_as_reply(update: Update, context: WartaContext) -> bool:
    """A text that answers the bot's question, or an editor's text written on a card."""
    if prompts.has_question(update, context):
        await prompts.on_answer(update, context)
        return True
    item_id = editor.card_replied_to(update, context)
    if item_id is not None:
        await editor.on_card_reply(update, context, item_id)
        return True
    return False


@answers_errors
async def on_unknown_command(update: Update, context: WartaContext) -> None:
    await reply(update, t("hint.unknown_command", context.lang))


@answers_errors
async def on_unsupported(update: Update, context: WartaContext) -> None:
    await reply(update, t("hint.unsupported", context.lang))


async def on_error(update: object, context: WartaContext) -> None:
    """Logs the failure and tells the person something went wrong, so nobody waits."""
    log.error("update failed: %s", context.error, exc_info=context.error)
    if isinstance(update, Update):
        chat = update.effective_chat
        if update.callback_query is not None:
            try:
                await answer_button(update, t("error.generic", context.lang), alert=True)
            except Exception:  # answering is best effort; the error is already logged
                log.debug("could not answer the callback query")
        elif chat is not None and chat.type == ChatType.PRIVATE:
            try:
                await reply(update, t("error.generic", context.lang))
            except TelegramError as error:  # Telegram itself is failing; already logged
                log.info("could not tell the person: %s", error)


async def serve_until_signal(app: WartaApp, warta: Context) -> None:
    """Serves until SIGINT or SIGTERM, then finishes the update in hand and shuts down."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    webhook = inbox.webhook_options(warta.settings.telegram)
    async with inbox.serve(app, warta, webhook=webhook):
        log.info("bot running (%s)", "webhook" if webhook else "long polling")
        await stop.wait()
        log.info("stop signal received; finishing the update in hand")
    log.info("bot stopped")
