"""Plain-text views of people and items for the command line and the demo."""

from __future__ import annotations

from sqlalchemy.orm import Session

from workflow.catalogue.lookup import t_text
from workflow.models import Person
from workflow.people import RoleChange
from workflow.queries import get_item_unchecked, history


def describe_person(person: Person, language: str) -> str:
    roles = ",".join(sorted(role.value for role in person.roles))
    state = t_text("cli.person.active" if person.active else "cli.person.inactive", language)
    section = f" [{person.section}]" if person.section else ""
    return f"{person.telegram_id:>12}  {person.name}{section}  roles={roles}  {state}"


def describe_change(change: RoleChange) -> str:
    """"  (+pejabat -kepala)": what a role change added and removed; "" when nothing."""
    marks = [f"+{role.value}" for role in sorted(change.added)]
    marks += [f"-{role.value}" for role in sorted(change.removed)]
    return f"  ({' '.join(marks)})" if marks else ""


def format_item(session: Session, item_id: int, language: str) -> str:
    item = get_item_unchecked(session, item_id)
    lines = [
        t_text("cli.item.header", language, id=item.id, state=item.state),
        t_text("cli.item.people", language, officer=item.officer.name,
               editor=item.editor.name if item.editor else "-"),
        t_text("cli.item.placing", language, section=item.section or "-",
               category=item.category or "-", tags=", ".join(item.tags) or "-"),
        t_text("cli.item.title", language, title=item.title or "-"),
        t_text("cli.item.media", language, count=len(item.media), url=item.remote_url or "-"),
        t_text("cli.item.history", language),
    ]
    for event in history(session, item.id):
        who = event.actor.name if event.actor else t_text("system", language)
        move = "" if event.from_state == event.to_state else \
            f" {event.from_state or '-'} -> {event.to_state}"
        note = f" ({event.note})" if event.note else ""
        lines.append(f"    {event.at:%Y-%m-%d %H:%M:%S} UTC  {event.action}{move}  {who}{note}")
    return "\n".join(lines)
