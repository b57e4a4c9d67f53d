"""Durable intake of Telegram updates: stored before they are acknowledged, handled after.

python-telegram-bot's Updater acknowledges an update (asks getUpdates for the next offset)
as soon as it has put it in its in-memory queue, before any handler ran; a `kill -9` then
loses whatever waited in that queue. Here nothing is acknowledged before it is on disk:

- the `Poller` long-polls getUpdates itself, writes each batch to `inbound_updates` in one
  transaction and only then asks for the next batch (offset = last + 1, which is what
  acknowledges the batch to Telegram); in webhook mode the `WebhookServer` stores the
  update before answering 200 (Telegram re-delivers until it gets a 2xx);
- the `Processor` takes stored, unhandled rows in update_id order, hands each to
  `Application.process_update` and marks it handled afterwards. After a crash the rows
  left unhandled (including the one that was in hand) are handled on the next start.

So an update can be handled twice (crash between its effects and its `handled_at`), never
zero times; the handlers make the repeat harmless where a person would notice (media are
deduplicated by Telegram's file id, appended text by its message id).

Several processes on one PostgreSQL (webhook mode behind a load balancer) share the table:
each stored row carries its chat, and a process handles only the chats it holds in
`chat_claims` (claimed, and the claims it no longer needs given back, in the statement that
reads its rows). One holder per chat keeps each chat's updates in order and handled once;
a holder renews its claims while it runs, so a crashed one's chats pass to another process
after CLAIM_LEASE. On SQLite (one process by nature) nothing is claimed. The inbox's
database work runs in worker threads, never on the event loop.

`serve()` runs all of it around a PTB Application built with `updater(None)`; `warta run`
and the tests use the same function.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import logging
import os
import socket
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy import JSON as JsonColumn
from sqlalchemy import (
    BigInteger,
    Integer,
    bindparam,
    case,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker
from telegram import Bot, Update
from telegram.error import Conflict, InvalidToken, RetryAfter, TelegramError
from telegram.ext import Application
from telegram.warnings import PTBUserWarning

from bot.base import on_database_thread
from bot.patience import retry_after_seconds
from bot.unreadable import tell_about_unreadable, update_kind
from workflow.config import TelegramSettings, derived_secret
from workflow.context import Context
from workflow.models import ChatClaim, InboundUpdate, OutboxKind, OutboxMessage, UtcDateTime
from workflow.transaction import transaction

log = logging.getLogger("warta.inbox")

App = Application[Any, Any, Any, Any, Any, Any]
JSON = dict[str, Any]

POLL_TIMEOUT = 10.0  # seconds Telegram holds a long poll open (PTB's run_polling default)
READ_MARGIN = 5.0  # beyond the long poll, as PTB's get_updates allows
BATCH = 100  # getUpdates' maximum, and how many stored rows the processor reads at once
MAX_ATTEMPTS = 5  # an update whose handling was interrupted this often is given up (logged)
# Telegram keeps an unacknowledged update for 24 hours, so only that long can it come again.
RESENT_WITHIN = timedelta(hours=24)
# Handled rows are kept a while longer to recognise re-deliveries, and forgotten well before
# a week: after a week without updates Telegram restarts update ids at a random value, and
# an old stored id must then neither pass for a duplicate nor push the offset past new ids.
KEEP_HANDLED = timedelta(days=3)
PRUNE_EVERY = timedelta(hours=1)
STOP_TIMEOUT = 30.0  # on shutdown, how long the update in hand may take to finish
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
HEALTH_PATH = "/healthz"
HEALTH_TIMEOUT = 5.0
DEFAULT_WEBHOOK_PATH = "/telegram"
# One delivery at a time keeps Telegram's order; storing a row is quick enough that a
# single connection keeps up with an office's traffic.
WEBHOOK_MAX_CONNECTIONS = 1
# Several processes (PostgreSQL): a process holds a chat this long past its last renewal,
# renews every third of it, and claims at most this many chats at a time, so that the
# others find chats to take.
CLAIM_LEASE = timedelta(seconds=15)
CLAIM_CHATS = 4
# Another process may have stored rows for a chat this one gave back just before: an idle
# process looks again this often, waking or not.
CLAIM_RECHECK_SECONDS = 0.5


# --------------------------------------------------------------------------- storage


@dataclass(frozen=True)
class Pending:
    """A stored update still to be handled."""

    update_id: int
    payload: JSON
    attempts: int


@dataclass(frozen=True)
class Health:
    pending_updates: int
    pending_notifications: int
    # Approved items not on the website yet (all of them while `website.adapter` is "none").
    pending_publications: int


R = TypeVar("R")


class Offload(Protocol):
    """Runs blocking database work off the event loop and awaits its result."""

    def __call__(self, work: Callable[[], R], /) -> Awaitable[R]: ...


class Inbox:
    """The `inbound_updates` table: what came in from Telegram and what is still to handle.

    `claims` (PostgreSQL by default) makes `pending` claim chats for this process, named
    `holder`, so that several processes can share the table (see the module's docstring).
    """

    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime],
                 *, claims: bool | None = None, offload: Offload = asyncio.to_thread) -> None:
        self.sessions = sessions
        self.clock = clock
        # Where the async side runs these methods: serve() passes the bot's database
        # threads, so that on SQLite the intake and the handlers take turns on one thread
        # instead of waiting for each other's write lock.
        self.off_loop = offload
        if claims is None:
            bind = sessions.kw.get("bind")
            claims = bind is not None and bind.dialect.name == "postgresql"
        self.claims = claims
        self.holder = f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def store(self, payloads: Sequence[Mapping[str, Any]]) -> int:
        """Stores updates in one transaction; returns how many were new.

        An update_id already stored is left as it is: Telegram sends an update again until
        it is acknowledged, and the first copy may already be handled.
        """
        rows: dict[int, JSON] = {}
        for payload in payloads:
            rows.setdefault(int(payload["update_id"]), dict(payload))
        if not rows:
            return 0
        now = self.clock()
        values = [{"update_id": update_id, "chat_id": chat_of(payload), "payload": payload,
                   "received_at": now, "attempts": 0, "last_error": ""}
                  for update_id, payload in rows.items()]
        with self.sessions() as session, transaction(session):
            return _insert_ignoring_known(session, values)

    def next_offset(self) -> int | None:
        """The getUpdates offset that continues after what is stored. None (everything
        Telegram still holds; duplicates are ignored on insert) when nothing was stored
        within the time Telegram could still send it."""
        since = self.clock() - RESENT_WITHIN
        with self.sessions() as session:
            highest = session.scalar(select(func.max(InboundUpdate.update_id))
                                     .where(InboundUpdate.received_at >= since))
        return None if highest is None else int(highest) + 1

    def pending(self, limit: int = BATCH) -> list[Pending]:
        """The next unhandled rows to handle here, in update_id order: with claims, those
        of the chats this process holds once it has claimed (one statement, CLAIM_PENDING)."""
        with self.sessions() as session:
            if self.claims:
                now = self.clock()
                with transaction(session):
                    rows = session.execute(CLAIM_PENDING, {
                        "holder": self.holder, "now": now, "until": now + CLAIM_LEASE,
                        "chats": CLAIM_CHATS, "limit": limit}).all()
            else:
                rows = session.execute(
                    select(InboundUpdate.update_id, InboundUpdate.payload,
                           InboundUpdate.attempts)
                    .where(InboundUpdate.handled_at.is_(None))
                    .order_by(InboundUpdate.update_id).limit(limit)).all()
        return [Pending(int(row[0]), dict(row[1]), int(row[2])) for row in rows]

    def renew_claims(self) -> None:
        """Keeps this process's chats while it runs (a crashed process stops renewing)."""
        if not self.claims:
            return
        with self.sessions() as session, transaction(session):
            session.execute(update(ChatClaim).where(ChatClaim.holder == self.holder)
                            .values(until=self.clock() + CLAIM_LEASE))

    def forget_dead_neighbours(self) -> int:
        """At start: claims of a process on this machine that is gone (killed, crashed) are
        dropped at once instead of after CLAIM_LEASE, so a restart continues right away.
        Returns how many processes were forgotten."""
        if not self.claims:
            return 0
        host = self.holder.split(":", 1)[0]
        with self.sessions() as session, transaction(session):
            holders = session.scalars(select(ChatClaim.holder).distinct()).all()
            dead = [holder for holder in holders
                    if holder.split(":")[0] == host and not _alive(holder)]
            if dead:
                session.execute(delete(ChatClaim).where(ChatClaim.holder.in_(dead)))
        return len(dead)

    def give_back_claims(self) -> None:
        """On shutdown: another process may take this one's chats at once."""
        if not self.claims:
            return
        with self.sessions() as session, transaction(session):
            session.execute(delete(ChatClaim).where(ChatClaim.holder == self.holder))

    def any_pending(self) -> bool:
        """Whether any process still has a stored update to handle."""
        with self.sessions() as session:
            return session.scalar(select(InboundUpdate.update_id)
                                  .where(InboundUpdate.handled_at.is_(None)).limit(1)) is not None

    def start_attempt(self, row: Pending) -> int:
        """Counts an attempt before handling, so an update that crashes us every time is
        eventually given up instead of stopping everything behind it."""
        with self.sessions() as session, transaction(session):
            counted = session.execute(
                update(InboundUpdate).where(InboundUpdate.update_id == row.update_id)
                .values(attempts=InboundUpdate.attempts + 1)
                .returning(InboundUpdate.attempts)).scalar()
        return int(counted or row.attempts + 1)

    def finish(self, update_id: int, error: str = "", *, then: Pending | None = None) -> int:
        """Marks an update handled; with `then`, also counts the attempt on the next one,
        in the same statement (one round trip per update). Returns that count."""
        if then is None:
            with self.sessions() as session, transaction(session):
                session.execute(update(InboundUpdate)
                                .where(InboundUpdate.update_id == update_id)
                                .values(handled_at=self.clock(), last_error=error[:2000]))
            return 0
        done = InboundUpdate.update_id == update_id
        following = InboundUpdate.update_id == then.update_id
        with self.sessions() as session, transaction(session):
            counted = session.execute(
                update(InboundUpdate)
                .where(InboundUpdate.update_id.in_([update_id, then.update_id]))
                .values(handled_at=case((done, self.clock()), else_=InboundUpdate.handled_at),
                        last_error=case((done, error[:2000]), else_=InboundUpdate.last_error),
                        attempts=case((following, InboundUpdate.attempts + 1),
                                      else_=InboundUpdate.attempts))
                .returning(InboundUpdate.update_id, InboundUpdate.attempts)).all()
        return next((int(attempts) for found, attempts in counted
                     if found == then.update_id), then.attempts + 1)

    def prune(self) -> int:
        """Forgets handled rows older than KEEP_HANDLED (Telegram keeps updates 24 hours)."""
        cutoff = self.clock() - KEEP_HANDLED
        with self.sessions() as session, transaction(session):
            result = session.execute(delete(InboundUpdate).where(
                InboundUpdate.handled_at.is_not(None), InboundUpdate.handled_at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)

    def health(self) -> Health:
        with self.sessions() as session:
            updates = session.scalar(select(func.count()).select_from(InboundUpdate)
                                     .where(InboundUpdate.handled_at.is_(None)))
            outbox = {kind: count for kind, count in session.execute(
                select(OutboxMessage.kind, func.count()).where(OutboxMessage.done_at.is_(None))
                .group_by(OutboxMessage.kind))}
        return Health(int(updates or 0), int(outbox.get(OutboxKind.NOTIFY, 0)),
                      int(outbox.get(OutboxKind.PUBLISH, 0)))


# PostgreSQL, in one statement: take the chats of the oldest unhandled rows that no other
# live process holds (up to :chats), keep those this process already holds, give back its
# other claims, and read the claimed chats' rows. Data-modifying CTEs all run, and a
# claim that another process made meanwhile is not taken over (ON CONFLICT ... WHERE).
CLAIM_PENDING = text("""
WITH wanted AS (
    SELECT chat_id FROM inbound_updates
    WHERE handled_at IS NULL AND chat_id NOT IN (
        SELECT chat_id FROM chat_claims WHERE holder <> :holder AND until > :now)
    GROUP BY chat_id ORDER BY min(update_id) LIMIT :chats),
given_back AS (
    DELETE FROM chat_claims
    WHERE holder = :holder AND chat_id NOT IN (SELECT chat_id FROM wanted)),
claimed AS (
    INSERT INTO chat_claims (chat_id, holder, until)
    SELECT chat_id, :holder, :until FROM wanted
    ON CONFLICT (chat_id) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until
    WHERE chat_claims.holder = EXCLUDED.holder OR chat_claims.until <= :now
    RETURNING chat_id)
SELECT update_id, payload, attempts FROM inbound_updates
WHERE handled_at IS NULL AND chat_id IN (SELECT chat_id FROM claimed)
ORDER BY update_id LIMIT :limit
""").bindparams(bindparam("now", type_=UtcDateTime()), bindparam("until", type_=UtcDateTime())
                ).columns(update_id=BigInteger(), payload=JsonColumn(), attempts=Integer())


def _alive(holder: str) -> bool:
    """Whether the process named in `holder` (host:pid:nonce) still runs on this machine."""
    try:
        pid = int(holder.split(":")[1])
    except (IndexError, ValueError):
        return True  # not a name this code wrote: leave it to the lease
    if pid == os.getpid():
        return True  # another service in this process (tests): leave it to the lease
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def chat_of(payload: Mapping[str, Any]) -> int:
    """The chat an update belongs to (0 when none): a message's chat, a pressed button's
    message's chat, else the sender's private chat (inline queries and the like)."""
    for key, value in payload.items():
        if key == "update_id" or not isinstance(value, dict):
            continue
        for holder in (value, value.get("message")):
            chat = holder.get("chat") if isinstance(holder, dict) else None
            if isinstance(chat, dict) and isinstance(chat.get("id"), int):
                return int(chat["id"])
        sender = value.get("from") or value.get("user")
        if isinstance(sender, dict) and isinstance(sender.get("id"), int):
            return int(sender["id"])
    return 0


def _insert_ignoring_known(session: Session, values: list[JSON]) -> int:
    """INSERT ... ON CONFLICT DO NOTHING on the update_id primary key."""
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        builder = sqlite.insert if dialect == "sqlite" else postgresql.insert
        statement = builder(InboundUpdate).values(values).on_conflict_do_nothing(
            index_elements=[InboundUpdate.update_id]).returning(InboundUpdate.update_id)
        # RETURNING lists the rows inserted; rowcount is -1 on PostgreSQL here.
        return len(session.execute(statement).all())
    # Other databases: the write transaction makes check-then-insert safe for one writer.
    known = set(session.scalars(select(InboundUpdate.update_id).where(
        InboundUpdate.update_id.in_([value["update_id"] for value in values]))))
    fresh = [value for value in values if value["update_id"] not in known]
    if fresh:
        session.execute(insert(InboundUpdate), fresh)
    return len(fresh)


# --------------------------------------------------------------------------- handling


class Processor:
    """Hands stored updates to the application one at a time, in update_id order.

    Strictly sequential, like PTB without concurrent_updates: a chat's updates are handled
    in the order they were sent, and a shutdown has at most one update in hand. Handlers
    must be blocking (PTB's default) for handled_at to mean "handled": a `block=False`
    handler would still be running when its update is marked.
    """

    def __init__(self, application: App, inbox: Inbox) -> None:
        self.application = application
        self.inbox = inbox
        self.arrived = asyncio.Event()
        self.idle = asyncio.Event()
        self._pruned_at: datetime | None = None

    def wake(self) -> None:
        """Called after new rows were stored."""
        self.arrived.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Handles stored rows until `stop` is set; the update in hand is finished first."""
        backoff = Backoff()
        # With claims, rows another process stored wake nobody here: look again now and then.
        recheck = CLAIM_RECHECK_SECONDS if self.inbox.claims else None
        renewing = (asyncio.create_task(self._renew_claims(stop), name="warta-inbox-claims")
                    if self.inbox.claims else None)
        try:
            while not stop.is_set():
                self.arrived.clear()  # before reading, so rows stored meanwhile wake us again
                try:
                    await self._prune_now_and_then()
                    rows = await self.inbox.off_loop(self.inbox.pending)
                    if not rows:
                        self.idle.set()
                        await _wait_any(self.arrived, stop, seconds=recheck)
                        continue
                    self.idle.clear()
                    await self._handle_in_order(rows, stop)
                    backoff.reset()
                except Exception as error:  # the database is away: keep the rows, try later
                    delay = backoff.next()
                    log.error("inbox: handling paused for %.1f s: %s", delay, error)
                    await _wait_any(stop, seconds=delay)
        finally:
            if renewing is not None:
                renewing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renewing
                await self._give_back_claims()

    async def _renew_claims(self, stop: asyncio.Event) -> None:
        """Renews this process's chats while it runs, whatever the update in hand does."""
        every = CLAIM_LEASE.total_seconds() / 3
        while not stop.is_set():
            await _wait_any(stop, seconds=every)
            try:
                await self.inbox.off_loop(self.inbox.renew_claims)
            except Exception as error:  # the next round's claim renews them too
                log.warning("inbox: could not renew this process's chats: %s", error)

    async def _give_back_claims(self) -> None:
        try:
            await self.inbox.off_loop(self.inbox.give_back_claims)
        except Exception as error:  # they pass to another process after CLAIM_LEASE
            log.warning("inbox: could not give back this process's chats: %s", error)

    async def _handle_in_order(self, rows: Sequence[Pending], stop: asyncio.Event) -> None:
        """Each row's attempt is on disk before it is handled and its handled_at right after;
        finishing one and starting the next share a statement."""
        attempt = await self.inbox.off_loop(functools.partial(self.inbox.start_attempt, rows[0]))
        for index, row in enumerate(rows):
            error = await self.handle(row, attempt)
            following = rows[index + 1] if index + 1 < len(rows) else None
            if stop.is_set():
                following = None
            attempt = await self.inbox.off_loop(functools.partial(
                self.inbox.finish, row.update_id, error, then=following))
            if following is None:
                return

    async def handle(self, row: Pending, attempt: int) -> str:
        """Hands one update to the application; returns the error to record, if any."""
        if attempt > MAX_ATTEMPTS:
            log.error("inbox: update %s given up after %d interrupted attempts",
                      row.update_id, attempt - 1)
            return f"given up after {attempt - 1} interrupted attempts"
        if attempt > 1:
            log.warning("inbox: update %s handled again (attempt %d): the last run was "
                        "interrupted while handling it", row.update_id, attempt)
        try:
            update = Update.de_json(row.payload, self.application.bot)
        except Exception as failure:
            # Retrying would fail the same way: the row is closed with the reason, the
            # sender is told, the webmaster alerted.
            error = f"unreadable: {type(failure).__name__}: {failure}"
            log.error("inbox: update %s (%s) cannot be read: %s", row.update_id,
                      update_kind(row.payload), error)
            try:
                await tell_about_unreadable(self.application, row.payload)
            except Exception as trouble:  # the database is away: the row is closed anyway
                log.error("inbox: nobody told about update %s: %s", row.update_id, trouble)
            return error
        try:
            # Handler errors never get here: PTB passes them to the error handler, which
            # tells the person. What does is a bug in PTB; retrying would fail the same way.
            await self.application.process_update(update)
        except Exception as failure:
            error = f"{type(failure).__name__}: {failure}"
            log.error("inbox: update %s could not be handled: %s", row.update_id, error)
            return error
        log.debug("inbox: update %s handled", row.update_id)
        return ""

    async def _prune_now_and_then(self) -> None:
        if self._pruned_at is None or self.inbox.clock() - self._pruned_at >= PRUNE_EVERY:
            await self.prune_now()

    async def prune_now(self) -> None:
        self._pruned_at = self.inbox.clock()
        removed = await self.inbox.off_loop(self.inbox.prune)
        if removed:
            log.info("inbox: forgot %d handled updates older than %s", removed, KEEP_HANDLED)


# --------------------------------------------------------------------------- long polling


class Poller:
    """getUpdates in a loop: store the batch, then acknowledge it with the next offset."""

    def __init__(self, bot: Bot, inbox: Inbox, on_stored: Callable[[], None],
                 timeout: float = POLL_TIMEOUT) -> None:
        self.bot = bot
        self.inbox = inbox
        self.on_stored = on_stored
        self.timeout = timeout
        self.offset: int | None = None
        self.backoff = Backoff()

    async def run(self) -> None:
        """Polls until cancelled. Cancelling loses nothing: an update not yet stored was
        not acknowledged either, and Telegram sends it again."""
        await self._delete_webhook()
        self.offset = await self.inbox.off_loop(self.inbox.next_offset)
        log.info("inbox: long polling from offset %s", self.offset)
        while True:
            updates = await self._fetch()
            if updates and await self._store(updates):
                # Asking with this offset next is what acknowledges the stored batch.
                self.offset = max(int(update["update_id"]) for update in updates) + 1
                self.on_stored()

    async def _delete_webhook(self) -> None:
        """A webhook left from webhook mode would make every getUpdates a Conflict."""
        try:
            await self.bot.delete_webhook()
        except TelegramError as error:
            log.warning("inbox: could not delete the webhook: %s", self._safe(error))

    async def _fetch(self) -> list[JSON]:
        """The next batch as Telegram sent it: not parsed here, so one update that
        python-telegram-bot cannot read (an older Bot API server's poll, say) is stored and
        acknowledged with the rest instead of blocking every batch behind it."""
        try:
            with warnings.catch_warnings():
                # PTB suggests get_updates, which parses the whole batch or raises.
                warnings.filterwarnings("ignore", message=".*Bot.getUpdates",
                                        category=PTBUserWarning)
                answer = await self.bot.do_api_request(
                    "getUpdates",
                    api_kwargs={"offset": self.offset, "limit": BATCH,
                                "timeout": int(self.timeout), "allowed_updates": Update.ALL_TYPES},
                    read_timeout=self.timeout + READ_MARGIN)
            updates = [entry for entry in answer if isinstance(entry, dict)
                       and isinstance(entry.get("update_id"), int)]
        except RetryAfter as error:
            delay = retry_after_seconds(error)
            log.warning("inbox: getUpdates flood control, waiting %.0f s", delay)
        except Conflict as error:
            delay = self.backoff.next()
            log.error("inbox: getUpdates conflict: another instance is polling this bot or a "
                      "webhook is set (%s); retrying in %.1f s", self._safe(error), delay)
        except InvalidToken as error:
            delay = self.backoff.next()
            log.error("inbox: the Bot API refused the token (%s); retrying in %.1f s",
                      self._safe(error), delay)
        except TelegramError as error:  # network trouble, timeouts, 5xx from Telegram
            delay = self.backoff.next()
            log.warning("inbox: getUpdates failed (%s: %s); retrying in %.1f s",
                        type(error).__name__, self._safe(error), delay)
        except Exception as error:
            # Not a list of updates at all: not acknowledged, so Telegram sends it again;
            # keep asking (and logging) rather than stop listening.
            delay = self.backoff.next()
            log.error("inbox: getUpdates answer unusable (%s: %s); retrying in %.1f s",
                      type(error).__name__, self._safe(error), delay)
        else:
            self.backoff.reset()
            return updates
        await asyncio.sleep(delay)
        return []

    async def _store(self, payloads: Sequence[JSON]) -> bool:
        try:
            fresh = await self.inbox.off_loop(functools.partial(self.inbox.store, payloads))
        except Exception as error:  # not stored, so not acknowledged: Telegram resends
            delay = self.backoff.next()
            log.error("inbox: could not store %d updates (%s); not acknowledged, retrying in "
                      "%.1f s", len(payloads), error, delay)
            await asyncio.sleep(delay)
            return False
        log.debug("inbox: stored %d of %d updates", fresh, len(payloads))
        return True

    def _safe(self, error: BaseException) -> str:
        """The error's text without the token, whatever the HTTP layer put in it."""
        return str(error).replace(self.bot.token, "<token>")


# --------------------------------------------------------------------------- webhook


@dataclass(frozen=True)
class WebhookOptions:
    """Where the webhook server listens and what it tells Telegram.

    `url` empty means the server's own address (tests on loopback); `port` 0 picks one.
    """

    url: str = ""
    listen: str = "127.0.0.1"
    port: int = 0
    secret: str = ""
    path: str = DEFAULT_WEBHOOK_PATH


def webhook_options(telegram: TelegramSettings) -> WebhookOptions | None:
    """Webhook mode when `webhook_url` is set; None means long polling."""
    if not telegram.webhook_url:
        return None
    path = urlsplit(telegram.webhook_url).path
    return WebhookOptions(
        url=telegram.webhook_url, listen=telegram.webhook_listen, port=telegram.webhook_port,
        secret=telegram.webhook_secret or derived_secret(telegram.token),
        path=path if path not in ("", "/") else DEFAULT_WEBHOOK_PATH)


class WebhookServer:
    """POST updates (stored, then 200) and GET /healthz, on one aiohttp server."""

    def __init__(self, options: WebhookOptions, inbox: Inbox,
                 on_stored: Callable[[], None]) -> None:
        if not options.secret:
            raise ValueError("a webhook needs a secret token")
        self.options = options
        self.inbox = inbox
        self.on_stored = on_stored
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        """Starts listening; returns the server's own base URL."""
        app = web.Application()
        app.add_routes([web.post(self.options.path, self.on_update),
                        web.get(HEALTH_PATH, self.on_health)])
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.options.listen, self.options.port))
        host, port = sock.getsockname()[:2]
        # No access log: a webhook URL sometimes carries secrets in its path.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://{host}:{port}"
        log.info("inbox: webhook server listening on %s:%s", host, port)
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def on_update(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.options.secret.encode()):
            log.warning("inbox: webhook call from %s with a wrong secret token refused",
                        request.remote)
            return web.Response(status=403)
        try:
            payload = await request.json()
        except (ValueError, UnicodeDecodeError):
            payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("update_id"), int):
            return web.Response(status=400, text="not a Telegram update")
        try:
            await self.inbox.off_loop(functools.partial(self.inbox.store, [payload]))
        except Exception as error:  # no 200, so Telegram delivers it again later
            log.error("inbox: could not store update %s: %s", payload["update_id"], error)
            return web.Response(status=500)
        self.on_stored()
        return web.Response(status=200)

    async def on_health(self, _request: web.Request) -> web.Response:
        try:
            # Bounded: an unreachable PostgreSQL can take minutes to fail a connection.
            health = await asyncio.wait_for(self.inbox.off_loop(self.inbox.health),
                                            HEALTH_TIMEOUT)
        except Exception as error:
            log.warning("inbox: health check: database unreachable: %s",
                        error or type(error).__name__)
            return web.json_response({"status": "unavailable", "database": "unreachable"},
                                     status=503)
        return web.json_response({"status": "ok", "database": "reachable",
                                  "pending_updates": health.pending_updates,
                                  "pending_notifications": health.pending_notifications,
                                  "pending_publications": health.pending_publications})


# --------------------------------------------------------------------------- running


@dataclass
class Service:
    """What `serve()` runs, for the caller to look at."""

    application: App
    inbox: Inbox
    processor: Processor
    poller: Poller | None = None
    webhook: WebhookServer | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def drained(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109 - test helper
        """Waits until every stored update is handled (for tests and benchmarks)."""
        async with asyncio.timeout(timeout):
            while True:
                if self.processor.idle.is_set() and not await self.inbox.off_loop(
                        self.inbox.any_pending):
                    return
                await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def serve(application: App, warta: Context, *, webhook: WebhookOptions | None = None,
                poll_timeout: float = POLL_TIMEOUT,
                stop_timeout: float = STOP_TIMEOUT) -> AsyncIterator[Service]:
    """Runs `application` (built with `updater(None)`) with the durable inbox.

    Same order as PTB's run_polling: initialize, post_init, start ... stop, post_stop,
    shutdown, post_shutdown. Leftover rows from a crash are handled first (they have the
    lowest update ids), then polling or the webhook server starts.
    """
    if application.updater is not None:
        raise ValueError("build the application with ApplicationBuilder().updater(None)")
    inbox = Inbox(warta.sessions, warta.now,
                  offload=lambda work: on_database_thread(warta, work))
    await application.initialize()
    try:
        if application.post_init is not None:
            await application.post_init(application)
        await application.start()
        try:
            async with _running_inbox(application, inbox, webhook, poll_timeout,
                                      stop_timeout) as service:
                yield service
        finally:
            await application.stop()
            if application.post_stop is not None:
                await application.post_stop(application)
    finally:
        await application.shutdown()
        if application.post_shutdown is not None:
            await application.post_shutdown(application)


@contextlib.asynccontextmanager
async def _running_inbox(application: App, inbox: Inbox, webhook: WebhookOptions | None,
                         poll_timeout: float, stop_timeout: float) -> AsyncIterator[Service]:
    processor = Processor(application, inbox)
    service = Service(application, inbox, processor)
    await processor.prune_now()  # before the poller reads its offset from what is stored
    if await inbox.off_loop(inbox.forget_dead_neighbours):
        log.info("inbox: chats held by a stopped process on this machine are taken over")
    if await inbox.off_loop(inbox.any_pending):
        log.info("inbox: updates stored and not handled yet are handled first")
    stop = asyncio.Event()
    processing = asyncio.create_task(processor.run(stop), name="warta-inbox-processor")
    try:
        if webhook is None:
            service.poller = Poller(application.bot, inbox, processor.wake, poll_timeout)
            service.tasks.append(asyncio.create_task(service.poller.run(),
                                                     name="warta-inbox-poller"))
        else:
            service.webhook = await _start_webhook(application.bot, inbox, processor, webhook)
        yield service
    finally:
        await _stop_intake(service)
        stop.set()
        await _finish_processing(processing, stop_timeout)


async def _start_webhook(bot: Bot, inbox: Inbox, processor: Processor,
                         options: WebhookOptions) -> WebhookServer:
    server = WebhookServer(options, inbox, processor.wake)
    own_url = await server.start()
    try:
        await bot.set_webhook(url=options.url or own_url + options.path,
                              secret_token=options.secret, allowed_updates=Update.ALL_TYPES,
                              max_connections=WEBHOOK_MAX_CONNECTIONS)
    except BaseException:
        await server.stop()
        raise
    log.info("inbox: webhook registered with Telegram")
    return server


async def _stop_intake(service: Service) -> None:
    """No new updates: stop polling (an unacknowledged batch is resent) or stop answering
    webhook calls (Telegram retries them later)."""
    for task in service.tasks:
        task.cancel()
    for task in service.tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if service.webhook is not None:
        await service.webhook.stop()


async def _finish_processing(processing: asyncio.Task[None], stop_timeout: float) -> None:
    """Lets the update in hand finish; past `stop_timeout` it is cut short and stays
    unhandled in the table, to be handled again on the next start."""
    done, _ = await asyncio.wait({processing}, timeout=stop_timeout)
    if not done:
        log.warning("inbox: the update in hand did not finish within %.1f s; it will be "
                    "handled again on the next start", stop_timeout)
        processing.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await processing


# --------------------------------------------------------------------------- helpers


@dataclass
class Backoff:
    """Exponential delays between retries: first, 2 x first, ... up to limit."""

    first: float = 0.5
    limit: float = 30.0
    current: float = 0.0

    def next(self) -> float:
        self.current = min(self.limit, self.current * 2 or self.first)
        return self.current

    def reset(self) -> None:
        self.current = 0.0


async def _wait_any(*events: asyncio.Event, seconds: float | None = None) -> None:
    """Returns when one of `events` is set or `seconds` passed."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
