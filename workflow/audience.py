"""Who is told: the one place that turns audiences into outbox recipients.

An action's notices (the transitions table's `notify`), a late stage's alerts (the
sweeper) and the delivery to shared chats (the bot's notifier) all ask here, so "who hears
about this item" has one answer.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Final, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow.acting import running_delegations
from workflow.models import WITH_ROLES, Person, PersonRole, Role, Status


class Audience(enum.Enum):
    """Who is told about an action (expanded to outbox rows in the same transaction)."""

    OFFICER = "officer"
    EDITOR = "editor"
    PREVIOUS_EDITOR = "previous_editor"  # who had the item before a hand-over
    DECIDER = "decider"  # the official who approved
    OFFICIALS = "officials"  # every active pejabat, and whoever acts for one today
    HEADS = "heads"  # every active kepala
    ADMINS = "admins"  # every active admin
    IT_TEAM = "it_team"  # the IT team chat (or each editor when no chat is set)
    ALERT = "alert"  # the webmaster's alert chat
    CARDS = "cards"  # every copy of the item's card, edited to show what happened


# An outbox row's (target, recipient id): ("person", id), or a shared target and None.
Recipient = tuple[str, int | None]

# Who answers for each stage: the first of its audiences that names somebody. Approved,
# publish_failed and rejected have nobody but the webmaster, who hears of every late stage.
RESPONSIBLE: Final[Mapping[Status, tuple[Audience, ...]]] = {
    Status.DRAFT: (Audience.OFFICER,),
    Status.RETURNED_TO_OFFICER: (Audience.OFFICER,),
    Status.SUBMITTED: (Audience.IT_TEAM,),
    # The IT team if, unexpectedly, nobody claimed it.
    Status.IN_EDITING: (Audience.EDITOR, Audience.IT_TEAM),
    Status.AWAITING_APPROVAL: (Audience.OFFICIALS,),
}

# Who gets a shared chat's messages when its chat id is not configured.
STAND_INS: Final[Mapping[str, Role]] = {
    Audience.IT_TEAM.value: Role.EDITOR,
    Audience.ALERT.value: Role.ADMIN,
}

_STAFF: Final[Mapping[Audience, Role]] = {
    Audience.OFFICIALS: Role.PEJABAT,
    Audience.HEADS: Role.KEPALA,
    Audience.ADMINS: Role.ADMIN,
}


class ItemPeople(Protocol):
    """The people an item names (an `Item`, or the sweeper's facts about one)."""

    @property
    def officer_id(self) -> int: ...

    @property
    def editor_id(self) -> int | None: ...

    @property
    def decided_by_id(self) -> int | None: ...


class Staff:
    """The office's active holders of each role, looked up once per role; with `today`
    (the office date), pejabat includes whoever acts for one by a running delegation."""

    def __init__(self, session: Session, today: date | None = None) -> None:
        self.session = session
        self.today = today
        self._ids: dict[Role, list[int]] = {}

    def ids(self, role: Role) -> list[int]:
        if role not in self._ids:
            found = [p.id for p in active_people_with(self.session, role)]
            if role is Role.PEJABAT and self.today is not None:
                found += [d.delegate_id
                          for d in running_delegations(self.session, self.today)]
            self._ids[role] = list(dict.fromkeys(found))
        return self._ids[role]


def active_people_with(session: Session, role: Role) -> list[Person]:
    """Everyone active who holds `role`, by id."""
    return list(
        session.scalars(
            select(Person)
            .options(WITH_ROLES)
            .join(PersonRole)
            .where(PersonRole.role == role, Person.active.is_(True))
            .order_by(Person.id)
        ).unique()
    )


def recipients(audience: Audience, item: ItemPeople, staff: Staff,
               previous_editor_id: int | None = None) -> list[Recipient]:
    """Turns one audience into (target, person id) pairs, one outbox row each."""
    if audience is Audience.OFFICER:
        return [("person", item.officer_id)]
    if audience is Audience.EDITOR:
        return [("person", item.editor_id)] if item.editor_id else []
    if audience is Audience.PREVIOUS_EDITOR:
        return [("person", previous_editor_id)] if previous_editor_id else []
    if audience is Audience.DECIDER:
        return [("person", item.decided_by_id)] if item.decided_by_id else []
    if audience in _STAFF:
        return [("person", person_id) for person_id in staff.ids(_STAFF[audience])]
    return [(audience.value, None)]


def told_of(audiences: Iterable[Audience], item: ItemPeople, staff: Staff,
            previous_editor_id: int | None = None) -> list[Recipient]:
    """Everyone the audiences name, in order; a person in two capacities (an officer who
    is also the editor) is told once."""
    return list(dict.fromkeys(
        pair for audience in audiences
        for pair in recipients(audience, item, staff, previous_editor_id)
    ))


def deciders(item: ItemPeople, staff: Staff) -> list[Recipient]:
    """Who could decide on `item` now: the officials and their delegates, less its own
    officer (nobody decides on their own item). Empty: the admins must hear at once."""
    return [pair for pair in recipients(Audience.OFFICIALS, item, staff)
            if pair != ("person", item.officer_id)]


def responsible(stage: str, item: ItemPeople, staff: Staff) -> list[Recipient]:
    """Who answers for `stage` of `item` (see RESPONSIBLE)."""
    for audience in RESPONSIBLE.get(Status(stage), ()):
        found = recipients(audience, item, staff)
        if found:
            return found
    return []


def told_of_lateness(
    stage: str, item: ItemPeople, staff: Staff, *, escalated: bool
) -> list[Recipient]:
    """Who hears that a stage is late: whoever answers for it (every kepala once it is
    escalated), and always the webmaster."""
    if escalated:
        return told_of((Audience.HEADS, Audience.ALERT), item, staff)
    return [*responsible(stage, item, staff), (Audience.ALERT.value, None)]
