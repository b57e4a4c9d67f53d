"""Questions the bot asks and waits for: a reason, a note, more description.

The question is sent with ForceReply and remembered in the database (`message_copies`),
so an answer that replies to it still finds its item after a restart; a plain next
message is also taken, from memory, for clients that do not reply.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from telegram import ForceReply, Update
from telegram.constants import ParseMode

from bot.base import (
    Handler,
    WartaContext,
    answer_button,
    answers_errors,
    in_worker,
    parse_id,
    remember,
    reply,
)
from bot.render import EARLIER_NAMES, refusal_text
from workflow.actions import Workflow
from workflow.catalogue.lookup import MESSAGES, t
from workflow.errors import MissingNote
from workflow.models import Item, MessageCopy, Person
from workflow.transitions import Action

Answer = Callable[[Update, WartaContext, int, str], Awaitable[None]]
ANSWERS: dict[str, Answer] = {}
AWAITING = "awaiting"
# A workflow step that takes a reason or note: Workflow.reject, .request_revision, ...
NotedStep = Callable[[Workflow, Session, Person, int, datetime, str], Item]


def answer_for(purpose: str) -> Callable[[Answer], Answer]:
    """Registers what to do with the answer to a question of `purpose`."""

    def register(function: Answer) -> Answer:
        ANSWERS[purpose] = function
        return function

    return register


def noted_step(action: Action, step: NotedStep, done_key: str) -> Answer:
    """The answer to `action`'s question: the step taken with it, then `done_key` said."""

    @answer_for(action)
    async def take(update: Update, context: WartaContext, item_id: int, note: str) -> None:
        warta = context.warta
        await in_worker(warta, lambda session: step(warta.workflow, session, context.me,
                                                    item_id, warta.now(), note))
        await reply(update, t(done_key, context.lang, id=item_id))

    return take


async def ask(update: Update, context: WartaContext, purpose: str, item_id: int,
              because: str = "") -> None:
    """Asks the question of `purpose` about the item (after `because`, in the same message:
    a reply must always be able to name its question)."""
    chat = update.effective_chat
    if chat is None:
        return
    text = t(f"ask.{purpose}", context.lang, id=item_id)
    question = await chat.send_message(
        f"{because}\n{text}" if because else text, parse_mode=ParseMode.HTML,
        reply_markup=ForceReply(selective=True, input_field_placeholder=t("ask.placeholder",
                                                                         context.lang)),
    )
    asked = MessageCopy(item_id=item_id, purpose=f"ask:{purpose}", chat_id=chat.id,
                        message_id=question.message_id, created_at=context.warta.now())
    await in_worker(context.warta, lambda session: remember(session, asked))
    if context.user_data is not None:
        context.user_data[AWAITING] = (purpose, item_id)


@answers_errors
async def ask_reason(update: Update, context: WartaContext, item_id: int,
                     action: Action) -> None:
    """Asks why, for an action the table says needs a reason: only once the action is
    still possible (nobody types why they reject an item a colleague just approved)."""
    warta = context.warta
    await in_worker(warta, lambda session: warta.workflow.ensure_allowed(
        session, context.me, item_id, action, warta.now()))
    await answer_button(update)
    await ask(update, context, action, item_id)


def _question_patterns() -> list[tuple[re.Pattern[str], str]]:
    patterns = []
    for lang in MESSAGES:
        for purpose in ANSWERS:
            text = MESSAGES[lang][f"ask.{purpose}"]
            pattern = re.escape(text).replace(re.escape("{id}"), r"(\d{1,10})")
            patterns.append((re.compile(pattern), purpose))
    return patterns


def question_in(text: str) -> tuple[str, int] | None:
    """(purpose, item id) of a question the bot asked, from the question's own words."""
    for pattern, purpose in _question_patterns():
        found = pattern.search(text)
        if found:
            return purpose, int(found.group(1))
    return None


def pending_question(update: Update, context: WartaContext) -> tuple[str, int] | None:
    """The question this text message answers, if any."""
    message = update.effective_message
    if message is None:
        return None
    replied = message.reply_to_message
    if replied is not None and update.effective_chat is not None:
        with context.warta.sessions() as session:
            copy = session.scalars(select(MessageCopy).where(
                MessageCopy.chat_id == update.effective_chat.id,
                MessageCopy.message_id == replied.message_id,
            )).first()
        if copy is not None and copy.purpose.startswith("ask:"):
            purpose = copy.purpose.removeprefix("ask:")
            return EARLIER_NAMES.get(purpose, purpose), copy.item_id
        # A reply names its question. One we have no record of (sent just before a crash
        # cut the recording short) is read from its own text, if the bot wrote it; it is
        # never taken for whatever was asked last.
        sender = replied.from_user
        if sender is not None and sender.id == context.bot.id:
            return question_in(replied.text or "")
        return None
    private = update.effective_chat is not None and update.effective_chat.type == "private"
    if private and context.user_data is not None and AWAITING in context.user_data:
        purpose, item_id = context.user_data[AWAITING]
        return EARLIER_NAMES.get(str(purpose), str(purpose)), int(item_id)
    return None


@answers_errors
async def on_answer(update: Update, context: WartaContext) -> None:
    """Takes a text message as the answer to the pending question."""
    question = pending_question(update, context)
    message = update.effective_message
    if question is None or message is None:
        return
    purpose, item_id = question
    if context.user_data is not None:
        context.user_data.pop(AWAITING, None)
    text = (message.text or "").strip()
    try:
        if not text or text == "-":
            raise MissingNote("empty answer")
        await ANSWERS[purpose](update, context, item_id, text)
    except MissingNote as missing:
        await ask(update, context, purpose, item_id,
                  refusal_text(missing, context.lang, context.warta.zone))


def has_question(update: Update, context: WartaContext) -> bool:
    return pending_question(update, context) is not None


def typed_or_asked(action: Action, usage: str) -> Handler:
    """`/command ID reason` taking `action` at once, or `/command ID` asking the reason
    first, as the item's button would."""

    @answers_errors
    async def command(update: Update, context: WartaContext) -> None:
        args = context.args or []
        item_id = parse_id(args[0]) if args else None
        if item_id is None:
            await reply(update, t(usage, context.lang))
            return
        reason = " ".join(args[1:]).strip()
        if reason:
            await ANSWERS[action](update, context, item_id, reason)
        else:
            await ask_reason(update, context, item_id, action)

    return command
