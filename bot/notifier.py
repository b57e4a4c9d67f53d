"""Sends what the workflow queued in the notification outbox, after its commit.

A row is leased, sent, then marked done; Telegram's flood control (RetryAfter) and network
trouble put it back for later; a person who blocked the bot is given up on, on the record.
Cards (the IT team's claim card, each official's decision card) are remembered in
`message_copies`, so when the item moves every copy is edited and no stale button remains.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application

from bot.base import log
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
from workflow.context import Context
from workflow.invitations import request_notice_key
from workflow.models import (
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


class Notifier:
    def __init__(self, warta: Context, rng: random.Random | None = None) -> None:
        self.warta = warta
        self.lock = asyncio.Lock()
        self.rng = rng or random.Random()
        self.wanted = False  # rows may have been queued since the running flush looked
        self.scheduled = False  # a flush task is created and has not started yet

    def kick(self, application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        """Asks for a flush without waiting for it: after a workflow call, and on each tick.
        While one runs (or is about to) it is told to look again, instead of a second
        one queueing behind it for every update."""
        self.wanted = True
        if not (self.lock.locked() or self.scheduled):
            self.scheduled = True
            application.create_task(self.flush(application.bot))

    async def flush(self, bot: Bot) -> int:
        """Sends every due notification; returns how many went out."""
        sent = 0
        self.scheduled = False
        async with self.lock:
            self.wanted = True
            while self.wanted:
                self.wanted = False
                sent += await self._drain(bot)
        return sent

    async def _drain(self, bot: Bot) -> int:
        sent = 0
        for _ in range(100):  # bounded: a flood of rows waits for the next tick
            with self.warta.sessions() as session:
                if not outbox.any_due(session, OutboxKind.NOTIFY, self.warta.now()):
                    break
                rows = outbox.lease_due(session, OutboxKind.NOTIFY, self.warta.now(),
                                        limit=BATCH)
            if not rows:
                break
            for row in rows:
                sent += await self._deliver_one(bot, row)
            if len(rows) < BATCH:
                # All that was due is sent; rows queued meanwhile kicked `wanted` (see flush),
                # so looking again here would only cost a read.
                break
        return sent

    async def _deliver_one(self, bot: Bot, row: OutboxMessage) -> int:
        now = self.warta.now()
        try:
            card = await self.deliver(bot, row)
        except RetryAfter as error:
            seconds = retry_after_seconds(error)
            self._retry(row, f"flood control: {seconds}s", timedelta(seconds=seconds))
            return 0
        except Forbidden as error:
            log.warning("notification %s given up: %s", row.id, error)
            with self.warta.sessions() as session:
                outbox.give_up(session, row.id, now, f"forbidden: {error}")
            return 0
        except BadRequest as error:
            if "not modified" in str(error).lower():
                self._finish(row)
                return 0
            log.error("notification %s refused by Telegram: %s", row.id, error)
            with self.warta.sessions() as session:
                outbox.give_up(session, row.id, now, f"bad request: {error}")
            return 0
        except (NetworkError, TelegramError) as error:
            self._retry(row, f"network: {error}",
                        outbox.backoff(row.attempts, 2.0, 300.0, self.rng))
            return 0
        self._finish(row, card)
        return 1

    def _retry(self, row: OutboxMessage, error: str, delay: timedelta) -> None:
        log.info("notification %s retried in %s: %s", row.id, delay, error)
        with self.warta.sessions() as session:
            outbox.retry_later(session, row.id, self.warta.now(), error, delay)

    def _finish(self, row: OutboxMessage, card: MessageCopy | None = None) -> None:
        with self.warta.sessions() as session:
            outbox.finish(session, row.id, self.warta.now(), made=[card] if card else [])

    # --- rendering ----------------------------------------------------------------------

    async def deliver(self, bot: Bot, row: OutboxMessage) -> MessageCopy | None:
        """Sends the row to each of its recipients not yet served. Each recipient is on the
        record before the next is sent to (so a retry after a failure skips them); the last
        one's card is returned, to be saved with the row's completion."""
        with self.warta.sessions() as session:
            item = session.get(Item, row.item_id) if row.item_id else None
            if row.target == "cards" and item is not None:
                await self._refresh_cards(bot, session, item)
                return None
            if row.template == JOIN_DECIDED:
                await self._refresh_join_cards(bot, session, int(row.payload["request_id"]))
                return None
            served = set(row.payload.get("sent_to", []))
            last: tuple[int, MessageCopy | None] | None = None
            for person, chat_id in self._recipients(session, row):
                if chat_id in served:
                    continue
                if last is not None:
                    self._record_progress(row, *last)
                lang = person.language if person else \
                    row.payload.get("language") or self.warta.settings.office.language
                last = chat_id, await self._send(bot, session, row, item, person, chat_id, lang)
            return last[1] if last else None

    def _recipients(self, session: Session, row: OutboxMessage) -> list[tuple[Person | None, int]]:
        """Who gets this row: a person, a chat of someone not registered (a refused
        newcomer), every admin, or a shared chat (else everyone of its role)."""
        telegram = self.warta.settings.telegram
        if row.target == "person":
            person = session.get(Person, row.recipient_id)
            return [(person, person.telegram_id)] if person and person.active else []
        if row.target == "chat":
            return [(None, int(row.payload["chat_id"]))]
        if row.target == "admins":
            return [(p, p.telegram_id) for p in active_people_with(session, Role.ADMIN)]
        chats = {"it_team": telegram.it_team_chat_id, "alert": telegram.alert_chat_id}
        chat_id = chats.get(row.target, 0)
        if chat_id:
            return [(None, chat_id)]
        role = STAND_INS.get(row.target, Role.ADMIN)
        return [(p, p.telegram_id) for p in active_people_with(session, role)]

    async def _send(self, bot: Bot, session: Session, row: OutboxMessage, item: Item | None,
                    person: Person | None, chat_id: int, lang: str) -> MessageCopy | None:
        """Sends one recipient their message; a card comes back as the copy to remember."""
        template = row.template
        if item is not None and template in CARD_NOTICES:
            card = CARD_NOTICES[template]
            # The album and the card are two sends: if the card fails and the row is tried
            # again, the album that already arrived is not sent a second time.
            if chat_id not in row.payload.get("albums_sent", []) and \
                    await send_album(bot, self.warta, item, chat_id, **PATIENT):
                self._save_payload(row, albums_sent=[*row.payload.get("albums_sent", []),
                                                     chat_id])
            message_id = await send_card(bot, self.warta, item, chat_id, lang, card, None,
                                         **PATIENT)
            return MessageCopy(item_id=item.id, purpose=card, chat_id=chat_id,
                               message_id=message_id, created_at=self.warta.now())
        text = t(f"notify.{template}", lang, **self._facts(session, row, item, lang))
        markup = None
        if item is not None and template == Action.RETURN_TO_OFFICER.notice_template:
            markup = keyboard("draft", item, lang, person)
        elif item is not None and template == Action.MARK_PUBLISH_FAILED.notice_template:
            markup = keyboard("failed", item, lang, person)
        elif template == JOIN_REQUEST:
            request = session.get(JoinRequest, row.payload["request_id"])
            # Answered before this admin's copy went out: the card comes without buttons.
            if request is not None and request.decided_at is None:
                markup = join_keyboard(request, lang)
        sent = await bot.send_message(chat_id, text, parse_mode=ParseMode.HTML,
                                      reply_markup=markup, disable_web_page_preview=True,
                                      **PATIENT)
        if template == JOIN_REQUEST:
            self._save_payload(row, cards=[*row.payload.get("cards", []),
                                           [chat_id, sent.message_id]])
        if item is not None and template == Action.REASSIGN.notice_template and \
                person is not None and person.id == item.editor_id:
            # The new editor gets the editing panel the claim would have given them.
            message_id = await send_card(bot, self.warta, item, chat_id, lang, "editing",
                                         person, **PATIENT)
            return MessageCopy(item_id=item.id, purpose="editing", chat_id=chat_id,
                               message_id=message_id, created_at=self.warta.now())
        return None

    def _record_progress(self, row: OutboxMessage, chat_id: int,
                         card: MessageCopy | None) -> None:
        """One recipient of a row with several is served: remembered with its card."""
        self._save_payload(row, sent_to=[*row.payload.get("sent_to", []), chat_id],
                           made=[card] if card else [])

    def _save_payload(self, row: OutboxMessage, made: Sequence[MessageCopy] = (),
                      **changes: Any) -> None:
        row.payload = {**row.payload, **changes}
        with self.warta.sessions() as session, transaction(session):
            session.add_all(made)
            session.execute(update(OutboxMessage).where(OutboxMessage.id == row.id)
                            .values(payload=row.payload))

    def _facts(self, session: Session, row: OutboxMessage, item: Item | None,
               lang: str) -> dict[str, Any]:
        payload = dict(row.payload)
        event = session.get(AuditEvent, payload.get("event_id")) if payload.get("event_id") \
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
            request = session.get(JoinRequest, payload["request_id"])
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

    async def _refresh_cards(self, bot: Bot, session: Session, item: Item) -> None:
        """Edits every copy of the item's cards to its current state (and buttons)."""
        copies = session.scalars(
            select(MessageCopy).where(MessageCopy.item_id == item.id,
                                      MessageCopy.purpose.in_(CARD_PURPOSES))
        ).all()
        for copy in copies:
            person = session.scalars(
                select(Person).where(Person.telegram_id == copy.chat_id)).first()
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

    async def _refresh_join_cards(self, bot: Bot, session: Session, request_id: int) -> None:
        """Edits each admin's card of an answered join request: who answered, no buttons."""
        request = session.get(JoinRequest, request_id)
        asked = session.scalars(select(OutboxMessage).where(
            OutboxMessage.idempotency_key == request_notice_key(request_id))).one_or_none()
        if request is None or asked is None:
            return
        for chat_id, message_id in asked.payload.get("cards", []):
            lang = self._chat_language(session, chat_id)
            try:
                await bot.edit_message_text(
                    join_card(request, lang, self.warta.zone), chat_id=chat_id,
                    message_id=message_id, parse_mode=ParseMode.HTML, reply_markup=None)
            except BadRequest as error:  # deleted or unchanged: nothing stale is left
                log.info("join card %s/%s not edited: %s", chat_id, message_id, error)

    def _chat_language(self, session: Session, chat_id: int) -> str:
        """The language of the person whose private chat this is, else the office's."""
        person = session.scalars(select(Person).where(Person.telegram_id == chat_id)).first()
        return person.language if person else self.warta.settings.office.language
