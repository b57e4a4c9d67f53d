"""The office's board of open items, read in two steps: a light row for every open item the
viewer may see (one query: enough to count, filter and order them), then the full items of
the few cards a page shows. A board of a thousand items so loads a hundred, not a thousand.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.orm import Session, lazyload

from workflow.models import Item, Person, Role, StageDeadline, Status
from workflow.transitions import sees_every_item


@dataclass(frozen=True)
class BoardRow:
    """What the board needs of an item to place it: its column, its people, its clock."""

    item_id: int
    status: Status
    officer_id: int
    editor_id: int | None
    section: str
    stage_started_at: datetime | None  # the open stage's start and deadline, if any
    due_at: datetime | None

    def late(self, now: datetime) -> bool:
        return self.due_at is not None and now > self.due_at

    def waits_on(self, person: Person) -> bool:
        """The item is the person's to move: theirs, or a decision that is an official's."""
        return person.id in (self.officer_id, self.editor_id) or (
            self.status is Status.AWAITING_APPROVAL and person.has_role(Role.PEJABAT))


def board_rows(session: Session, states: Collection[Status], viewer: Person) -> list[BoardRow]:
    """Every item in `states` that `viewer` may see, by id, with its open stage's clock."""
    if not viewer.active:
        return []
    query = (
        select(Item.id, Item.state, Item.officer_id, Item.editor_id, Item.section,
               StageDeadline.started_at, StageDeadline.due_at)
        .outerjoin(StageDeadline, and_(StageDeadline.item_id == Item.id,
                                       StageDeadline.closed_at.is_(None)))
        .where(Item.state.in_([state.value for state in states]))
        .order_by(Item.id, StageDeadline.id)
    )
    if not sees_every_item(viewer):
        query = query.where(Item.officer_id == viewer.id)
    rows: dict[int, BoardRow] = {}
    for item_id, state, officer_id, editor_id, section, started_at, due_at in session.execute(
            query):
        # One open stage per item; should two be open, the later one is the current.
        rows[item_id] = BoardRow(item_id, Status(state), officer_id, editor_id, section,
                                 started_at, due_at)
    return list(rows.values())


def board_items(session: Session, item_ids: Iterable[int]) -> dict[int, Item]:
    """The items of the cards shown, with their people, without their files or decisions."""
    wanted = list(item_ids)
    if not wanted:
        return {}
    query = select(Item).where(Item.id.in_(wanted)).options(
        lazyload(Item.media), lazyload(Item.decided_by), lazyload(Item.decisions))
    return {item.id: item for item in session.scalars(query)}


def names_of(session: Session, person_ids: Sequence[int]) -> dict[int, str]:
    """People's names by id (for the board's filter by person)."""
    if not person_ids:
        return {}
    found = session.execute(select(Person.id, Person.name)
                            .where(Person.id.in_(list(person_ids))))
    return {person_id: name for person_id, name in found}
