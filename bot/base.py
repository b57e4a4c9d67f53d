"""The pieces every handler uses: who is asking, in which language, and how to answer."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import httpx
from sqlalchemy.orm import Session
from telegram import InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import Application, CallbackContext, ExtBot

from bot.render import refusal_text
from workflow import outbox
from workflow.catalogue.lookup import plain
from workflow.context import Context
from workflow.errors import WorkflowError
from workflow.logs import bind
from workflow.models import MessageCopy, OutboxMessage, Person
from workflow.transaction import transaction

log = logging.getLogger("warta.bot")
Result = TypeVar("Result")

# The bot's database work runs in worker threads, never on the event loop: a transaction
# waiting for SQLite's write lock (held by the sweeper, the publisher or the web) or for
# PostgreSQL then stalls only the update in hand, not every chat and notification.
# SQLite gets one thread, so the bot's own transactions never wait for each other's locks
# in SQLite's millisecond sleeps; PostgreSQL a few, so that the handlers' and the
# notifier's round trips overlap (measured: 3 threads about 1.6x one, bench_flow).
SQLITE_THREADS = 1
SERVER_THREADS = 3
_THREADS: weakref.WeakKeyDictionary[Context, ThreadPoolExecutor] = weakref.WeakKeyDictionary()


def _threads(warta: Context) -> ThreadPoolExecutor:
    if warta not in _THREADS:
        embedded = warta.engine.dialect.name == "sqlite"
        _THREADS[warta] = ThreadPoolExecutor(
            max_workers=SQLITE_THREADS if embedded else SERVER_THREADS,
            thread_name_prefix="warta-db")
    return _THREADS[warta]


class Sender(Protocol):
    """Who sends the notifications the bot's own workflow calls queue (the notifier)."""

    def read_for(self, session: Session, rows: list[OutboxMessage]) -> object:
        """In the database thread, with the session that queued them: what they need."""

    def take(self, batch: object) -> None:
        """On the event loop: the rows (as read_for returned them) are this sender's."""


_SENDERS: weakref.WeakKeyDictionary[Context, Sender] = weakref.WeakKeyDictionary()


def send_queued_with(warta: Context, sender: Sender) -> None:
    """From now on the notifications queued in `in_worker` go straight to `sender`."""
    _SENDERS[warta] = sender


async def in_worker(warta: Context, work: Callable[[Session], Result]) -> Result:
    """Runs `work` with a session of its own in a database thread and returns its result
    (ORM objects come back detached, with what was loaded kept: expire_on_commit is off).

    The notifications it queues are handed to the sender with what the transaction already
    loaded (workflow.outbox.send_from_here): nobody leases or reads them back."""
    sender = _SENDERS.get(warta)
    handed: list[object] = []

    def run() -> Result:
        with warta.sessions() as session:
            if sender is None:
                return work(session)
            outbox.send_from_here(session)
            try:
                return work(session)
            finally:
                # Also when `work` failed after a commit: what committed is sent.
                rows = outbox.committed_here(session)
                if rows:
                    handed.append(sender.read_for(session, rows))

    try:
        return await on_database_thread(warta, run)
    finally:
        for batch in handed:
            assert sender is not None
            sender.take(batch)


async def on_database_thread(warta: Context, work: Callable[[], Result]) -> Result:
    """Runs `work` (which opens its own sessions) in one of the bot's database threads."""
    # The caller's context variables (log fields, the benchmark's step) go along.
    call = functools.partial(contextvars.copy_context().run, work)
    return await asyncio.get_running_loop().run_in_executor(_threads(warta), call)


def remember(session: Session, copy: MessageCopy) -> None:
    """Keeps a message the bot sent (a card, a question), so later steps find or edit it."""
    with transaction(session):
        session.add(copy)


class WartaContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """PTB's context plus the person behind the update (set by the access check)."""

    person: Person | None = None

    @property
    def warta(self) -> Context:
        context: Context = self.application.bot_data["warta"]
        return context

    @property
    def http(self) -> httpx.AsyncClient:
        """The shared client for file downloads (opened in post_init)."""
        client: httpx.AsyncClient = self.application.bot_data["http"]
        return client

    @property
    def me(self) -> Person:
        if self.person is None:  # the access check runs first and stops unknown users
            raise RuntimeError("no person on this update")
        return self.person

    @property
    def lang(self) -> str:
        if self.person is not None:
            return self.person.language
        return self.warta.settings.office.language

    def kick_notifier(self, *, look: bool | None = None) -> None:
        """Sends what the last workflow call queued, without waiting for the next tick
        (`look`: also what else is due in the outbox; see Notifier.kick)."""
        notifier = self.application.bot_data.get("notifier")
        if notifier is not None:
            notifier.kick(self.application, look=look)


WartaApp = Application[ExtBot[None], WartaContext, dict[Any, Any], dict[Any, Any],
                       dict[Any, Any], Any]
Handler = Callable[[Update, WartaContext], Coroutine[Any, Any, None]]
ItemHandler = Callable[[Update, WartaContext, int], Coroutine[Any, Any, None]]
Extra = ParamSpec("Extra")


async def reply(update: Update, text: str,
                markup: InlineKeyboardMarkup | None = None, **options: Any) -> Message | None:
    """Answers in the chat the update came from, in HTML with links not expanded."""
    chat = update.effective_chat
    if chat is None:
        return None
    return await chat.send_message(text, parse_mode=ParseMode.HTML, reply_markup=markup,
                                   disable_web_page_preview=True, **options)


async def answer_button(update: Update, text: str | None = None, *, alert: bool = False) -> None:
    """Answers the pressed button (if any): Telegram shows this text plain, so it is."""
    if update.callback_query is None:
        return
    try:
        await update.callback_query.answer(plain(text) if text else None, show_alert=alert)
    except BadRequest as error:
        # Already answered (the update is handled again after a restart) or too old: the
        # answer is only a courtesy, the work that follows must still be done.
        log.info("button answer not shown: %s", error)


def parse_id(text: str, maximum: int = 2**31 - 1) -> int | None:
    """A positive id typed or carried in button data: ASCII digits that fit the database
    (str.isdigit() would also take "²"), else None."""
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(maximum)):
        return None
    number = int(text)
    return number if 0 < number <= maximum else None


async def confirm(update: Update, text: str) -> None:
    """Tells the person it is done: on the button they pressed, and in the chat."""
    await answer_button(update, text)
    await reply(update, text)


def answers_errors(
    handler: Callable[Concatenate[Update, WartaContext, Extra], Awaitable[None]],
) -> Callable[Concatenate[Update, WartaContext, Extra], Coroutine[Any, Any, None]]:
    """A workflow refusal becomes a short answer in the person's language, nothing else."""

    @functools.wraps(handler)
    async def wrapper(update: Update, context: WartaContext, /, *args: Extra.args,
                      **kwargs: Extra.kwargs) -> None:
        fields: dict[str, object] = {"actor": context.person.id if context.person else "-"}
        if args and isinstance(args[0], int):
            fields["item"] = args[0]
        try:
            with bind(**fields):
                await handler(update, context, *args, **kwargs)
        except WorkflowError as error:
            text = refusal_text(error, context.lang, context.warta.zone)
            log.info("refused %s for %s: %s", handler.__name__,
                     context.person.id if context.person else "-", error)
            if update.callback_query is not None:
                await answer_button(update, text, alert=True)
            else:
                await reply(update, text)
        finally:
            context.kick_notifier()

    return wrapper
