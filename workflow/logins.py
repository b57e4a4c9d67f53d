"""Browser sign-in: a one-time link the bot sends, then a session with idle and absolute expiry.

A link is single use, valid for minutes and bound to one person; opening it starts a
session whose token lives only in the browser's cookie (the database keeps its SHA-256).
A session ends when idle too long, when too old, at logout, or when its person is
deactivated; every lookup reads the person afresh, so a role taken away counts at once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from workflow.errors import NotRegistered
from workflow.models import WITH_ROLES, Person, WebLogin, WebSession
from workflow.people import record_office_event
from workflow.transaction import transaction

LINK_VALIDITY = timedelta(minutes=10)
SESSION_IDLE = timedelta(hours=8)
SESSION_MAX = timedelta(days=7)
# Writing last_seen_at on every page would make every read a write; a minute is precise
# enough for an idle limit of hours.
TOUCH_EVERY = timedelta(minutes=1)


class LoginRefused(NotRegistered):
    """A link or session that lets nobody in: `reason` is used, expired or unknown."""

    code = "login_refused"

    def __init__(self, detail: str, *, reason: str) -> None:
        super().__init__(detail, reason=reason)
        self.reason = reason


@dataclass(frozen=True)
class SignedIn:
    person: Person
    session_token: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_link(session: Session, person: Person, now: datetime) -> str:
    """A new one-time login token for `person` (the bot puts it in a link)."""
    token = secrets.token_urlsafe(24)
    with transaction(session):
        session.add(WebLogin(token_hash=_hash(token), person_id=person.id, created_at=now,
                             expires_at=now + LINK_VALIDITY))
        record_office_event(session, person, "web.link", now)
    return token


def sign_in(session: Session, token: str, now: datetime) -> SignedIn:
    """Uses a login link once and starts a browser session for its person."""
    with transaction(session):
        login = session.scalars(select(WebLogin).where(
            WebLogin.token_hash == _hash(token)).with_for_update()).one_or_none()
        if login is None:
            raise LoginRefused("unknown link", reason="unknown")
        if login.used_at is not None:
            raise LoginRefused("link already used", reason="used")
        if login.expires_at <= now:
            raise LoginRefused("link expired", reason="expired")
        login.used_at = now
        person = _active(session, login.person_id)
        session_token = secrets.token_urlsafe(32)
        session.add(WebSession(token_hash=_hash(session_token), person_id=person.id,
                               created_at=now, last_seen_at=now))
        record_office_event(session, person, "web.sign_in", now)
        return SignedIn(person, session_token)


def current_person(session: Session, session_token: str, now: datetime) -> Person:
    """The active person behind a browser's session cookie, or LoginRefused."""
    found = session.scalars(select(WebSession).where(
        WebSession.token_hash == _hash(session_token))).one_or_none()
    if found is None or found.ended_at is not None:
        raise LoginRefused("no such session", reason="unknown")
    if now - found.last_seen_at > SESSION_IDLE or now - found.created_at > SESSION_MAX:
        raise LoginRefused("session expired", reason="expired")
    person = _active(session, found.person_id)
    if now - found.last_seen_at > TOUCH_EVERY:
        with transaction(session):
            session.execute(update(WebSession).where(WebSession.id == found.id)
                            .values(last_seen_at=now))
    return person


def sign_out(session: Session, session_token: str, now: datetime) -> None:
    with transaction(session):
        session.execute(update(WebSession).where(
            WebSession.token_hash == _hash(session_token), WebSession.ended_at.is_(None)
        ).values(ended_at=now))


def _active(session: Session, person_id: int) -> Person:
    person = session.scalars(select(Person).where(Person.id == person_id)
                             .options(WITH_ROLES)).unique().one_or_none()
    if person is None or not person.active:
        raise LoginRefused("person not active", reason="inactive")
    return person
