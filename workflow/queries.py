"""Read-only lookups of items and their history, for the bot, the publisher and the CLI."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workflow import transitions
from workflow.errors import NotFound
from workflow.models import AuditEvent, Item, Person, Status


def get_item(session: Session, item_id: int, viewer: Person) -> Item:
    """The item if `viewer` may see it; NotFound otherwise (so ids cannot be probed)."""
    item = session.get(Item, item_id)
    if item is None or not transitions.can_view(item, viewer):
        raise NotFound(f"no item {item_id}", item_id=item_id)
    return item


def get_item_unchecked(session: Session, item_id: int) -> Item:
    """The item for the operator's own tools (command line, publisher), with no viewer."""
    item = session.get(Item, item_id)
    if item is None:
        raise NotFound(f"no item {item_id}", item_id=item_id)
    return item


def history(session: Session, item_id: int) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent).where(AuditEvent.item_id == item_id).order_by(AuditEvent.id)
        )
    )


def items_of_officer(session: Session, officer: Person, limit: int = 20) -> list[Item]:
    return list(
        session.scalars(
            select(Item)
            .where(Item.officer_id == officer.id, Item.state != Status.CANCELLED)
            .order_by(Item.id.desc())
            .limit(limit)
        )
    )


def list_items(session: Session, states: Sequence[Status] = (), limit: int = 200
               ) -> list[Item]:
    """Items in `states` by id (the web's board reads its own way: workflow.board)."""
    query = select(Item).order_by(Item.id)
    if states:
        query = query.where(Item.state.in_(list(states)))
    return list(session.scalars(query.limit(limit)))


def stage_started_at(session: Session, item: Item) -> datetime:
    """When the item entered its current state (for "waiting since")."""
    at = session.scalar(
        select(func.max(AuditEvent.at)).where(
            AuditEvent.item_id == item.id, AuditEvent.to_state == item.state,
            AuditEvent.from_state.is_distinct_from(item.state),
        )
    )
    return at or item.created_at


def headline(title: str, description: str, limit: int = 80) -> str:
    """What an item is called in lists: its title, else the start of its description."""
    if title:
        return title
    flat = " ".join(description.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
