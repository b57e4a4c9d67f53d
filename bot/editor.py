"""The IT team's side: claim, edit, preview, forward to the officials or return."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from telegram import Bot, InputMediaPhoto, InputMediaVideo, Message, Update
from telegram.constants import ParseMode

from bot.base import (
    Handler,
    ItemHandler,
    WartaContext,
    answer_button,
    answers_errors,
    confirm,
    in_worker,
    parse_id,
    remember,
    reply,
)
from bot.prompts import answer_for, noted_step, typed_or_asked
from bot.render import (
    card_checks,
    clip,
    fit_lines,
    item_card,
    keyboard,
    mini_app_url,
    state_label,
    when,
)
from workflow.actions import Edit, Workflow
from workflow.catalogue.lookup import Safe, t
from workflow.context import Context
from workflow.errors import InvalidValue
from workflow.models import Item, Media, MediaKind, MessageCopy, Person, Status
from workflow.post_html import STYLES, Span
from workflow.queries import get_item, list_items, stage_started_at
from workflow.transitions import Action

QUEUE_STATES = (Status.SUBMITTED, Status.IN_EDITING, Status.RETURNED_TO_OFFICER,
                Status.AWAITING_APPROVAL, Status.APPROVED, Status.PUBLISH_FAILED)
ALBUM_LIMIT = 10
DOCUMENT_NAMES = 300  # UTF-16 units; the card itself keeps a reserve for this line


async def item_for(context: WartaContext, item_id: int) -> Item:
    return await in_worker(context.warta, lambda session: get_item(session, item_id, context.me))


async def send_preview(update: Update, context: WartaContext, item: Item, card: str) -> None:
    """The item as it will appear: photos and videos as an album, then the text card."""
    if update.effective_chat is not None:
        await send_item(context.bot, context.warta, item, update.effective_chat.id,
                        context.lang, card, context.me)


async def send_item(bot: Bot, warta: Context, item: Item, chat_id: int, lang: str,
                    card: str, person: Person | None) -> int:
    """Sends album + card to a chat; returns the card's message id (to edit it later)."""
    await send_album(bot, warta, item, chat_id)
    return await send_card(bot, warta, item, chat_id, lang, card, person)


async def send_album(bot: Bot, warta: Context, item: Item, chat_id: int,
                     **timeouts: Any) -> bool:
    """The item's photos and videos, numbered (★ marks the cover), as they will appear;
    False when it has none (nothing was sent)."""
    visual = [m for m in item.media if m.kind in (MediaKind.PHOTO, MediaKind.VIDEO)]
    album = []
    for media in visual[:ALBUM_LIMIT]:
        path = warta.media.open_stored(media.stored_path)
        caption = f"{media.position}" + (" ★" if item.cover is media else "")
        wrap = InputMediaPhoto if media.kind == MediaKind.PHOTO else InputMediaVideo
        album.append(wrap(await asyncio.to_thread(Path(path).read_bytes), caption=caption))
    if len(album) == 1:
        only = album[0]
        if isinstance(only, InputMediaPhoto):
            await bot.send_photo(chat_id, only.media, caption=only.caption, **timeouts)
        else:
            await bot.send_video(chat_id, only.media, caption=only.caption, **timeouts)
    elif album:
        await bot.send_media_group(chat_id, album, **timeouts)
    return bool(album)


async def send_card(bot: Bot, warta: Context, item: Item, chat_id: int, lang: str, card: str,
                    person: Person | None, **timeouts: Any) -> int:
    """The item's text card with the buttons of `card`; returns its message id."""
    text = item_card(item, lang, warta.zone, card_checks(item, card, warta.settings.checklist))
    documents = [m for m in item.media if m.kind == MediaKind.DOCUMENT]
    if documents:
        names = ", ".join(f"{m.original_name or m.mime} ({m.position})" for m in documents)
        text += "\n" + t("item.documents", lang, names=clip(names, DOCUMENT_NAMES))
    message = await bot.send_message(
        chat_id, text, parse_mode=ParseMode.HTML, disable_web_page_preview=True,
        reply_markup=keyboard(card, item, lang, person,
                              mini_app_url(warta.settings.web.public_url, chat_id)),
        **timeouts)
    return message.message_id


@answers_errors
async def on_claim(update: Update, context: WartaContext, item_id: int) -> None:
    warta = context.warta
    item = await in_worker(warta, lambda session: warta.workflow.claim(
        session, context.me, item_id, warta.now()))
    await answer_button(update, t("editor.claimed", context.lang, id=item_id))
    await send_panel(context, item)


async def send_panel(context: WartaContext, item: Item) -> None:
    """The editing panel of `item` (as the step that gave it to the editor returned it),
    sent to the editor privately whatever chat they acted in, and remembered so that later
    steps update it."""
    warta = context.warta
    panel = await send_item(context.bot, warta, item, context.me.telegram_id, context.lang,
                            "editing", context.me)
    copy = MessageCopy(item_id=item.id, purpose="editing", chat_id=context.me.telegram_id,
                       message_id=panel, created_at=warta.now())
    await in_worker(warta, lambda session: remember(session, copy))
    await context.bot.send_message(context.me.telegram_id,
                                   t("editor.commands", context.lang, id=item.id),
                                   parse_mode=ParseMode.HTML)


@answers_errors
async def on_preview(update: Update, context: WartaContext, item_id: int) -> None:
    item = await item_for(context, item_id)
    await answer_button(update)
    card = "decision" if item.status is Status.AWAITING_APPROVAL else "editing"
    await send_preview(update, context, item, card)


@answers_errors
async def on_forward(update: Update, context: WartaContext, item_id: int) -> None:
    warta = context.warta
    await in_worker(warta, lambda session: warta.workflow.forward(
        session, context.me, item_id, warta.now()))
    await confirm(update, t("editor.forwarded", context.lang, id=item_id))


return_with_note = noted_step(Action.RETURN_TO_OFFICER, Workflow.return_to_officer,
                              "editor.returned")


@answer_for(Action.OPEN_CORRECTION)
async def correct_with_reason(update: Update, context: WartaContext, item_id: int,
                              reason: str) -> None:
    """A correction of a published item: an editor gets the editing panel at once; an
    official's correction goes to the item's editor (told by the notifier)."""
    warta = context.warta
    item = await in_worker(warta, lambda session: warta.workflow.open_correction(
        session, context.me, item_id, warta.now(), reason))
    await reply(update, t("editor.correcting", context.lang, id=item_id))
    if item.editor_id == context.me.id:
        await send_panel(context, item)


# The edit commands that name media by their number (and so read the item first).
MEDIA_COMMANDS = ("sampul", "hapus", "urut", "alt", "keterangan")


def _words_for_photo(item: Item | None, text: str, field: str) -> dict[int, str]:
    """"N words": the words for media number N (its alt text or its caption)."""
    number, _, words = text.strip().partition(" ")
    if not words.strip():
        raise InvalidValue(f"{field} needs a photo number and words", field=field)
    return {_number_to_media(item, number): words}


def _number_to_media(item: Item | None, number: str) -> int:
    """Media are numbered in previews by their position, which removing one does not
    change (only /urut renumbers); editors refer to them by that number."""
    media = item.media if item is not None else []
    found = next((m.id for m in media if str(m.position) == number.strip()), None)
    if found is None:
        raise InvalidValue(f"no media number {number}", field="media")
    return found


def _media_names(media: list[Media], lang: str) -> str:
    """"foto 1, video 3": each medium with its kind and number."""
    return ", ".join(t("edit.medium", lang, kind=Safe(t(f"kind.{m.kind}", lang)),
                       number=m.position) for m in media) or "-"


def media_answer(command: str, before: Item, after: Item, lang: str) -> str | None:
    """What a media command did, by number (None for the other commands)."""
    if command == "sampul" and after.cover is not None:
        return t("editor.cover_now", lang, id=after.id,
                 medium=Safe(_media_names([after.cover], lang)))
    if command == "hapus":
        kept = {m.id for m in after.media}
        return t("editor.media_removed", lang, id=after.id,
                 removed=Safe(_media_names([m for m in before.media if m.id not in kept], lang)),
                 left=Safe(_media_names(after.media, lang)))
    if command == "urut":
        was = {m.id: m.position for m in before.media}
        moves = ", ".join(t("edit.renumbered", lang, number=m.position, was=was[m.id])
                          for m in after.media)
        return t("editor.media_renumbered", lang, id=after.id, order=Safe(moves))
    return None


def parse_edit(item: Item | None, command: str, text: str, zone: ZoneInfo,
               spans: tuple[Span, ...] = ()) -> Edit:
    """Turns `/judul 12 ...`-style arguments (after the id) into an Edit; `spans` is the
    text's formatting (kept for the body). `item` is needed by the MEDIA_COMMANDS only."""
    if command == "judul":
        return Edit(title=text)
    if command == "isi":
        return Edit(body=text, body_format=spans)
    if command == "kategori":
        return Edit(category=text)
    if command == "tag":
        return Edit(tags=[tag for tag in text.replace(";", ",").split(",")])
    if command == "sampul":
        return Edit(cover_media_id=_number_to_media(item, text.strip()))
    if command == "hapus":
        return Edit(remove_media_ids=[_number_to_media(item, n) for n in text.split()])
    if command == "urut":
        return Edit(media_order=[_number_to_media(item, n) for n in text.split()])
    if command == "alt":
        return Edit(alt_texts=_words_for_photo(item, text, "alt_text"))
    if command == "keterangan":
        return Edit(captions=_words_for_photo(item, text, "caption"))
    if command == "jadwal":
        try:
            local = datetime.strptime(text.strip(), "%Y-%m-%d %H:%M")
        except ValueError:
            raise InvalidValue("bad schedule", field="schedule") from None
        return Edit(publish_at=local.replace(tzinfo=zone))
    raise InvalidValue(f"unknown edit {command}", field="command")


# `/isi 3 text` and, as phones type it, `/isi 3` with the text on the lines below: any
# whitespace separates the parts, and the text keeps its own line breaks.
EDIT_COMMAND = re.compile(r"/(?P<command>\S+)(?:\s+(?P<id>\S+))?\s*(?P<value>.*)", re.DOTALL)

# Cards an editor may reply to with the item's text: the IT team's card, the editing panel.
TEXT_CARDS = ("claim", "editing")


def card_replied_to(update: Update, context: WartaContext) -> int | None:
    """The item whose card this message replies to, when it is one editors write on."""
    message, chat = update.effective_message, update.effective_chat
    replied = message.reply_to_message if message is not None else None
    if replied is None or chat is None:
        return None
    with context.warta.sessions() as session:  # only for replies: seldom
        return session.scalar(select(MessageCopy.item_id).where(
            MessageCopy.chat_id == chat.id, MessageCopy.message_id == replied.message_id,
            MessageCopy.purpose.in_(TEXT_CARDS)).limit(1))


def text_edit(text: str) -> tuple[Edit, list[str]]:
    """A reply to a card: its first line is the title, the lines after it the body.
    Returns the edit and the edit commands it stands for (to say what was saved)."""
    title, _, body = text.strip().partition("\n")
    if body.strip():
        return Edit(title=title, body=body.strip()), ["judul", "isi"]
    return Edit(title=title), ["judul"]


@answers_errors
async def on_card_reply(update: Update, context: WartaContext, item_id: int) -> None:
    """Title (and body) written as a reply to the item's card; the same edit as /judul
    and /isi, so the same rules: the claiming editor, while the item is in editing."""
    message = update.effective_message
    if message is None or not (message.text or "").strip():
        return
    changes, saved = text_edit(message.text or "")
    warta = context.warta
    await in_worker(warta, lambda session: warta.workflow.edit(
        session, context.me, item_id, warta.now(), changes))
    what = ", ".join(t(f"edit.{command}", context.lang) for command in saved)
    await reply(update, t("editor.saved", context.lang, id=item_id, what=what))


@answers_errors
async def on_edit_command(update: Update, context: WartaContext) -> None:
    """/judul ID teks, /isi ID teks, /sampul ID N, /hapus ID N.., /urut ID N.., /kategori,
    /tag ID a, b, /jadwal ID YYYY-MM-DD HH:MM, /alt ID N teks, /keterangan ID N teks."""
    message = update.effective_message
    if message is None or not message.text:
        return
    found = EDIT_COMMAND.match(message.text)
    if found is None:
        return
    command = found["command"].split("@")[0].lower()
    item_id = parse_id(found["id"] or "")
    value = found["value"]
    if item_id is None or not value.strip():
        await reply(update, t(f"usage.{command}", context.lang))
        return
    warta = context.warta
    # Only the media commands name media by number, which takes the item as it is now.
    before = await item_for(context, item_id) if command in MEDIA_COMMANDS else None
    changes = parse_edit(before, command, value, warta.zone,
                         formatting(message, found.start("value")))
    await in_worker(warta, lambda session: warta.workflow.edit(
        session, context.me, item_id, warta.now(), changes))
    answer = media_answer(command, before, await item_for(context, item_id), context.lang) \
        if before is not None else None
    await reply(update, answer or t("editor.saved", context.lang, id=item_id,
                                    what=Safe(t(f"edit.{command}", context.lang))))


def formatting(message: Message, start: int) -> tuple[Span, ...]:
    """The message's bold, italic, underline, strikethrough and links after `start`, as
    spans over message.text[start:] (Telegram counts offsets in UTF-16 units)."""
    text = message.text or ""
    index, units = {}, 0
    for position, char in enumerate(text):
        index[units] = position
        units += 2 if ord(char) > 0xFFFF else 1
    index[units] = len(text)
    spans = []
    for entity in message.entities:
        left, right = index.get(entity.offset), index.get(entity.offset + entity.length)
        style = str(entity.type)
        if style in STYLES and left is not None and right is not None:
            left, right = max(left - start, 0), right - start
            if right > left:
                spans.append(Span(style, left, right, entity.url or ""))
    return tuple(spans)


def for_item_argument(button: ItemHandler, usage: str) -> Handler:
    """`/command ID` doing what the item's button does (for typing instead of tapping)."""

    @answers_errors
    async def command(update: Update, context: WartaContext) -> None:
        item_id = parse_id((context.args or ["x"])[0])
        if item_id is None:
            await reply(update, t(usage, context.lang))
            return
        await button(update, context, item_id)

    return command


@answers_errors
async def on_queue(update: Update, context: WartaContext) -> None:
    """/antrian: every item on its way, oldest first, with how long it has waited."""
    warta, lang = context.warta, context.lang
    with warta.sessions() as session:
        lines = []
        for item in list_items(session, QUEUE_STATES):
            since = stage_started_at(session, item)
            lines.append(t("queue.line", lang, id=item.id,
                           title=clip(item.title or item.description, 40) or "-",
                           state=Safe(state_label(item.status, lang)),
                           who=item.editor.name if item.editor else item.officer.name,
                           since=when(since, warta.zone, lang)))
    await reply(update, fit_lines([t("queue.header", lang), *lines], lang) if lines
                else t("queue.empty", lang))


@answers_errors
async def on_retry(update: Update, context: WartaContext, item_id: int) -> None:
    """Puts an item whose publishing failed back in the publisher's queue."""
    warta = context.warta
    await in_worker(warta, lambda session: warta.workflow.retry_publish(
        session, context.me, item_id, warta.now()))
    await confirm(update, t("editor.retrying", context.lang, id=item_id))


on_forward_command = for_item_argument(on_forward, "usage.ajukan")
on_preview_command = for_item_argument(on_preview, "usage.pratinjau")
on_correction_command = typed_or_asked(Action.OPEN_CORRECTION, "usage.koreksi")
