"""The office's people and their roles (the SOP's staff administration)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from workflow.actions import MAX_NAME, release_claims_of
from workflow.config import LANGUAGES
from workflow.db import read_alone
from workflow.errors import InvalidValue, NotAllowed, NotFound, NotRegistered
from workflow.models import WITH_ROLES, AuditEvent, Person, PersonRole, Role
from workflow.transaction import transaction


def parse_roles(names: Iterable[str]) -> frozenset[Role]:
    """Turns "editor,pejabat" style names into roles; unknown names are refused."""
    roles = set()
    for name in names:
        for part in filter(None, (piece.strip().lower() for piece in name.split(","))):
            try:
                roles.add(Role(part))
            except ValueError:
                valid = ", ".join(role.value for role in Role)
                raise InvalidValue(f"unknown role {part!r} (use {valid})", field="role",
                                   value=part) from None
    if not roles:
        raise InvalidValue("at least one role is needed", field="role")
    return frozenset(roles)


def find_by_telegram_id(session: Session, telegram_id: int) -> Person | None:
    return session.scalars(
        select(Person).where(Person.telegram_id == telegram_id).options(WITH_ROLES)
    ).unique().one_or_none()


def who_is(session: Session, telegram_id: int) -> Person | None:
    """The person behind a Telegram id, read alone at the start of a session (the bot asks
    this on every update, before anything else)."""
    read_alone(session)
    person = find_by_telegram_id(session, telegram_id)
    session.commit()
    return person


def active_person(session: Session, telegram_id: int) -> Person:
    """The registered, active person behind a Telegram id, or NotRegistered."""
    person = find_by_telegram_id(session, telegram_id)
    if person is None or not person.active:
        raise NotRegistered("unknown or deactivated", telegram_id=telegram_id)
    return person


def add_person(
    session: Session,
    actor: Person | None,
    now: datetime,
    *,
    telegram_id: int,
    name: str,
    roles: Iterable[Role],
    section: str = "",
    language: str = "id",
    language_chosen: bool = True,
) -> Person:
    """Registers a person; `actor` None means the command line (the server's operator).

    With `language_chosen` False the language is a default until the person's first
    update, which takes it from their Telegram app (see `adopt_telegram_language`)."""
    with transaction(session):
        require_admin(session, actor)
        return enrol(session, actor, now, telegram_id=telegram_id, name=name, roles=roles,
                     section=section, language=language, language_chosen=language_chosen)


def enrol(
    session: Session,
    actor: Person | None,
    now: datetime,
    *,
    telegram_id: int,
    name: str,
    roles: Iterable[Role],
    section: str = "",
    language: str = "id",
    language_chosen: bool = True,
) -> Person:
    """Writes a new person and their audit row inside the caller's transaction (the
    caller has checked who may do it: an admin, the command line, an invitation)."""
    name = " ".join(name.split())
    section = " ".join(section.split())
    if not name or len(name) > MAX_NAME or len(section) > MAX_NAME:
        raise InvalidValue("a name (and section) of 1 to 200 characters is needed",
                           field="name")
    if language not in LANGUAGES:
        raise InvalidValue(f"language must be one of {LANGUAGES}", field="language")
    if find_by_telegram_id(session, telegram_id) is not None:
        raise InvalidValue(f"Telegram id {telegram_id} is already registered",
                           field="telegram_id", value=telegram_id)
    person = Person(telegram_id=telegram_id, name=name, section=section,
                    language=language, language_chosen=language_chosen, active=True,
                    created_at=now)
    person.role_rows = [PersonRole(role=role) for role in sorted(set(roles))]
    session.add(person)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise InvalidValue(f"Telegram id {telegram_id} is already registered",
                           field="telegram_id", value=telegram_id) from None
    _audit(session, actor, "people.add", now, person,
           roles=sorted(role.value for role in person.roles))
    return person


@dataclass(frozen=True)
class RoleChange:
    """A person's roles after a change, and what the change added and removed."""

    person: Person
    added: frozenset[Role]
    removed: frozenset[Role]


def change_roles(
    session: Session,
    actor: Person | None,
    now: datetime,
    telegram_id: int,
    *,
    add: Iterable[Role] = (),
    remove: Iterable[Role] = (),
    exactly: Iterable[Role] | None = None,
) -> RoleChange:
    """Adds and removes roles, leaving the others as they are (or, with `exactly`, sets
    the whole list); says what changed, so nobody loses a role without being told."""
    with transaction(session):
        require_admin(session, actor)
        person = _existing(session, telegram_id)
        have = person.roles
        wanted = set(exactly) if exactly is not None else (have | set(add)) - set(remove)
        person.role_rows = [row for row in person.role_rows if Role(row.role) in wanted]
        person.role_rows.extend(PersonRole(role=role) for role in sorted(wanted - have))
        session.flush()
        added, removed = frozenset(wanted - have), frozenset(have - wanted)
        _audit(session, actor, "people.set_roles", now, person,
               roles=sorted(role.value for role in wanted),
               added=sorted(added), removed=sorted(removed))
        return RoleChange(person, added, removed)


def set_section(
    session: Session, actor: Person | None, now: datetime, telegram_id: int, section: str
) -> Person:
    """An admin puts a person in a section (bidang), or out of one with an empty name."""
    section = " ".join(section.split())
    if len(section) > MAX_NAME:
        raise InvalidValue("a section of at most 200 characters", field="section")
    with transaction(session):
        require_admin(session, actor)
        person = _existing(session, telegram_id)
        before, person.section = person.section, section
        _audit(session, actor, "people.section", now, person, section=section, before=before)
        return person


def set_active(
    session: Session, actor: Person | None, now: datetime, telegram_id: int, active: bool
) -> Person:
    """Activates or deactivates a person; deactivating returns their claimed items."""
    with transaction(session):
        require_admin(session, actor)
        person = _existing(session, telegram_id)
        person.active = active
        # Work in someone's hands goes back to the IT team with them; drafts and history
        # stay, and what an officer submitted goes on without them.
        released = [] if active else release_claims_of(session, person, actor, now)
        if released:  # reloading the items refreshed their editor: load the roles again
            person = _existing(session, telegram_id)
        _audit(session, actor, "people.activate" if active else "people.deactivate", now, person,
               **({"released": released} if released else {}))
        return person


def set_language(session: Session, person: Person, now: datetime, language: str) -> Person:
    """A person chooses the language the bot speaks to them."""
    if language not in LANGUAGES:
        raise InvalidValue(f"language must be one of {LANGUAGES}", field="language")
    with transaction(session):
        current = _existing(session, person.telegram_id)
        current.language = language
        current.language_chosen = True
        _audit(session, current, "people.language", now, current, language=language)
        return current


def telegram_language(language_code: str | None) -> str | None:
    """Our language for a Telegram app's IETF code ("en-GB" -> "en"), None when we have
    no catalogue for it."""
    primary = (language_code or "").split("-")[0].lower()
    aliases = {"in": "id", "ms": "id"}  # Android's old code for Indonesian; Malay reads it
    primary = aliases.get(primary, primary)
    return primary if primary in LANGUAGES else None


def adopt_telegram_language(
    session: Session, person: Person, now: datetime, language_code: str | None
) -> Person | None:
    """On a person's first update, takes their language from their Telegram app unless one
    was chosen already. Returns the updated person when something was recorded.

    An app language we have no catalogue for still counts as the choice: the office
    default stays and is not asked about again; /bahasa changes it any time."""
    if person.language_chosen or not language_code:
        return None
    with transaction(session):
        current = _existing(session, person.telegram_id)
        if current.language_chosen:  # another update of theirs got here first
            return None
        current.language = telegram_language(language_code) or current.language
        current.language_chosen = True
        _audit(session, current, "people.language", now, current, language=current.language,
               source="telegram", language_code=language_code[:35])
        return current


def list_people(session: Session, include_inactive: bool = True) -> list[Person]:
    query = select(Person).options(WITH_ROLES).order_by(Person.name, Person.id)
    if not include_inactive:
        query = query.where(Person.active.is_(True))
    return list(session.scalars(query).unique())


def known_sections(session: Session) -> list[str]:
    """The office's sections (bidang), as the active people's records name them."""
    names = session.scalars(
        select(Person.section).where(Person.active.is_(True), Person.section != "").distinct()
    )
    return sorted(set(names))


def _existing(session: Session, telegram_id: int) -> Person:
    person = find_by_telegram_id(session, telegram_id)
    if person is None:
        raise NotFound(f"no person with Telegram id {telegram_id}", telegram_id=telegram_id)
    return person


def require_admin(session: Session, actor: Person | None) -> None:
    """Refuses anyone but an active admin; `actor` None is the command line."""
    if actor is None:
        return
    current = session.get(Person, actor.id, populate_existing=True, options=[WITH_ROLES])
    if current is None or not current.has_role(Role.ADMIN):
        raise NotAllowed("only an admin manages people", action="people", reason="role")


def record_office_event(session: Session, actor: Person | None, action: str, now: datetime,
                        **data: object) -> None:
    """The audit row of a change to the office rather than to an item (people, invitations,
    delegations); `actor` None is the command line or Warta itself."""
    session.add(AuditEvent(item_id=None, actor_id=actor.id if actor else None, action=action,
                           data=data, at=now))


def _audit(
    session: Session, actor: Person | None, action: str, now: datetime, person: Person,
    **data: object,
) -> None:
    record_office_event(session, actor, action, now, person_id=person.id,
                        telegram_id=person.telegram_id, **data)
