"""Acting officials (Plt/Plh): a pejabat's decisions taken by a named delegate on set days.

A delegation names who acts for whom, from and to which office date (both included).
While it runs, the delegate gets the official's preview cards, may approve, reject and
ask for revision, and is recorded as "Name (Plt. untuk X)"; reminders and escalations
follow it. Nobody decides on their own item, delegate or not (see `transitions`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow.acting import Acting, Title, acting_for, running_delegations
from workflow.errors import DelegationRefused, NotAllowed, NotFound
from workflow.models import WITH_ROLES, Delegation, Person, Role
from workflow.people import record_office_event
from workflow.transaction import transaction

MAX_LENGTH = timedelta(days=366)
__all__ = ["Acting", "Title", "acting_for", "delegate", "listed", "revoke",
           "running_delegations"]


def delegate(
    session: Session,
    actor: Person | None,
    now: datetime,
    today: date,
    *,
    principal_telegram_id: int,
    delegate_telegram_id: int,
    starts_on: date,
    ends_on: date,
    title: Title = Title.PLT,
) -> Delegation:
    """Names `delegate` to act for `principal` from `starts_on` to `ends_on`; the principal
    themself or an admin (`actor` None: the command line) may do it."""
    with transaction(session):
        principal = _person(session, principal_telegram_id)
        stand_in = _person(session, delegate_telegram_id)
        _require_principal_or_admin(session, actor, principal)
        if stand_in.id == principal.id:
            raise DelegationRefused("cannot delegate to oneself", reason="self")
        if not principal.has_role(Role.PEJABAT):
            raise DelegationRefused("only an active pejabat's decisions can be delegated",
                                    reason="not_official", name=principal.name)
        if not stand_in.active:
            raise DelegationRefused("the delegate is deactivated", reason="inactive",
                                    name=stand_in.name)
        if ends_on < starts_on:
            raise DelegationRefused("the range ends before it starts", reason="reversed")
        if ends_on < today:
            raise DelegationRefused("the range is in the past", reason="past")
        if ends_on - starts_on > MAX_LENGTH:
            raise DelegationRefused("a delegation lasts at most a year", reason="too_long")
        clash = session.scalars(select(Delegation).where(
            Delegation.principal_id == principal.id, Delegation.revoked_at.is_(None),
            Delegation.starts_on <= ends_on, Delegation.ends_on >= starts_on,
        ).limit(1)).first()
        if clash is not None:
            raise DelegationRefused("overlaps another delegation", reason="overlap",
                                    name=clash.delegate.name, starts_on=clash.starts_on,
                                    ends_on=clash.ends_on)
        made = Delegation(principal_id=principal.id, delegate_id=stand_in.id, title=title.value,
                          starts_on=starts_on, ends_on=ends_on,
                          created_by_id=actor.id if actor else None, created_at=now)
        session.add(made)
        session.flush()
        record_office_event(session, actor, "delegation.create", now, delegation_id=made.id,
               principal_id=principal.id, delegate_id=stand_in.id, title=title.value,
               starts_on=starts_on.isoformat(), ends_on=ends_on.isoformat())
        return made


def revoke(session: Session, actor: Person | None, now: datetime, delegation_id: int) -> None:
    """Ends a delegation early (the principal is back); decisions already taken stay."""
    with transaction(session):
        made = session.get(Delegation, delegation_id)
        if made is None:
            raise NotFound(f"no delegation {delegation_id}", delegation_id=delegation_id)
        _require_principal_or_admin(session, actor, made.principal)
        if made.revoked_at is None:
            made.revoked_at = now
            record_office_event(session, actor, "delegation.revoke", now, delegation_id=made.id)


def listed(session: Session, today: date) -> Sequence[Delegation]:
    """Delegations not yet over (running or to come), for /wakil and the CLI."""
    return session.scalars(select(Delegation).where(
        Delegation.revoked_at.is_(None), Delegation.ends_on >= today,
    ).order_by(Delegation.starts_on, Delegation.id)).all()


def _person(session: Session, telegram_id: int) -> Person:
    found = session.scalars(select(Person).where(Person.telegram_id == telegram_id)
                            .options(WITH_ROLES)).unique().one_or_none()
    if found is None:
        raise NotFound(f"no person with Telegram id {telegram_id}", telegram_id=telegram_id)
    return found


def _require_principal_or_admin(session: Session, actor: Person | None, principal: Person
                                ) -> None:
    if actor is None:
        return
    current = session.get(Person, actor.id, populate_existing=True, options=[WITH_ROLES])
    if current is None or not current.active:
        raise NotAllowed("not an active person", action="delegate", reason="role")
    if current.id != principal.id and not current.has_role(Role.ADMIN):
        raise NotAllowed("only the official or an admin names a delegate",
                         action="delegate", reason="role")

