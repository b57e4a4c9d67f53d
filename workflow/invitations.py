"""Invitations: a shared link lets a new person ask to join with a role; an admin says yes or no.

Nobody types Telegram ids. An admin makes an invitation for roles (and a section); the
token goes into a `t.me/<bot>?start=<token>` link and only its SHA-256 is stored. Opening
the link records a join request and puts an approve / refuse card before the admins
(or, if the invitation says so, lets the person straight in). Every step is audited.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow.actions import MAX_NAME
from workflow.errors import Conflict, InvalidValue, InvitationUnusable, NotFound
from workflow.models import Invitation, JoinRequest, Person, Role
from workflow.outbox import insert_once, notification_values
from workflow.people import (
    enrol,
    find_by_telegram_id,
    record_office_event,
    require_admin,
    telegram_language,
)
from workflow.transaction import transaction

DEFAULT_VALIDITY = timedelta(days=7)
MAX_VALIDITY = timedelta(days=90)
MAX_USES = 100
# Telegram's deep-link payload allows 64 characters of [A-Za-z0-9_-]; 24 are plenty.
TOKEN_BYTES = 18


class RequestState(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"


@dataclass(frozen=True)
class NewInvitation:
    """An invitation just made, with the one copy of its token there will ever be."""

    invitation: Invitation
    token: str


@dataclass(frozen=True)
class Arrival:
    """What opening a link did: a request waits for an admin, or the person is in."""

    request: JoinRequest
    person: Person | None  # set when the invitation let them in without waiting


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def request_notice_key(request_id: int) -> str:
    """The outbox key of the admins' card for a join request (the notifier finds the
    cards it sent through it, to edit them once the request is answered)."""
    return f"join-request-{request_id}"


def invitation_link(bot_username: str, token: str) -> str:
    """The deep link that opens the bot and sends it `/start <token>`."""
    return f"https://t.me/{bot_username.lstrip('@')}?start={token}"


def create_invitation(
    session: Session,
    actor: Person | None,
    now: datetime,
    *,
    roles: Iterable[Role],
    section: str = "",
    uses: int = 1,
    valid: timedelta = DEFAULT_VALIDITY,
    auto_approve: bool = False,
) -> NewInvitation:
    """An admin's (or, with `actor` None, the command line's) invitation for `roles`."""
    wanted = sorted(set(roles))
    section = " ".join(section.split())
    if not wanted:
        raise InvalidValue("an invitation needs at least one role", field="role")
    if not 1 <= uses <= MAX_USES:
        raise InvalidValue(f"uses must be 1 to {MAX_USES}", field="uses", value=uses)
    if not timedelta(minutes=5) <= valid <= MAX_VALIDITY:
        raise InvalidValue("an invitation is valid for 5 minutes to 90 days", field="valid")
    if len(section) > MAX_NAME:
        raise InvalidValue("a section of at most 200 characters", field="section")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with transaction(session):
        require_admin(session, actor)
        invitation = Invitation(
            token_hash=token_hash(token), roles=[role.value for role in wanted], section=section,
            uses_left=uses, auto_approve=auto_approve, created_by_id=actor.id if actor else None,
            created_at=now, expires_at=now + valid, revoked_at=None,
        )
        session.add(invitation)
        session.flush()
        record_office_event(session, actor, "invitation.create", now, invitation_id=invitation.id,
               roles=invitation.roles, section=section, uses=uses,
               expires_at=invitation.expires_at.isoformat(), auto_approve=auto_approve)
        return NewInvitation(invitation, token)


def arrive(
    session: Session,
    now: datetime,
    *,
    token: str,
    telegram_id: int,
    name: str,
    username: str = "",
    language_code: str | None = None,
) -> Arrival:
    """Someone opened an invitation link: their request is recorded and the admins asked.

    Refuses (InvitationUnusable) an unknown, expired, revoked or used-up link; someone
    already registered is refused as `InvalidValue` (nothing to join). Opening the same
    link again while a request waits returns that request and uses nothing up."""
    with transaction(session):
        if find_by_telegram_id(session, telegram_id) is not None:
            raise InvalidValue("already registered", field="telegram_id", value=telegram_id)
        waiting = session.scalars(select(JoinRequest).where(
            JoinRequest.telegram_id == telegram_id,
            JoinRequest.state == RequestState.PENDING)).one_or_none()
        if waiting is not None:
            return Arrival(waiting, None)
        invitation = _usable(session, token, now)
        invitation.uses_left -= 1
        request = JoinRequest(
            invitation_id=invitation.id, telegram_id=telegram_id,
            name=" ".join(name.split())[:MAX_NAME] or str(telegram_id),
            username=username[:64], language=telegram_language(language_code) or "id",
            state=RequestState.PENDING, requested_at=now,
        )
        session.add(request)
        session.flush()
        record_office_event(session, None, "invitation.arrive", now, invitation_id=invitation.id,
               request_id=request.id, telegram_id=telegram_id, name=request.name)
        if invitation.auto_approve:
            person = _admit(session, None, now, request)
            return Arrival(request, person)
        insert_once(session, [notification_values(
            target="admins", template="join.request", payload={"request_id": request.id},
            key=request_notice_key(request.id), now=now)])
        return Arrival(request, None)


def decide(
    session: Session, actor: Person | None, now: datetime, request_id: int, *, approve: bool
) -> JoinRequest:
    """An admin lets a waiting person in (with the invitation's roles and section) or not.

    The second admin to answer the same request gets a Conflict naming the first."""
    with transaction(session):
        require_admin(session, actor)
        request = session.get(JoinRequest, request_id, with_for_update=True,
                              populate_existing=True)
        if request is None:
            raise NotFound(f"no join request {request_id}", request_id=request_id)
        if request.state != RequestState.PENDING:
            by = request.decided_by.name if request.decided_by else "warta"
            raise Conflict("already answered", by=by, at=request.decided_at or now,
                           action="join." + request.state, state=request.state)
        if approve:
            _admit(session, actor, now, request)
        else:
            request.state = RequestState.REFUSED
            request.decided_at, request.decided_by_id = now, actor.id if actor else None
            record_office_event(session, actor, "invitation.refuse", now, request_id=request.id,
                   telegram_id=request.telegram_id, name=request.name)
            insert_once(session, [notification_values(
                target="chat", template="join.refused",
                payload={"chat_id": request.telegram_id, "language": request.language},
                key=f"join-refused-{request.id}", now=now)])
        insert_once(session, [notification_values(
            target="admins", template="join.decided", payload={"request_id": request.id},
            key=f"join-decided-{request.id}", now=now)])
        return request


def revoke(session: Session, actor: Person | None, now: datetime, invitation_id: int) -> None:
    """An admin withdraws a link that was shared too widely; waiting requests stay."""
    with transaction(session):
        require_admin(session, actor)
        invitation = session.get(Invitation, invitation_id)
        if invitation is None:
            raise NotFound(f"no invitation {invitation_id}", invitation_id=invitation_id)
        if invitation.revoked_at is None:
            invitation.revoked_at = now
            record_office_event(session, actor, "invitation.revoke", now,
                                invitation_id=invitation_id)


def pending_requests(session: Session) -> list[JoinRequest]:
    return list(session.scalars(select(JoinRequest).where(
        JoinRequest.state == RequestState.PENDING).order_by(JoinRequest.id)))


def open_invitations(session: Session, now: datetime) -> list[Invitation]:
    """Links that can still let someone in, newest first."""
    return list(session.scalars(select(Invitation).where(
        Invitation.revoked_at.is_(None), Invitation.expires_at > now,
        Invitation.uses_left > 0).order_by(Invitation.id.desc())))


def _usable(session: Session, token: str, now: datetime) -> Invitation:
    invitation = session.scalars(select(Invitation).where(
        Invitation.token_hash == token_hash(token)).with_for_update()).one_or_none()
    if invitation is None:
        raise InvitationUnusable("no such invitation", reason="unknown")
    if invitation.revoked_at is not None:
        raise InvitationUnusable("revoked", reason="revoked")
    if invitation.expires_at <= now:
        raise InvitationUnusable("expired", reason="expired")
    if invitation.uses_left <= 0:
        raise InvitationUnusable("used up", reason="used")
    return invitation


def _admit(session: Session, actor: Person | None, now: datetime, request: JoinRequest) -> Person:
    """Registers the requester with the invitation's roles; inside the caller's transaction."""
    invitation = request.invitation
    person = enrol(
        session, actor, now, telegram_id=request.telegram_id, name=request.name,
        roles=[Role(value) for value in invitation.roles], section=invitation.section,
        language=request.language, language_chosen=True,
    )
    request.state = RequestState.APPROVED
    request.decided_at, request.decided_by_id = now, actor.id if actor else None
    request.person_id = person.id
    record_office_event(session, actor, "invitation.approve", now, request_id=request.id,
           person_id=person.id, roles=invitation.roles, section=invitation.section)
    insert_once(session, [notification_values(
        target="person", template="join.approved", recipient_id=person.id,
        payload={"request_id": request.id, "roles": invitation.roles,
                 "section": invitation.section},
        key=f"join-approved-{request.id}", now=now)])
    return person

