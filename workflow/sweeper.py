"""The deadline sweeper: who must hear that a stage is late, told once per level.

No Telegram here: the sweeper writes notification rows to the outbox (see
`workflow.outbox`) and the bot delivers them. Time is always a parameter.

For each *open* stage deadline (``closed_at IS NULL``) whose ``due_at`` has passed, three
messages may go out, each exactly once:

* **alert** when ``due_at`` has passed: template ``deadline.overdue``, to the responsible
  people and the webmaster (target "alert");
* **reminder** when allowance × ``reminder_factor`` (2) has elapsed: ``deadline.reminder``,
  to the same people;
* **escalation** at allowance × ``escalation_factor`` (3): ``deadline.escalation``, to every
  active ``kepala`` (person) and the webmaster.

Who is *responsible* for each stage is `workflow.audience.RESPONSIBLE` (the webmaster
runs the publisher and the bot, so the stages nobody else answers for are theirs alone).

Thresholds are measured **in the deadline's own terms**, from ``started_at``:

* working-time deadlines ("3h"): the allowance is the working time from ``started_at`` to
  ``due_at``; the reminder is due once ``allowance × factor`` of working time has elapsed
  (``calendar.add_working_time``), so evenings, weekends and holidays do not count;
* working-day deadlines ("1d"): ``days × factor`` working days (``add_working_days``) when
  that is a whole number (2 and 3 with the defaults), else working time as above;
* clock deadlines ("1h clock"): ``started_at + (due_at - started_at) × factor``.

The mode of a stage comes from the deadline settings passed in (defaults: the SOP's).

Exactly once: each level has a marker column (``alerted_at``, ``reminded_at``,
``escalated_at``). Rows are handled in batches, one transaction per batch; inside it the
rows are locked (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so a second sweeper skips
rows the first one holds; SQLite transactions take the write lock at BEGIN), and each
level's markers are set by one ``UPDATE ... WHERE id IN (...) AND marker IS NULL AND
closed_at IS NULL RETURNING id``: only the rows it returns get their outbox rows, written
in the same transaction. The outbox's unique idempotency key
``deadline:<id>:<level>:<target>:<recipient>`` is a second guard. A sweeper that was down
while several thresholds passed sends each passed level once, in order, on its first run
(catch-up); it never sends one twice.

Cost: the candidate query is ``closed_at IS NULL AND due_at <= now AND escalated_at IS
NULL``, a range scan of the partial index ``ix_stage_deadlines_pending`` (open and not
yet escalated); it reads only overdue rows still to act on, whatever the number of
items. Reminder and escalation thresholds are computed in Python for those rows only.

``rejected`` deadlines ("rejection notified ≤ 30 min") have no transition that closes
them. The sweeper closes an overdue one itself when the rejection's notifications to the
officer and the editor are delivered (their outbox rows are done; ``closed_at`` = the last
delivery), and otherwise alerts the webmaster as for any late stage.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Protocol, cast

from sqlalchemy import Executable, Table, insert, select, update
from sqlalchemy.orm import Session

from workflow.audience import Staff, told_of_lateness
from workflow.calendar import Deadline, WorkingCalendar
from workflow.config import DeadlineSettings
from workflow.deadlines import allowances_from
from workflow.models import (
    AuditEvent,
    Item,
    OutboxMessage,
    StageDeadline,
    Status,
)
from workflow.outbox import notification_values
from workflow.queries import headline
from workflow.transaction import transaction

TEMPLATES: Final[Mapping[str, str]] = {
    "alert": "deadline.overdue",
    "reminder": "deadline.reminder",
    "escalation": "deadline.escalation",
}
LEVELS: Final = ("alert", "reminder", "escalation")
DEFAULT_BATCH: Final = 100

_MARKERS: Final[Mapping[str, Any]] = {
    "alert": StageDeadline.alerted_at,
    "reminder": StageDeadline.reminded_at,
    "escalation": StageDeadline.escalated_at,
}
_ZERO = timedelta(0)


class AlertFactors(Protocol):
    """What the sweeper needs from `AlertSettings`."""

    @property
    def reminder_factor(self) -> float: ...

    @property
    def escalation_factor(self) -> float: ...


@dataclass(frozen=True)
class SweepResult:
    """How many stages got each message in this sweep (not how many outbox rows)."""

    alerts: int = 0
    reminders: int = 0
    escalations: int = 0
    closed: int = 0  # rejected stages found notified and closed
    rows: int = 0  # outbox rows written

    def __add__(self, other: SweepResult) -> SweepResult:
        return SweepResult(*(a + b for a, b in zip(
            dataclasses.astuple(self), dataclasses.astuple(other), strict=True)))


@dataclass(frozen=True)
class _Candidate:
    id: int
    item_id: int
    stage: str
    started_at: datetime
    due_at: datetime
    alerted_at: datetime | None
    reminded_at: datetime | None
    escalated_at: datetime | None


def threshold(
    calendar: WorkingCalendar,
    started_at: datetime,
    due_at: datetime,
    factor: float,
    deadline: Deadline | None,
) -> datetime:
    """When `factor` times the allowance (started_at → due_at) has elapsed, in the
    deadline's own terms (see the module doc). Never before `due_at`."""
    mode = deadline.mode if deadline is not None else "working"
    if factor <= 1:
        return due_at
    if mode == "clock":
        answer = started_at + (due_at - started_at) * factor
    elif mode == "working_days" and deadline is not None and (
        float(deadline.amount.days * factor).is_integer()
    ):
        answer = calendar.add_working_days(started_at, int(deadline.amount.days * factor))
    else:
        allowance = calendar.working_time_between(started_at, due_at)
        answer = calendar.add_working_time(started_at, allowance * factor)
    return max(answer, due_at)


def lateness(
    calendar: WorkingCalendar, due_at: datetime, now: datetime, deadline: Deadline | None
) -> timedelta:
    """How late a stage is at `now`, in the deadline's terms (working time unless clock)."""
    if deadline is not None and deadline.mode == "clock":
        return max(_ZERO, now - due_at)
    return calendar.working_time_between(due_at, now)


def sweep(
    session: Session,
    now: datetime,
    settings: AlertFactors,
    calendar: WorkingCalendar,
    deadlines: DeadlineSettings | Mapping[str, Deadline] | None = None,
    *,
    batch_size: int = DEFAULT_BATCH,
) -> SweepResult:
    """Sends (as outbox rows) every alert, reminder and escalation due at `now`, once.

    Safe to run from several processes at once and after restarts. The session must not
    be inside a transaction with unsaved changes. Returns what this call sent.
    """
    plan = _Plan(now, settings, calendar, allowances_from(deadlines))
    to_do = [row for row in _overdue(session, now) if plan.levels_due(row)]
    result = SweepResult()
    staff = Staff(session, now.astimezone(calendar.tz).date())  # delegates answer too
    for start in range(0, len(to_do), batch_size):
        ids = [row.id for row in to_do[start:start + batch_size]]
        result += _sweep_batch(session, plan, staff, ids)
    return result


def _overdue(session: Session, now: datetime) -> list[_Candidate]:
    """Open deadlines past due with a message still to send (index range scan)."""
    with transaction(session):
        rows = session.connection().execute(overdue_query(now)).all()
    return [_Candidate(*row) for row in rows]


_COLUMNS: Final = (StageDeadline.id, StageDeadline.item_id, StageDeadline.stage,
                   StageDeadline.started_at, StageDeadline.due_at, StageDeadline.alerted_at,
                   StageDeadline.reminded_at, StageDeadline.escalated_at)


def overdue_query(now: datetime) -> Executable:
    """The sweeper's candidate query (public for the benchmark's EXPLAIN)."""
    d = StageDeadline
    return (
        select(*_COLUMNS)
        .where(d.closed_at.is_(None), d.due_at <= now, d.escalated_at.is_(None))
        .order_by(d.due_at, d.id)
    )


@dataclass
class _Plan:
    """When each level of each candidate is due (computed once per sweep and row)."""

    now: datetime
    factors: AlertFactors
    calendar: WorkingCalendar
    allowances: Mapping[str, Deadline]
    _thresholds: dict[int, tuple[datetime, datetime]] = dataclasses.field(
        default_factory=dict)

    def thresholds(self, row: _Candidate) -> tuple[datetime, datetime]:
        if row.id not in self._thresholds:
            allowance = self.allowances.get(row.stage)
            self._thresholds[row.id] = (
                threshold(self.calendar, row.started_at, row.due_at,
                          self.factors.reminder_factor, allowance),
                threshold(self.calendar, row.started_at, row.due_at,
                          self.factors.escalation_factor, allowance),
            )
        return self._thresholds[row.id]

    def levels_due(self, row: _Candidate) -> tuple[str, ...]:
        remind_at, escalate_at = self.thresholds(row)
        levels = []
        if row.alerted_at is None:
            levels.append("alert")
        if row.reminded_at is None and self.now >= remind_at:
            levels.append("reminder")
        if row.escalated_at is None and self.now >= escalate_at:
            levels.append("escalation")
        return tuple(levels)


@dataclass(frozen=True)
class _ItemFacts:
    id: int
    state: str
    officer_id: int
    editor_id: int | None
    decided_by_id: int | None
    section: str
    title: str


def _sweep_batch(
    session: Session, plan: _Plan, staff: Staff, ids: Sequence[int]
) -> SweepResult:
    """One transaction: lock the batch, set each due marker once, write its messages."""
    counts = dict.fromkeys(LEVELS, 0)
    closed = 0
    messages: list[dict[str, Any]] = []
    table = cast(Table, StageDeadline.__table__)
    with transaction(session):
        connection = session.connection()
        # Lock this batch's rows; on PostgreSQL another sweeper skips them (and finds
        # them marked next time). SQLite ignores FOR UPDATE: its transactions are
        # serialised by BEGIN IMMEDIATE, so this fresh read sees the other's marks.
        fresh = [
            _Candidate(*row)
            for row in connection.execute(
                select(*_COLUMNS)
                .where(StageDeadline.id.in_(ids), StageDeadline.closed_at.is_(None))
                .order_by(StageDeadline.due_at, StageDeadline.id)
                .with_for_update(skip_locked=True)
            )
        ]
        if not fresh:
            return SweepResult()
        items = _item_facts(session, {row.item_id for row in fresh})
        due: dict[str, list[_Candidate]] = {level: [] for level in LEVELS}
        for row in fresh:
            if row.stage == Status.REJECTED and _close_if_notified(
                    session, row, items[row.item_id]):
                closed += 1
                continue
            for level in plan.levels_due(row):
                due[level].append(row)
        for level in LEVELS:
            if not due[level]:
                continue
            marker = table.c[_MARKERS[level].key]
            # The marker is set only where it is still empty: the rows it comes back
            # for are this sweeper's to announce, and nobody else's.
            marked = set(connection.execute(
                update(table)
                .where(table.c.id.in_([row.id for row in due[level]]), marker.is_(None),
                       table.c.closed_at.is_(None))
                .values({marker: plan.now})
                .returning(table.c.id)
            ).scalars())
            for row in due[level]:
                if row.id not in marked:
                    continue
                counts[level] += 1
                item = items[row.item_id]
                payload = deadline_payload(row, item, level, plan.now, plan.calendar,
                                           plan.allowances.get(row.stage))
                for target, recipient_id in told_of_lateness(
                        row.stage, item, staff, escalated=level == "escalation"):
                    messages.append(notification_values(
                        item_id=item.id, target=target, recipient_id=recipient_id,
                        template=TEMPLATES[level], payload=payload, now=plan.now,
                        key=f"deadline:{row.id}:{level}:{target}:{recipient_id or ''}",
                    ))
        if messages:
            connection.execute(insert(cast(Table, OutboxMessage.__table__)), messages)
    return SweepResult(counts["alert"], counts["reminder"], counts["escalation"], closed,
                       len(messages))


def _item_facts(session: Session, item_ids: Iterable[int]) -> dict[int, _ItemFacts]:
    rows = session.execute(
        select(Item.id, Item.state, Item.officer_id, Item.editor_id, Item.decided_by_id,
               Item.section, Item.title, Item.description)
        .where(Item.id.in_(sorted(item_ids)))
    )
    return {
        row.id: _ItemFacts(row.id, row.state, row.officer_id, row.editor_id,
                           row.decided_by_id, row.section,
                           headline(row.title, row.description))
        for row in rows
    }


def deadline_payload(
    row: _Candidate,
    item: _ItemFacts,
    level: str,
    now: datetime,
    calendar: WorkingCalendar,
    allowance: Deadline | None,
) -> dict[str, Any]:
    """Facts for `deadline.*` messages; times are ISO 8601 in the office's time zone."""
    late = lateness(calendar, row.due_at, now, allowance)
    return {
        "deadline_id": row.id,
        "item_id": item.id,
        "stage": row.stage,
        "level": level,
        "title": item.title,
        "section": item.section,
        "officer_id": item.officer_id,
        "editor_id": item.editor_id,
        "started_at": row.started_at.astimezone(calendar.tz).isoformat(),
        "due_at": row.due_at.astimezone(calendar.tz).isoformat(),
        "late_minutes": int(late.total_seconds() // 60),
        "late_clock_minutes": int(max(_ZERO, now - row.due_at).total_seconds() // 60),
        "allowance_minutes": int(
            calendar.elapsed(row.started_at, row.due_at, allowance).total_seconds() // 60
        ) if allowance is not None else int((row.due_at - row.started_at).total_seconds() // 60),
        "mode": allowance.mode if allowance is not None else "working",
    }


def _close_if_notified(session: Session, row: _Candidate, item: _ItemFacts) -> bool:
    """Closes a `rejected` deadline whose notices to officer and editor went out."""
    event_id = session.scalar(
        select(AuditEvent.id)
        .where(AuditEvent.item_id == item.id, AuditEvent.to_state == Status.REJECTED,
               AuditEvent.from_state != Status.REJECTED)
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    if event_id is None:
        return False
    recipients = {item.officer_id, item.editor_id} - {None}
    keys = [f"notify:{event_id}:person:{pid}" for pid in sorted(r for r in recipients if r)]
    deliveries = session.execute(
        select(OutboxMessage.done_at, OutboxMessage.last_error)
        .where(OutboxMessage.idempotency_key.in_(keys))
    ).all()
    if not deliveries or any(done is None or error for done, error in deliveries):
        return False
    delivered = max(done for done, _ in deliveries if done is not None)
    session.execute(
        update(StageDeadline)
        .where(StageDeadline.id == row.id, StageDeadline.closed_at.is_(None))
        .values(closed_at=delivered)
    )
    return True
