"""What the bot does with an update python-telegram-bot cannot read: tell, alert, go on."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import Application

from workflow import outbox, people
from workflow.catalogue.lookup import t
from workflow.context import Context
from workflow.transaction import transaction

log = logging.getLogger("warta.inbox")

ALERT_TEMPLATE = "inbox.unreadable"


def update_kind(payload: Mapping[str, Any]) -> str:
    """What an update carries ("message", "poll", ...), read from the raw JSON."""
    return next((key for key in payload if key != "update_id"), "nothing")


def sender_of(payload: Mapping[str, Any]) -> tuple[int | None, Mapping[str, Any]]:
    """(private chat to answer in, the sender's user object) found in a raw update, or
    (None, {}) when it names no person or came from a group (a notice there helps nobody)."""
    for key, body in payload.items():
        if key == "update_id" or not isinstance(body, Mapping):
            continue
        user = body.get("from") or body.get("user") or {}
        chat = body.get("chat") or (body.get("message") or {}).get("chat") or {}
        if not isinstance(user, Mapping) or not isinstance(chat, Mapping):
            continue
        if chat:
            private = chat.get("type") == "private" and isinstance(chat.get("id"), int)
            return (chat["id"] if private else None), user
        if isinstance(user.get("id"), int):
            return user["id"], user
    return None, {}


async def tell_about_unreadable(application: Application[Any, Any, Any, Any, Any, Any],
                                payload: Mapping[str, Any]) -> None:
    """The sender (if a private chat is found) hears that this kind of message is not
    understood; the webmaster is alerted once a day per kind, through the outbox."""
    warta: Context = application.bot_data["warta"]
    kind = update_kind(payload)
    chat_id, user = sender_of(payload)
    now = warta.now()
    with warta.sessions() as session, transaction(session):
        outbox.insert_once(session, [outbox.notification_values(
            target="alert", template=ALERT_TEMPLATE,
            payload={"kind": kind, "update_id": int(payload.get("update_id", 0))},
            key=f"{ALERT_TEMPLATE}:{kind}:{warta.local(now).date().isoformat()}", now=now)])
        known = people.find_by_telegram_id(session, chat_id) if chat_id is not None else None
        language = known.language if known is not None else (
            people.telegram_language(str(user.get("language_code") or ""))
            or warta.settings.office.language)
    if chat_id is None:
        return
    try:
        await application.bot.send_message(chat_id, t("inbox.unreadable", language),
                                           parse_mode=ParseMode.HTML)
    except TelegramError as error:  # best effort: the update is closed either way
        log.info("inbox: could not tell %s about an unreadable update: %s", chat_id, error)
