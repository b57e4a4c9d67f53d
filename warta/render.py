"""Plain-text views of people and items for the command line and the demo."""

from __future__ import annotations

from sqlalchemy.orm import Session

from workflow.models import Person
from workflow.queries import get_item_unchecked, history


def describe_person(person: Person) -> str:
    roles = ",".join(sorted(role.value for role in person.roles))
    state = "active" if person.active else "inactive"
    section = f" [{person.section}]" if person.section else ""
    return f"{person.telegram_id:>12}  {person.name}{section}  roles={roles}  {state}"


def format_item(session: Session, item_id: int) -> str:
    item = get_item_unchecked(session, item_id)
    lines = [
        f"Item #{item.id}: {item.state}",
        f"  officer: {item.officer.name}   editor: {item.editor.name if item.editor else '-'}",
        f"  section: {item.section or '-'}   category: {item.category or '-'}   "
        f"tags: {', '.join(item.tags) or '-'}",
        f"  title: {item.title or '-'}",
        f"  media: {len(item.media)}   published: {item.remote_url or '-'}",
        "  history:",
    ]
    for event in history(session, item.id):
        who = event.actor.name if event.actor else "sistem"
        move = "" if event.from_state == event.to_state else \
            f" {event.from_state or '-'} -> {event.to_state}"
        note = f" ({event.note})" if event.note else ""
        lines.append(f"    {event.at:%Y-%m-%d %H:%M:%S} UTC  {event.action}{move}  {who}{note}")
    return "\n".join(lines)


