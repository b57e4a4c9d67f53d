"""Sends what the workflow queued in the notification outbox, after its commit.

A row is leased, sent, then marked done; Telegram's flood control (RetryAfter) and network
trouble put it back for later; a person who blocked the bot is given up on, on the record.

The database is read and written in the bot's database thread (bot.base.in_worker), a batch
at a time: one call finishes the rows the last batch sent, leases the next batch and reads
everything its messages need (items, people, audit rows, card copies) in a few statements;
the sends then run on the event loop without touching the database. A crash after a send
and before that next call sends the batch's delivered rows again when their lease ends
(at least once, as before, with a window of one batch).
What the bot's own handlers queue skips the lease and the read: the transaction inserts
its rows leased to this notifier and hands them over with what it loaded (Notifier.take,
via bot.base.in_worker); they are sent first, without a look at the outbox, and a crash
before they go out leaves them to whoever looks once the lease has run out.
Cards (the IT team's claim card, each official's decision card) are remembered in
`message_copies`, so when the item moves every copy is edited and no stale button remains.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.util import identity_key
from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application

from bot.base import in_worker, log
from bot.editor import send_album, send_card
from bot.patience import retry_after_seconds
from bot.render import (
    acting_name,
    card_checks,
    clip,
    duration,
    fit_lines,
    item_card,
    join_card,
    join_facts,
    join_keyboard,
    keyboard,
    mini_app_url,
    state_label,
    when,
)
from workflow import outbox
from workflow.audience import STAND_INS, active_people_with
from workflow.catalogue.lookup import Safe, t
from workflow.config import TelegramSettings
from workflow.context import Context
from workflow.invitations import request_notice_key
from workflow.models import (
    WITH_ROLES,
    AuditEvent,
    Item,
    JoinRequest,
    MessageCopy,
    OutboxKind,
    OutboxMessage,
    Person,
    Role,
)
from workflow.transaction import transaction
from workflow.transitions import Action

# Cards edited when their item moves or is edited (on the web too); an editing panel (in its
# editor's private chat) gets the buttons its owner may press now, so a released or
# reassigned panel goes quiet.
CARD_PURPOSES = ("claim", "decision", "editing")
PERSONAL_CARDS = ("editing",)
# Notices that arrive as the item's card (with its album), and which card.
CARD_NOTICES = {Action.SUBMIT.notice_template: "claim",
                Action.FORWARD.notice_template: "decision"}
# A notice names the item and quotes the reason; long ones are clipped so that even a
# title and reason made of emoji (two UTF-16 units each) stay under Telegram's 4096.
NOTICE_TITLE = 120
NOTICE_NOTE = 1200
# A send Telegram answers late has usually arrived: waiting longer before calling it lost
# (python-telegram-bot's default is 5 s) keeps a slow answer from becoming a second copy.
PATIENT: dict[str, Any] = {"read_timeout": 30.0}
# Payload keys that say where and how a "chat" row goes, not what it says.
ADDRESSING = frozenset({"chat_id", "language"})
JOIN_REQUEST = "join.request"  # the admins' card with the approve / refuse buttons
JOIN_DECIDED = "join.decided"  # delivered by editing every admin's card of the request
BATCH = 50
Result = TypeVar("Result")
KEEP_CARDS = 500  # cards sent lately, remembered for the batches read while they went out


@dataclass
class Known:
    """What a batch's messages need from the database, read with the batch (see `known`):
    its rows' items, people, audit rows, join requests and the copies of their cards."""

    items: dict[int, Item] = field(default_factory=dict)
    people: dict[int, Person] = field(default_factory=dict)
    by_chat: dict[int, Person] = field(default_factory=dict)  # a person's private chat
    events: dict[int, AuditEvent] = field(default_factory=dict)
    requests: dict[int, JoinRequest] = field(default_factory=dict)
    asked: dict[int, OutboxMessage] = field(default_factory=dict)  # a request's admin cards
    copies: dict[int, list[MessageCopy]] = field(default_factory=dict)  # an item's cards
    holders: dict[Role, list[Person]] = field(default_factory=dict)  # active, by role

    def language(self, chat_id: int, office: str) -> str:
        """The language of the person whose private chat this is, else the office's."""
        person = self.by_chat.get(chat_id)
        return person.language if person else office


@dataclass
class Batch:
    rows: list[OutboxMessage]
    known: Known
    # Handed over by the transaction that queued it: the cards this notifier had sent up to
    # this point were saved when it read its card copies (later ones are added, see take).
    cards_saved: int | None = None


@dataclass
class Delivered:
    """Rows sent since the last batch was leased, to be marked done with the next call."""

    row_ids: list[int] = field(default_factory=list)
    made: list[MessageCopy] = field(default_factory=list)  # their cards' message copies


def known(session: Session, rows: Sequence[OutboxMessage], telegram: TelegramSettings) -> Known:
    """Reads what `rows`' messages need, a statement per kind of record for the whole batch.
    People first (with their roles), so the items' officers and editors are the same
    objects with their roles loaded."""
    found = Known()
    payloads = [row.payload for row in rows]
    request_ids = {int(p["request_id"]) for p in payloads if "request_id" in p}
    if request_ids:
        found.requests = {r.id: r for r in session.scalars(
            select(JoinRequest).where(JoinRequest.id.in_(request_ids))
            .options(selectinload(JoinRequest.invitation), selectinload(JoinRequest.decided_by)))}
        found.asked = {int(a.idempotency_key.rsplit("-", 1)[1]): a for a in session.scalars(
            select(OutboxMessage).where(OutboxMessage.idempotency_key.in_(
                [request_notice_key(request_id) for request_id in request_ids])))}
    card_items = {row.item_id for row in rows if row.target == "cards" and row.item_id}
    for copy in session.scalars(select(MessageCopy).where(
            MessageCopy.item_id.in_(card_items), MessageCopy.purpose.in_(CARD_PURPOSES))
            .order_by(MessageCopy.id)) if card_items else ():
        found.copies.setdefault(copy.item_id, []).append(copy)
    chats = {copy.chat_id for copies in found.copies.values() for copy in copies}
    chats |= {int(chat) for asked in found.asked.values()
              for chat, _ in asked.payload.get("cards", [])}
    person_ids = {row.recipient_id for row in rows if row.target == "person" and row.recipient_id}
    if person_ids or chats:
        for person in session.scalars(select(Person).options(WITH_ROLES).where(
                or_(Person.id.in_(person_ids), Person.telegram_id.in_(chats)))).unique():
            found.people[person.id] = person
            found.by_chat[person.telegram_id] = person
    for role in {_role_of(row.target, telegram) for row in rows} - {None}:
        assert role is not None
        found.holders[role] = active_people_with(session, role)
    event_ids = {int(p["event_id"]) for p in payloads if p.get("event_id")}
    if event_ids:
        found.events = {e.id: e for e in session.scalars(
            select(AuditEvent).where(AuditEvent.id.in_(event_ids)))}
    item_ids = {row.item_id for row in rows if row.item_id}
    found.items = _held(session, Item, item_ids, ITEM_DRAWN_FROM)
    if item_ids - found.items.keys():
        found.items |= {i.id: i for i in session.scalars(
            select(Item).where(Item.id.in_(item_ids - found.items.keys())))}
    return found


# What cards and notices draw from an item: its columns, its people, media and decisions.
ITEM_DRAWN_FROM = frozenset(
    {column.key for column in sa_inspect(Item).column_attrs}
    | {"officer", "editor", "decided_by", "media", "decisions"})


def _held(session: Session, model: type[Item], ids: set[int],
          needed: frozenset[str]) -> dict[int, Item]:
    """Those of `ids` the session holds with `needed` loaded: the rows were handed over by
    the transaction that queued them (bot.base.in_worker), which left them as committed."""
    held = {}
    for key in ids:
        found = session.identity_map.get(identity_key(model, key))
        if isinstance(found, model) and not needed & sa_inspect(found).unloaded:
            held[key] = found
    return held


def _role_of(target: str, telegram: TelegramSettings) -> Role | None:
    """The role whose active holders a row of `target` goes to, if it goes to a role: the
    admins, or a shared chat's stand-ins when its chat id is not configured."""
    if target == "admins":
        return Role.ADMIN
    if target in ("person", "chat", "cards"):
        return None
    chats = {"it_team": telegram.it_team_chat_id, "alert": telegram.alert_chat_id}
    return None if chats.get(target, 0) else STAND_INS.get(target, Role.ADMIN)


class Notifier:
    def __init__(self, warta: Context, rng: random.Random | None = None) -> None:
        self.warta = warta
        self.lock = asyncio.Lock()
        self.rng = rng or random.Random()
        self.wanted = False  # rows may have been queued since the running flush looked
        self.scheduled = False  # a flush task is created and has not started yet
        # Rows the bot's own workflow calls queued, leased to us and read with their
        # transaction (bot.base.in_worker): sent first, without a look at the outbox.
        self.handed: collections.deque[Batch] = collections.deque()
        self.look = False  # a kick that handed nothing: something else may have queued
        self.taken = False  # a batch was handed over since the last kick
        # The cards sent lately, numbered, with whom they went to; those up to
        # `cards_saved` are in message_copies.
        self.cards: list[tuple[int, MessageCopy, Person | None]] = []
        self.cards_sent = 0
        self.cards_saved = 0

    def read_for(self, session: Session, rows: list[OutboxMessage]) -> Batch:
        saved = self.cards_saved  # before the read: what it is sure to find
        return Batch(rows, known(session, rows, self.warta.settings.telegram), saved)

    def take(self, batch: object) -> None:
        assert isinstance(batch, Batch)
        self.handed.append(batch)
        self.taken = True

    def kick(self, application: Application[Any, Any, Any, Any, Any, Any],
             *, look: bool | None = None) -> None:
        """Asks for a flush without waiting for it: after a workflow call, and on each tick.
        While one runs (or is about to) it is told to look again, instead of a second
        one queueing behind it for every update. It looks at the outbox when `look` says
        so, by default when nothing was handed to it since the last kick: the handler's
        rows were, and what others queue (the sweeper, the publisher) is found on the next
        tick."""
        self.wanted = True
        self.look = self.look or (not self.taken if look is None else look)
        self.taken = False
        if not (self.lock.locked() or self.scheduled):
            self.scheduled = True
            application.create_task(self.flush(application.bot))

    async def flush(self, bot: Bot, *, look: bool = True) -> int:
        """Sends what was handed to it, and every due notification in the outbox unless
        only handed rows were asked for; returns how many went out."""
        sent = 0
        self.scheduled = False
        async with self.lock:
            self.wanted, self.look = True, self.look or look
            while self.wanted:
                self.wanted = False
                look, self.look = self.look, False
                sent += await self._drain(bot, look)
        return sent

    async def _drain(self, bot: Bot, look: bool) -> int:
        sent = 0
        delivered = Delivered()
        while self.handed:
            handed = self.handed.popleft()
            self._add_unsaved_cards(handed)
            for row in handed.rows:
                sent += await self._deliver_one(bot, row, handed.known, delivered)
        for _ in range(100 if look else 0):  # bounded: a flood waits for the next tick
            done, delivered = delivered, Delivered()
            batch = await self._saving(functools.partial(self._next_batch, done=done))
            if batch is None:
                break
            for row in batch.rows:
                sent += await self._deliver_one(bot, row, batch.known, delivered)
            if len(batch.rows) < BATCH:
                # All that was due is sent; rows queued meanwhile kicked `wanted` (see flush),
                # so looking again here would only cost a read.
                break
        if delivered.row_ids:
            await self._saving(lambda session: self._finish(session, delivered))
        return sent

    async def _saving(self, work: Callable[[Session], Result]) -> Result:
        """Runs `work`, which saves the delivered rows and their cards: every card sent
        before it started is then in message_copies (see _add_unsaved_cards)."""
        sent_so_far = self.cards_sent
        result = await in_worker(self.warta, work)
        self.cards_saved = sent_so_far
        return result

    def _card_sent(self, card: MessageCopy, person: Person | None) -> None:
        self.cards_sent += 1
        self.cards.append((self.cards_sent, card, person))
        del self.cards[:-KEEP_CARDS]

    def _add_unsaved_cards(self, batch: Batch) -> None:
        """A handed batch read its items' card copies when its action ran, perhaps while
        an earlier batch was still sending cards of the same item: those are added, so
        that no copy is left with stale buttons."""
        if batch.cards_saved is None:
            return
        for number, card, person in self.cards:
            if number <= batch.cards_saved or card.item_id not in batch.known.items:
                continue
            copies = batch.known.copies.setdefault(card.item_id, [])
            if all((c.chat_id, c.message_id) != (card.chat_id, card.message_id)
                   for c in copies):
                copies.append(card)
                if person is not None:
                    batch.known.by_chat.setdefault(card.chat_id, person)

    def _next_batch(self, session: Session, done: Delivered) -> Batch | None:
        """Marks `done` done and leases the next due rows (one transaction), then reads
        what they need. With nothing to mark, a read first: most looks find nothing due,
        and need not take SQLite's write lock to see it."""
        now = self.warta.now()
        if not done.row_ids and not outbox.any_due(session, OutboxKind.NOTIFY, now):
            return None
        rows = outbox.lease_due(session, OutboxKind.NOTIFY, now, limit=BATCH,
                                finished=done.row_ids, made=done.made)
        if not rows:
            return None
        return Batch(rows, known(session, rows, self.warta.settings.telegram))

    def _finish(self, session: Session, done: Delivered) -> None:
        if done.row_ids:
            outbox.finish_many(session, done.row_ids, self.warta.now(), made=done.made)

    async def _deliver_one(self, bot: Bot, row: OutboxMessage, known: Known,
                           delivered: Delivered) -> int:
        now = self.warta.now()
        try:
            card = await self.deliver(bot, row, known)
        except RetryAfter as error:
            seconds = retry_after_seconds(error)
            await self._retry(row, f"flood control: {seconds}s", timedelta(seconds=seconds))
            return 0
        except Forbidden as error:
            log.warning("notification %s given up: %s", row.id, error)
            await self._give_up(row, now, f"forbidden: {error}")
            return 0
        except BadRequest as error:
            if "not modified" in str(error).lower():
                delivered.row_ids.append(row.id)
                return 0
            log.error("notification %s refused by Telegram: %s", row.id, error)
            await self._give_up(row, now, f"bad request: {error}")
            return 0
        except (NetworkError, TelegramError) as error:
            await self._retry(row, f"network: {error}",
                              outbox.backoff(row.attempts, 2.0, 300.0, self.rng))
            return 0
        delivered.row_ids.append(row.id)
        delivered.made += [card] if card else []
        return 1

    async def _retry(self, row: OutboxMessage, error: str, delay: timedelta) -> None:
        log.info("notification %s retried in %s: %s", row.id, delay, error)
        now = self.warta.now()
        await in_worker(self.warta, lambda session: outbox.retry_later(
            session, row.id, now, error, delay))

    async def _give_up(self, row: OutboxMessage, now: datetime, error: str) -> None:
        await in_worker(self.warta, lambda session: outbox.give_up(session, row.id, now, error))

    # --- rendering ----------------------------------------------------------------------

    async def deliver(self, bot: Bot, row: OutboxMessage, known: Known) -> MessageCopy | None:
        """Sends the row to each of its recipients not yet served. Each recipient is on the
        record before the next is sent to (so a retry after a failure skips them); the last
        one's card is returned, to be saved with the row's completion."""
        item = known.items.get(row.item_id) if row.item_id else None
        if row.target == "cards" and item is not None:
            await self._refresh_cards(bot, known, item)
            return None
        if row.template == JOIN_DECIDED:
            await self._refresh_join_cards(bot, known, int(row.payload["request_id"]))
            return None
        served = set(row.payload.get("sent_to", []))
        last: tuple[int, MessageCopy | None] | None = None
        for person, chat_id in self._recipients(known, row):
            if chat_id in served:
                continue
            if last is not None:
                await self._record_progress(row, *last)
            lang = person.language if person else \
                row.payload.get("language") or self.warta.settings.office.language
            card = await self._send(bot, known, row, item, person, chat_id, lang)
            if card is not None:
                self._card_sent(card, person)
            last = chat_id, card
        return last[1] if last else None

    def _recipients(self, known: Known, row: OutboxMessage) -> list[tuple[Person | None, int]]:
        """Who gets this row: a person, a chat of someone not registered (a refused
        newcomer), every admin, or a shared chat (else everyone of its role)."""
        if row.target == "person":
            person = known.people.get(row.recipient_id or 0)
            return [(person, person.telegram_id)] if person and person.active else []
        if row.target == "chat":
            return [(None, int(row.payload["chat_id"]))]
        role = _role_of(row.target, self.warta.settings.telegram)
        if role is not None:
            return [(p, p.telegram_id) for p in known.holders.get(role, [])]
        telegram = self.warta.settings.telegram
        return [(None, telegram.it_team_chat_id if row.target == "it_team"
                 else telegram.alert_chat_id)]

    async def _send(self, bot: Bot, known: Known, row: OutboxMessage, item: Item | None,
                    person: Person | None, chat_id: int, lang: str) -> MessageCopy | None:
        """Sends one recipient their message; a card comes back as the copy to remember."""
        template = row.template
        if item is not None and template in CARD_NOTICES:
            card = CARD_NOTICES[template]
            # The album and the card are two sends: if the card fails and the row is tried
            # again, the album that already arrived is not sent a second time.
            if chat_id not in row.payload.get("albums_sent", []) and \
                    await send_album(bot, self.warta, item, chat_id, **PATIENT):
                await self._save_payload(row, albums_sent=[*row.payload.get("albums_sent", []),
                                                           chat_id])
            message_id = await send_card(bot, self.warta, item, chat_id, lang, card, None,
                                         **PATIENT)
            return MessageCopy(item_id=item.id, purpose=card, chat_id=chat_id,
                               message_id=message_id, created_at=self.warta.now())
        text = t(f"notify.{template}", lang, **self._facts(known, row, item, lang))
        markup = None
        if item is not None and template == Action.RETURN_TO_OFFICER.notice_template:
            markup = keyboard("draft", item, lang, person)
        elif item is not None and template == Action.MARK_PUBLISH_FAILED.notice_template:
            markup = keyboard("failed", item, lang, person)
        elif template == JOIN_REQUEST:
            request = known.requests.get(int(row.payload["request_id"]))
            # Answered before this admin's copy went out: the card comes without buttons.
            if request is not None and request.decided_at is None:
                markup = join_keyboard(request, lang)
        sent = await bot.send_message(chat_id, text, parse_mode=ParseMode.HTML,
                                      reply_markup=markup, disable_web_page_preview=True,
                                      **PATIENT)
        if template == JOIN_REQUEST:
            await self._save_payload(row, cards=[*row.payload.get("cards", []),
                                           [chat_id, sent.message_id]])
        if item is not None and template == Action.REASSIGN.notice_template and \
                person is not None and person.id == item.editor_id:
            # The new editor gets the editing panel the claim would have given them.
            message_id = await send_card(bot, self.warta, item, chat_id, lang, "editing",
                                         person, **PATIENT)
            return MessageCopy(item_id=item.id, purpose="editing", chat_id=chat_id,
                               message_id=message_id, created_at=self.warta.now())
        return None

    async def _record_progress(self, row: OutboxMessage, chat_id: int,
                               card: MessageCopy | None) -> None:
        """One recipient of a row with several is served: remembered with its card."""
        await self._save_payload(row, sent_to=[*row.payload.get("sent_to", []), chat_id],
                                 made=[card] if card else [])

    async def _save_payload(self, row: OutboxMessage, made: Sequence[MessageCopy] = (),
                            **changes: Any) -> None:
        row.payload = {**row.payload, **changes}
        payload = row.payload

        def save(session: Session) -> None:
            with transaction(session):
                session.add_all(made)
                session.execute(update(OutboxMessage).where(OutboxMessage.id == row.id)
                                .values(payload=payload))

        await in_worker(self.warta, save)

    def _facts(self, known: Known, row: OutboxMessage, item: Item | None,
               lang: str) -> dict[str, Any]:
        payload = dict(row.payload)
        event = known.events.get(int(payload["event_id"])) if payload.get("event_id") \
            else None
        facts: dict[str, Any] = {
            "id": item.id if item else payload.get("item_id", ""),
            "title": clip(item.title or item.description, NOTICE_TITLE) if item else "",
            "url": item.remote_url if item else "",
            "actor": acting_name(event.actor.name, event.data, lang)
            if event and event.actor else t("system", lang),
            "at": when(event.at if event else row.created_at, self.warta.zone, lang),
            "note": clip(payload.get("note") or (event.note if event else ""), NOTICE_NOTE),
        }
        if "request_id" in payload:  # join.* rows from invitations
            request = known.requests.get(int(payload["request_id"]))
            if request is not None:
                facts.update(join_facts(request, lang))
        recorded = event.data if event else {}  # the audit's facts (a hand-over's editors)
        for key, value in {**recorded, **payload}.items():
            if key in ADDRESSING:
                continue
            facts.setdefault(key, "; ".join(map(str, value)) if isinstance(value, list) else value)
        if "stage" in payload:  # deadline.* rows from the sweeper
            facts["stage_label"] = Safe(state_label(payload["stage"], lang))
            facts["due"] = when(datetime.fromisoformat(payload["due_at"]), self.warta.zone, lang)
            facts["late"] = Safe(duration(payload.get("late_minutes", 0), lang))
        if "lines" in payload:  # digest.daily
            lines = [self._digest_line(line, lang) for line in payload["lines"]]
            facts["lines"] = fit_lines(lines, lang, hidden=int(payload.get("more", 0)),
                                       more="digest.more")
        return facts

    def _digest_line(self, line: dict[str, Any], lang: str) -> str:
        text = t("digest.line", lang, id=line["item_id"], title=line["title"] or "-",
                 stage_label=Safe(state_label(line["state"], lang)),
                 since=when(datetime.fromisoformat(line["waiting_since"]), self.warta.zone,
                            lang))
        return text + (" ⏰" if line.get("overdue") else "")

    async def _refresh_cards(self, bot: Bot, known: Known, item: Item) -> None:
        """Edits every copy of the item's cards to its state when the batch was read (a
        later change queues another refresh)."""
        for copy in known.copies.get(item.id, []):
            person = known.by_chat.get(copy.chat_id)
            lang = person.language if person else self.warta.settings.office.language
            presser = person if copy.purpose in PERSONAL_CARDS else None
            try:
                await bot.edit_message_text(
                    item_card(item, lang, self.warta.zone,
                              card_checks(item, copy.purpose, self.warta.settings.checklist)),
                    chat_id=copy.chat_id,
                    message_id=copy.message_id, parse_mode=ParseMode.HTML,
                    reply_markup=keyboard(copy.purpose, item, lang, presser, mini_app_url(
                        self.warta.settings.web.public_url, copy.chat_id)),
                    disable_web_page_preview=True,
                )
            except BadRequest as error:  # deleted or unchanged: nothing stale is left
                log.info("card %s/%s not edited: %s", copy.chat_id, copy.message_id, error)

    async def _refresh_join_cards(self, bot: Bot, known: Known, request_id: int) -> None:
        """Edits each admin's card of an answered join request: who answered, no buttons."""
        request, asked = known.requests.get(request_id), known.asked.get(request_id)
        if request is None or asked is None:
            return
        for chat_id, message_id in asked.payload.get("cards", []):
            lang = known.language(chat_id, self.warta.settings.office.language)
            try:
                await bot.edit_message_text(
                    join_card(request, lang, self.warta.zone), chat_id=chat_id,
                    message_id=message_id, parse_mode=ParseMode.HTML, reply_markup=None)
            except BadRequest as error:  # deleted or unchanged: nothing stale is left
                log.info("join card %s/%s not edited: %s", chat_id, message_id, error)
