"""The daily digest: what waits on whom, oldest first, queued once per working day.

``daily_digest`` lists what waits on whom, oldest first: each active editor gets the
submitted items (anyone may claim) and the in_editing items they claimed; each active
pejabat the awaiting_approval items; the webmaster ("alert") every open item. People with
nothing waiting get no entry. ``queue_digest`` writes one ``digest.daily`` row per
recipient per local date, only on working days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, Final

from sqlalchemy import and_, select
from sqlalchemy.orm import Session, aliased

from workflow.audience import Staff, active_people_with
from workflow.calendar import WorkingCalendar
from workflow.models import FINAL_STATES, Item, Person, Role, StageDeadline, Status
from workflow.outbox import insert_once, notification_values
from workflow.queries import headline
from workflow.transaction import transaction

DIGEST_TEMPLATE: Final = "digest.daily"
DIGEST_MAX_LINES: Final = 100


@dataclass(frozen=True)
class DigestLine:
    """One item waiting on the recipient."""

    item_id: int
    state: str
    title: str
    section: str
    officer: str
    editor: str
    waiting_since: datetime
    due_at: datetime | None
    overdue: bool
    waiting_minutes: int  # working time since waiting_since

    def as_payload(self, tz: Any) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "state": self.state,
            "title": self.title,
            "section": self.section,
            "officer": self.officer,
            "editor": self.editor,
            "waiting_since": self.waiting_since.astimezone(tz).isoformat(),
            "due_at": self.due_at.astimezone(tz).isoformat() if self.due_at else None,
            "overdue": self.overdue,
            "waiting_minutes": self.waiting_minutes,
        }


@dataclass(frozen=True)
class DigestEntry:
    """Everything waiting on one recipient, oldest first."""

    target: str  # "person" or "alert" (the webmaster)
    recipient_id: int | None
    lines: tuple[DigestLine, ...]


OPEN_STATES: Final = tuple(s for s in Status if s not in FINAL_STATES)


def daily_digest(session: Session, now: datetime, calendar: WorkingCalendar) -> list[DigestEntry]:
    """What waits on whom at `now`: one entry per recipient with something waiting."""
    officer, editor = aliased(Person), aliased(Person)
    open_deadline = and_(StageDeadline.item_id == Item.id, StageDeadline.closed_at.is_(None))
    rows = session.execute(
        select(Item.id, Item.state, Item.title, Item.description, Item.section,
               Item.editor_id, Item.updated_at, officer.name, editor.name,
               StageDeadline.started_at, StageDeadline.due_at)
        .join(officer, officer.id == Item.officer_id)
        .outerjoin(editor, editor.id == Item.editor_id)
        .outerjoin(StageDeadline, open_deadline)
        .where(Item.state.in_([s.value for s in OPEN_STATES]))
    ).all()
    lines: list[tuple[DigestLine, int | None]] = []
    seen: set[int] = set()
    for row in rows:
        if row.id in seen:  # two open deadlines would be a bug elsewhere; list once
            continue
        seen.add(row.id)
        since = row.started_at or row.updated_at
        lines.append((DigestLine(
            item_id=row.id, state=row.state, title=headline(row.title, row.description),
            section=row.section, officer=row[7], editor=row[8] or "",
            waiting_since=since, due_at=row.due_at,
            overdue=row.due_at is not None and row.due_at <= now,
            waiting_minutes=int(calendar.working_time_between(since, now).total_seconds() // 60),
        ), row.editor_id))
    lines.sort(key=lambda pair: (pair[0].waiting_since, pair[0].item_id))
    entries: list[DigestEntry] = []
    editor_ids = {p.id for p in active_people_with(session, Role.EDITOR)}
    # Whoever acts for an official today finds the approvals in their digest too.
    officials = set(Staff(session, now.astimezone(calendar.tz).date()).ids(Role.PEJABAT))
    for person_id in sorted(editor_ids | officials):
        mine = tuple(
            line for line, claimed_by in lines
            if (person_id in editor_ids and (
                line.state == Status.SUBMITTED
                or (line.state == Status.IN_EDITING and claimed_by == person_id)))
            or (person_id in officials and line.state == Status.AWAITING_APPROVAL)
        )
        if mine:
            entries.append(DigestEntry("person", person_id, mine))
    if lines:
        entries.append(DigestEntry("alert", None, tuple(line for line, _ in lines)))
    return entries


def queue_digest(
    session: Session,
    now: datetime,
    calendar: WorkingCalendar,
    *,
    not_before: time | None = None,
) -> int:
    """Writes today's `digest.daily` rows (one per recipient per local date); returns how
    many were new. Nothing on a closed day (weekend, holiday) or before `not_before`
    (local time); running it again the same day writes nothing more."""
    local = now.astimezone(calendar.tz)
    if not calendar.is_working_day(local.date()):
        return 0
    if not_before is not None and local.time() < not_before:
        return 0
    with transaction(session):
        entries = daily_digest(session, now, calendar)
        rows = [
            _digest_row(entry, local.date(), now, calendar) for entry in entries
        ]
        if not rows:
            return 0
        return insert_once(session, rows)


def digest_key(day: date, target: str, recipient_id: int | None) -> str:
    return f"digest:{day.isoformat()}:{target}:{recipient_id or ''}"


def _digest_row(
    entry: DigestEntry, day: date, now: datetime, calendar: WorkingCalendar
) -> dict[str, Any]:
    shown = entry.lines[:DIGEST_MAX_LINES]
    return notification_values(
        target=entry.target, recipient_id=entry.recipient_id, template=DIGEST_TEMPLATE,
        payload={
            "date": day.isoformat(),
            "count": len(entry.lines),
            "overdue": sum(1 for line in entry.lines if line.overdue),
            "more": len(entry.lines) - len(shown),
            "lines": [line.as_payload(calendar.tz) for line in shown],
        },
        key=digest_key(day, entry.target, entry.recipient_id), now=now,
    )
