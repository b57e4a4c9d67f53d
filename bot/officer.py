"""The officer's side: send material, describe it, send it to the IT team, follow it."""

from __future__ import annotations

import asyncio
import functools
from datetime import date, datetime, timedelta
from typing import cast

from sqlalchemy.orm import Session
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageOriginChannel,
    MessageOriginChat,
    MessageOriginHiddenUser,
    MessageOriginUser,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import JobQueue

from bot import albums
from bot.base import WartaContext, answer_button, answers_errors, in_worker, log, reply
from bot.download import download
from bot.prompts import answer_for, ask
from bot.render import draft_summary, duration, fit_lines, keyboard, state_label
from workflow.actions import MAX_ALT_TEXT, NewMedia
from workflow.catalogue.formats import day_month
from workflow.catalogue.lookup import Safe, t
from workflow.clock import utc_now
from workflow.errors import InvalidValue
from workflow.greetings import is_greeting
from workflow.media.refusals import MediaRejected
from workflow.models import Item, MediaKind, Person, Role
from workflow.people import find_by_telegram_id, known_sections
from workflow.queries import items_of_officer, stage_started_at
from workflow.transitions import OFFICER_WORK, Action

ALBUM_JOB = "albums"
# The answer's job runs a little after the answer is due, so that it finds it due.
ALBUM_JOB_MARGIN_SECONDS = 0.05
# How often every process looks for album answers owed by a process that stopped.
ALBUM_SWEEP_SECONDS = 2.0
SECTION_BUTTONS = 12


async def show_draft(update: Update, context: WartaContext, item_id: int) -> None:
    """The draft as it is now (album parts may have arrived since the caller's change)."""
    fresh = await in_worker(context.warta, lambda session: session.get(Item, item_id))
    assert fresh is not None
    await show_item(update, context, fresh)


async def show_item(update: Update, context: WartaContext, item: Item) -> None:
    """The draft as the workflow call that changed it returned it (nothing read again)."""
    await reply(update, draft_summary(item, context.lang, context.warta.zone),
                keyboard("draft", item, context.lang, context.me))


def message_source(update: Update) -> str | None:
    """Names the message behind an update, so that handling the update again after a crash
    (bot.inbox) does not append its text or create its draft twice. Each edit of a message
    is a source of its own, after the message's name (see `message_name`)."""
    message = update.effective_message
    if message is None:
        return None
    edited = int(message.edit_date.timestamp()) if message.edit_date else 0
    return f"{message_name(message)}:{edited}"


def message_name(message: Message) -> str:
    """The message, whichever version of it: what its edits have in common."""
    return f"telegram:{message.chat_id}:{message.message_id}"


def forwarded_from(message: Message) -> str:
    """Who the forwarded message first came from ("" when it is the officer's own): a
    channel's or group's title, a person's name, or the name a hidden sender shows."""
    origin = message.forward_origin
    if isinstance(origin, MessageOriginChannel):
        return origin.chat.title or ""
    if isinstance(origin, MessageOriginChat):
        return origin.sender_chat.title or ""
    if isinstance(origin, MessageOriginUser):
        return origin.sender_user.full_name
    if isinstance(origin, MessageOriginHiddenUser):
        return origin.sender_user_name
    return ""


def _attachment(message: Message) -> tuple[MediaKind, str, str, int | None, str | None] | None:
    """(kind, file id, unique id, declared size, file name) of what the message carries."""
    if message.photo:
        largest = message.photo[-1]
        return (MediaKind.PHOTO, largest.file_id, largest.file_unique_id, largest.file_size,
                None)
    if message.video:
        video = message.video
        return (MediaKind.VIDEO, video.file_id, video.file_unique_id, video.file_size,
                video.file_name)
    if message.video_note:  # a round video recorded in the chat: a video like any other
        note = message.video_note
        return (MediaKind.VIDEO, note.file_id, note.file_unique_id, note.file_size, None)
    if message.document:
        doc = message.document
        return (MediaKind.DOCUMENT, doc.file_id, doc.file_unique_id, doc.file_size,
                doc.file_name)
    return None


@answers_errors
async def on_media(update: Update, context: WartaContext) -> None:
    """Stores a photo, video or document in the officer's draft and shows the draft."""
    message = update.effective_message
    if message is None or (found := _attachment(message)) is None:
        return
    if not context.me.has_role(Role.PETUGAS):
        await reply(update, t("officer.only_officers", context.lang))
        return
    kind, file_id, unique_id, declared, name = found
    warta = context.warta
    # An album part holds back the album's answer while it downloads: a slow part must
    # not let the answer go out before it is stored.
    album = await _hold_album_answer(update, context, message.media_group_id)
    try:
        warta.media.check_declared_size(kind, declared)
        temp = warta.media.new_temp_path()
        try:
            telegram_file = await context.bot.get_file(file_id)
            limit = warta.media.limits.max_bytes(kind)
            await download(context.http, telegram_file, temp, limit,
                           local_mode=warta.settings.telegram.local_mode)
        except BaseException:
            warta.media.discard_temp(temp)
            raise
        stored = await asyncio.to_thread(warta.media.store, temp, kind, name)
    except MediaRejected as refusal:
        await reply(update, media_refusal(refusal, context.lang))
        if album is not None:
            await _answer_album_later(context, album, None)
        return
    new = NewMedia(
        kind=stored.kind, sha256=stored.sha256, stored_path=stored.relative_path,
        mime=stored.mime, size=stored.size, width=stored.width, height=stored.height,
        thumbnail_path=stored.thumbnail_path or "", original_name=stored.display_name or "",
        telegram_file_unique_id=unique_id, alt_text=photo_alt_text(stored.kind, message.caption),
    )
    source, origin = message_source(update), forwarded_from(message)

    def attach(session: Session) -> int:
        draft_id = warta.workflow.current_draft_id(session, context.me, warta.now())
        warta.workflow.add_media(session, context.me, draft_id, warta.now(), new,
                                 source=source, forwarded_from=origin)
        if message.caption:
            warta.workflow.update_draft(session, context.me, draft_id, warta.now(),
                                        append_text=message.caption, source=source,
                                        forwarded_from=origin)
        return draft_id

    draft_id = await in_worker(warta, attach)
    if album is not None:
        await _answer_album_later(context, album, draft_id)
    else:
        await show_draft(update, context, draft_id)


async def _hold_album_answer(update: Update, context: WartaContext,
                       group: str | None) -> tuple[int, str] | None:
    """For an album part: holds back the album's answer (bot.albums) while this part is
    handled; returns (chat, album) to pass to `_answer_album_later`."""
    chat = update.effective_chat
    if chat is None or not group:
        return None
    warta = context.warta
    await in_worker(warta, lambda session: albums.hold(session, utc_now(), chat.id, group,
                                                       context.lang))
    return chat.id, group


async def _answer_album_later(context: WartaContext, album: tuple[int, str],
                              draft_id: int | None) -> None:
    """Album parts arrive as separate updates: answer once, when no part has arrived for
    `telegram.album_wait_seconds` after the last one was stored, whichever process
    handled it. The job here is the punctual way; `answer_due_albums` also runs every
    ALBUM_SWEEP_SECONDS for answers a stopped process owed."""
    warta = context.warta
    wait = timedelta(seconds=warta.settings.telegram.album_wait_seconds)
    await in_worker(warta, lambda session: albums.part_done(session, utc_now(), wait, *album,
                                                            draft_id))
    # PTB types a context's queue by a self-type mypy cannot resolve; it is the app's queue.
    queue = cast("JobQueue[WartaContext] | None", context.job_queue)
    if queue is not None:
        queue.run_once(answer_due_albums, wait.total_seconds() + ALBUM_JOB_MARGIN_SECONDS,
                       name=ALBUM_JOB)


async def answer_due_albums(context: WartaContext) -> None:
    """Sends every album answer that is due (each taken by one process only)."""
    warta = context.warta
    for due in await in_worker(warta, lambda session: albums.take_due(session, utc_now())):
        if due.draft_id is None:
            continue  # every part was refused, and each refusal was answered
        item, officer = await in_worker(warta, functools.partial(_draft_and_officer, due))
        if item is None or officer is None:
            continue
        try:
            await context.bot.send_message(
                due.chat_id, draft_summary(item, due.language, warta.zone),
                parse_mode=ParseMode.HTML, disable_web_page_preview=True,
                reply_markup=keyboard("draft", item, due.language, officer))
        except TelegramError as error:  # blocked or gone: nobody left to tell
            log.warning("album answer to chat %s not sent: %s", due.chat_id, error)


def _draft_and_officer(due: albums.DueAnswer, session: Session
                       ) -> tuple[Item | None, Person | None]:
    assert due.draft_id is not None
    return session.get(Item, due.draft_id), find_by_telegram_id(session, due.chat_id)


def photo_alt_text(kind: MediaKind, caption: str | None) -> str:
    """A photo's own caption says what it shows: its alt text until an editor writes one."""
    if kind != MediaKind.PHOTO or not caption:
        return ""
    return " ".join(caption.split())[:MAX_ALT_TEXT]


def media_refusal(refusal: MediaRejected, lang: str) -> str:
    details = refusal.details
    limit = details.get("limit_mb", "")
    return t(f"media.{refusal.reason_code}", lang, limit=limit)


@answers_errors
async def on_text(update: Update, context: WartaContext) -> None:
    """An officer's plain text adds to the description of their draft."""
    message = update.effective_message
    if message is None or not message.text:
        return
    if not context.me.has_role(Role.PETUGAS):
        await reply(update, t("hint.use_commands", context.lang))
        return
    if is_greeting(message.text):
        await reply(update, t("officer.greeting", context.lang, name=context.me.name))
        return
    warta, text = context.warta, message.text
    source, origin = message_source(update), forwarded_from(message)
    draft = await in_worker(warta, lambda session: warta.workflow.add_text(
        session, context.me, warta.now(), text, source, origin))
    await show_item(update, context, draft)


@answers_errors
async def on_edited(update: Update, context: WartaContext) -> None:
    """An officer corrected a text or a caption: the new words replace the old ones in the
    draft; once sent to the IT team the edit is refused (it would change nothing)."""
    message = update.edited_message
    if message is None:
        return
    warta = context.warta
    source = message_source(update)
    assert source is not None  # the update carries a message
    name, text = message_name(message), message.text or message.caption or ""
    item = await in_worker(warta, lambda session: warta.workflow.revise_text(
        session, context.me, warta.now(), name, text, source))
    if item is None:
        await reply(update, t("officer.edit_unused", context.lang))
    elif item.status in OFFICER_WORK:
        await show_draft(update, context, item.id)
    else:
        await reply(update, t("officer.edit_passed_on", context.lang, id=item.id))


@answer_for("note")
async def add_note(update: Update, context: WartaContext, item_id: int, text: str) -> None:
    warta, source = context.warta, message_source(update)
    item = await in_worker(warta, lambda session: warta.workflow.update_draft(
        session, context.me, item_id, warta.now(), append_text=text, source=source))
    await show_item(update, context, item)


@answers_errors
async def on_new(update: Update, context: WartaContext) -> None:
    """/baru: starts a separate draft for another activity."""
    warta, source = context.warta, message_source(update)
    item = await in_worker(warta, lambda session: warta.workflow.create_draft(
        session, context.me, warta.now(), source=source))
    await show_item(update, context, item)


@answers_errors
async def on_section(update: Update, context: WartaContext) -> None:
    """/bidang NAMA: the section (bidang) the current draft belongs to."""
    name = " ".join(context.args or [])
    if not name:
        await reply(update, t("usage.bidang", context.lang))
        return
    warta = context.warta
    draft = await in_worker(warta, lambda session: warta.workflow.update_draft(
        session, context.me, warta.workflow.current_draft_id(session, context.me, warta.now()),
        warta.now(), section=name))
    await show_item(update, context, draft)


@answers_errors
async def on_date(update: Update, context: WartaContext) -> None:
    """/tanggal YYYY-MM-DD (or DD/MM/YYYY): the activity date of the current draft."""
    day = parse_day(" ".join(context.args or []))
    if day is None:
        await reply(update, t("usage.tanggal", context.lang))
        return
    warta = context.warta
    draft = await in_worker(warta, lambda session: warta.workflow.update_draft(
        session, context.me, warta.workflow.current_draft_id(session, context.me, warta.now()),
        warta.now(), activity_date=day))
    await show_item(update, context, draft)


def parse_day(text: str) -> date | None:
    for pattern in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y"):
        try:
            return datetime.strptime(text.strip(), pattern).date()
        except ValueError:
            continue
    return None


@answers_errors
async def on_submit(update: Update, context: WartaContext, item_id: int) -> None:
    warta = context.warta
    item = await in_worker(warta, lambda session: warta.workflow.submit(
        session, context.me, item_id, warta.now()))
    await _close_buttons(update, context, t("officer.submitted", context.lang, id=item.id))


@answers_errors
async def on_cancel(update: Update, context: WartaContext, item_id: int) -> None:
    warta = context.warta
    await in_worker(warta, lambda session: warta.workflow.cancel(
        session, context.me, item_id, warta.now()))
    await _close_buttons(update, context, t("officer.cancelled", context.lang, id=item_id))


@answers_errors
async def on_add_note(update: Update, context: WartaContext, item_id: int) -> None:
    warta = context.warta
    await in_worker(warta, lambda session: warta.workflow.ensure_allowed(
        session, context.me, item_id, Action.UPDATE_DRAFT))
    await answer_button(update)
    await ask(update, context, "note", item_id)


@answers_errors
async def on_pick_date(update: Update, context: WartaContext, item_id: int) -> None:
    """Offers the last few days as the activity date (most activities are just past) and
    the office's sections (bidang), as buttons."""
    await answer_button(update)
    today = context.warta.local(context.warta.now()).date()
    days = [today - timedelta(days=n) for n in range(4)]
    rows = [[InlineKeyboardButton(day_month(day, context.lang),
                                  callback_data=f"setdate:{item_id}:{day.isoformat()}")
             for day in days]]
    sections = await in_worker(context.warta, known_sections)
    rows += [[InlineKeyboardButton(name[:60], callback_data=f"setsec:{item_id}:{index}")]
             for index, name in enumerate(sections[:SECTION_BUTTONS])]
    await reply(update, t("officer.pick_date", context.lang, id=item_id),
                InlineKeyboardMarkup(rows))


@answers_errors
async def on_set_date(update: Update, context: WartaContext, item_id: int, day: str) -> None:
    warta, chosen = context.warta, date.fromisoformat(day)
    item = await in_worker(warta, lambda session: warta.workflow.update_draft(
        session, context.me, item_id, warta.now(), activity_date=chosen))
    await answer_button(update)
    await show_item(update, context, item)


@answers_errors
async def on_set_section(update: Update, context: WartaContext, item_id: int,
                         index: int) -> None:
    """A section button: the list is read again, so a changed list cannot pick another."""
    warta = context.warta
    sections = await in_worker(warta, known_sections)
    if not 0 <= index < min(len(sections), SECTION_BUTTONS):
        raise InvalidValue("no such section", field="section")
    item = await in_worker(warta, lambda session: warta.workflow.update_draft(
        session, context.me, item_id, warta.now(), section=sections[index]))
    await answer_button(update)
    await show_item(update, context, item)


@answers_errors
async def on_status(update: Update, context: WartaContext) -> None:
    """/status: the officer's items, their stage and how long they have waited there."""
    warta = context.warta
    lang = context.lang
    with warta.sessions() as session:
        items = items_of_officer(session, context.me)
        lines = []
        for item in items:
            waited = (warta.now() - stage_started_at(session, item)).total_seconds() / 60
            lines.append(t("status.line", lang, id=item.id,
                           title=item.title or item.description[:40] or "-",
                           state=Safe(state_label(item.status, lang)),
                           waited=Safe(duration(waited, lang))))
    await reply(update, fit_lines([t("status.header", lang), *lines], lang) if lines
                else t("status.empty", lang))


async def _close_buttons(update: Update, context: WartaContext, text: str) -> None:
    """Confirms a button press and takes the buttons off the message that carried them."""
    query = update.callback_query
    if query is None:
        await reply(update, text)
        return
    await answer_button(update, text)
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except TelegramError as error:  # the message may be too old to edit; the answer stands
        log.info("could not remove buttons: %s", error)
    await reply(update, text)
