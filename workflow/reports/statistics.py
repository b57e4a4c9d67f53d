"""The SOP report's figures: time in each stage against the SOP, per stage, section, person.

`workflow.reports.text` renders a `Report` as text, `workflow.reports.export` as CSV,
XLSX and PNG.

Definitions
-----------
* Period: ``[start, end)``, aware datetimes (see `period_for`).
* A *stage visit* runs from the audit event that moved an item into a state
  (``to_state == S``, ``from_state != S``) to the next one that moved it out. Edits and
  other same-state events do not count. A visit is *in the period* when it **ended** in
  the period; visits still under way at the end of the period (or at ``now`` for a period
  still running) are counted apart as ``open`` (and ``open_overdue``).
* Time spent is measured as the stage's deadline measures it: working time (office hours,
  no weekends or holidays; ``calendar.elapsed``) for working-time and working-day
  deadlines, plain time for "clock" deadlines. Minutes, as floats.
* On time: the visit ended at or before its due moment, ``calendar.due(entered, allowance)``,
  which is exactly what the sweeper alerts on. (The allowance is today's configuration,
  applied to past visits.)
* ``allowance_minutes`` of a stage is its SOP allowance in the same terms; for working-day
  deadlines ("1d") it is days × the length of the office's first working weekday (510 min
  for Monday 07:30–16:00), a nominal figure, as the real one depends on the day.
* Median and 90th percentile use linear interpolation between closest ranks (the
  "inclusive" method, as numpy's default and ``statistics.quantiles(method="inclusive")``).
* The *person* of a visit is the actor of the event that ended it: the officer who
  submitted a draft, the editor who claimed a submission or forwarded an edit, the official
  who decided; the publisher's own steps (approved → published) count as "Sistem".
* Sections are `Item.section` (the officer's section when the draft was made).
* Items per state: the items created in the period by their state now, and all items by
  their state now.
* Counts of the period: published, rejected, returned to officer, revisions asked,
  publish failures (events in the period); rejection, return and revision notes listed.

The report reads the audit events of the period (one scan; an index on
``audit_events.at`` would make it a range scan) and the full history of the items touched
in the period or open now.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Final

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from workflow.calendar import Deadline, WorkingCalendar
from workflow.config import DeadlineSettings
from workflow.deadlines import allowance_texts, allowances_from
from workflow.models import FINAL_STATES, AuditEvent, Item, Person, Status
from workflow.transaction import transaction

STAGES: Final = (
    Status.DRAFT,
    Status.SUBMITTED,
    Status.IN_EDITING,
    Status.AWAITING_APPROVAL,
    Status.APPROVED,
    Status.RETURNED_TO_OFFICER,
    Status.PUBLISH_FAILED,
)
STATE_ORDER: Final = (*STAGES[:5], Status.PUBLISHED, Status.REJECTED, *STAGES[5:],
                      Status.CANCELLED, Status.WITHDRAWING, Status.WITHDRAWN)
SYSTEM: Final = "Sistem"
_CHUNK = 500

# ------------------------------------------------------------------------ results


@dataclass(frozen=True)
class Visit:
    """One stay of one item in one stage (ended, or still open at the report's end)."""

    item_id: int
    stage: str
    section: str
    person_id: int | None  # who ended it; None: the system, or still open
    person: str
    started_at: datetime
    ended_at: datetime | None
    minutes: float  # in the deadline's terms, until ended_at (or the report's as_of)
    due_at: datetime | None
    on_time: bool | None  # None: no allowance configured, or still open and not late yet


class _OnTimeRate:
    """Late count and on-time rate from `visits` and `on_time`."""

    visits: int
    on_time: int

    @property
    def late(self) -> int:
        return self.visits - self.on_time

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.visits if self.visits else None


@dataclass(frozen=True)
class StageStats(_OnTimeRate):
    stage: str
    allowance: str  # as configured: "3h", "1d", "1h clock"; "" when none
    mode: str
    allowance_minutes: float | None
    visits: int
    on_time: int
    median_minutes: float | None
    p90_minutes: float | None
    open: int = 0
    open_overdue: int = 0


@dataclass(frozen=True)
class GroupStats(_OnTimeRate):
    """On-time figures of one section or one person."""

    name: str
    visits: int
    on_time: int
    median_minutes: float | None = None
    person_id: int | None = None
    stages: tuple[str, ...] = ()
    created: int = 0
    published: int = 0


@dataclass(frozen=True)
class NoteEntry:
    """A rejection reason, or a return / revision note."""

    item_id: int
    at: datetime
    kind: str  # "reject", "return_to_officer", "request_revision"
    by: str
    note: str
    section: str


@dataclass(frozen=True)
class Report:
    start: datetime
    end: datetime
    as_of: datetime
    timezone: str
    created: int
    created_by_state: tuple[tuple[str, int], ...]
    current_by_state: tuple[tuple[str, int], ...]
    published: int
    rejected: int
    returned: int
    revisions: int
    publish_failures: int
    stages: tuple[StageStats, ...]
    sections: tuple[GroupStats, ...]
    people: tuple[GroupStats, ...]
    notes: tuple[NoteEntry, ...] = ()
    visits: tuple[Visit, ...] = field(default=(), repr=False)
    corrections: int = 0  # corrections published again (not counted in `published`)

    @property
    def rejections(self) -> tuple[NoteEntry, ...]:
        return tuple(note for note in self.notes if note.kind == "reject")

    @property
    def on_time(self) -> int:
        return sum(stage.on_time for stage in self.stages)

    @property
    def visit_count(self) -> int:
        return sum(stage.visits for stage in self.stages)

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.visit_count if self.visit_count else None

    def stage(self, name: str) -> StageStats:
        return next(stage for stage in self.stages if stage.stage == name)


# ------------------------------------------------------------------------ periods


def period_for(keyword: str, now: datetime, tz: tzinfo) -> tuple[datetime, datetime]:
    """``[start, end)`` in the office zone for a `/laporan` argument.

    ``minggu`` (or ``week``): this week, Monday 00:00 to next Monday 00:00;
    ``minggu-lalu`` (``last-week``): the week before; ``bulan`` (``month``): this calendar
    month; ``bulan-lalu`` (``last-month``); ``YYYY-MM``: that month. Raises ValueError.
    """
    word = keyword.strip().lower().replace("_", "-").replace(" ", "-")
    today = now.astimezone(tz).date()
    if word in ("minggu", "week", "minggu-ini", "this-week"):
        monday = today - timedelta(days=today.weekday())
        return _local_range(monday, monday + timedelta(days=7), tz)
    if word in ("minggu-lalu", "last-week"):
        monday = today - timedelta(days=today.weekday() + 7)
        return _local_range(monday, monday + timedelta(days=7), tz)
    if word in ("bulan", "month", "bulan-ini", "this-month"):
        return _month(today.year, today.month, tz)
    if word in ("bulan-lalu", "last-month"):
        first = today.replace(day=1) - timedelta(days=1)
        return _month(first.year, first.month, tz)
    match = re.fullmatch(r"(\d{4})-(\d{1,2})", word)
    if match and 1 <= int(match.group(2)) <= 12:
        return _month(int(match.group(1)), int(match.group(2)), tz)
    raise ValueError(
        f"unknown period {keyword!r}: use minggu, bulan, minggu-lalu, bulan-lalu or YYYY-MM"
    )


def _month(year: int, month: int, tz: tzinfo) -> tuple[datetime, datetime]:
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return _local_range(first, following, tz)


def _local_range(first: date, after: date, tz: tzinfo) -> tuple[datetime, datetime]:
    return (datetime(first.year, first.month, first.day, tzinfo=tz),
            datetime(after.year, after.month, after.day, tzinfo=tz))


# ------------------------------------------------------------------------ building


@dataclass(frozen=True)
class _Event:
    item_id: int
    actor_id: int | None
    action: str
    from_state: str | None
    to_state: str | None
    note: str
    at: datetime
    id: int


def build_report(
    session: Session,
    start: datetime,
    end: datetime,
    calendar: WorkingCalendar,
    deadlines: DeadlineSettings | Mapping[str, Deadline] | None = None,
    *,
    now: datetime | None = None,
) -> Report:
    """The SOP report for ``[start, end)``; `now` (default: `end`) bounds a period still
    running, for the open stages."""
    if end <= start:
        raise ValueError("the period must end after it starts")
    as_of = min(end, now) if now is not None else end
    allowances = allowances_from(deadlines)
    texts = allowance_texts(deadlines)
    with transaction(session):
        in_period = _events_in_period(session, start, end)
        open_ids = set(session.scalars(
            select(Item.id).where(Item.state.in_([s.value for s in STAGES]))))
        touched = {event.item_id for event in in_period} | open_ids
        histories = _histories(session, touched, end)
        items = _items(session, touched)
        names = _names(session, {e.actor_id for e in in_period}
                       | {e.actor_id for h in histories.values() for e in h})
        current = {state: int(count) for state, count in session.execute(
            select(Item.state, func.count()).group_by(Item.state))}
    created_ids = {e.item_id for e in in_period if e.from_state is None and e.to_state}
    visits = _visits(histories, items, names, allowances, calendar, start, as_of)
    ended = [v for v in visits if v.ended_at is not None]
    still_open = [v for v in visits if v.ended_at is None]

    stages = tuple(
        _stage_stats(stage, [v for v in ended if v.stage == stage],
                     [v for v in still_open if v.stage == stage],
                     allowances.get(stage), texts.get(stage, ""), calendar)
        for stage in _stage_names(allowances, visits)
    )
    # A correction publishes the same news again: it counts as a correction, not as news.
    first_publications = {_first_publication(histories.get(item_id, ())) for item_id in touched}
    publications = [e for e in in_period if e.to_state == Status.PUBLISHED
                    and e.from_state != Status.PUBLISHED]
    published_ids = [e.item_id for e in publications if e.id in first_publications]
    sections = _sections(ended, items, created_ids, published_ids)
    people = _people(ended)
    notes = tuple(
        NoteEntry(e.item_id, e.at, e.action.removeprefix("workflow."),
                  names.get(e.actor_id, SYSTEM) if e.actor_id else SYSTEM, e.note,
                  items[e.item_id][0] if e.item_id in items else "")
        for e in in_period
        if e.action in ("workflow.reject", "workflow.return_to_officer",
                        "workflow.request_revision")
    )
    created_states: dict[str, int] = defaultdict(int)
    for item_id in created_ids:
        if item_id in items:
            created_states[items[item_id][2]] += 1

    def moved(action: str) -> int:
        return sum(1 for e in in_period if e.action == f"workflow.{action}")

    return Report(
        start=start,
        end=end,
        as_of=as_of,
        timezone=str(calendar.tz),
        created=len(created_ids),
        created_by_state=_ordered_counts(created_states),
        current_by_state=_ordered_counts(current),
        published=len(published_ids),
        rejected=moved("reject"),
        returned=moved("return_to_officer"),
        revisions=moved("request_revision"),
        publish_failures=moved("mark_publish_failed"),
        corrections=len(publications) - len(published_ids),
        stages=stages,
        sections=sections,
        people=people,
        notes=notes,
        visits=tuple(visits),
    )


def _stage_names(allowances: Mapping[str, Deadline], visits: Sequence[Visit]) -> list[str]:
    names = [s.value for s in STAGES if s.value in allowances or any(
        v.stage == s.value for v in visits)]
    extra = sorted({v.stage for v in visits} - set(names))
    return names + extra


def _events_in_period(session: Session, start: datetime, end: datetime) -> list[_Event]:
    rows = session.execute(
        select(AuditEvent.item_id, AuditEvent.actor_id, AuditEvent.action,
               AuditEvent.from_state, AuditEvent.to_state, AuditEvent.note, AuditEvent.at,
               AuditEvent.id)
        .where(AuditEvent.at >= start, AuditEvent.at < end, AuditEvent.item_id.is_not(None),
               _is_move())
        .order_by(AuditEvent.at, AuditEvent.id)
    ).all()
    return [_Event(row[0] or 0, *row[1:]) for row in rows]


def _is_move() -> ColumnElement[bool]:
    return or_(AuditEvent.from_state.is_(None),
               AuditEvent.from_state != AuditEvent.to_state)


def _first_publication(history: Iterable[_Event]) -> int | None:
    """The audit id of the item's first publication, if it was ever published."""
    return next((e.id for e in history if e.to_state == Status.PUBLISHED
                 and e.from_state != Status.PUBLISHED), None)


def _histories(session: Session, item_ids: Iterable[int], end: datetime
               ) -> dict[int, list[_Event]]:
    histories: dict[int, list[_Event]] = defaultdict(list)
    ids = sorted(item_ids)
    for offset in range(0, len(ids), _CHUNK):
        rows = session.execute(
            select(AuditEvent.item_id, AuditEvent.actor_id, AuditEvent.action,
                   AuditEvent.from_state, AuditEvent.to_state, AuditEvent.note,
                   AuditEvent.at, AuditEvent.id)
            .where(AuditEvent.item_id.in_(ids[offset:offset + _CHUNK]),
                   AuditEvent.at < end, _is_move())
            .order_by(AuditEvent.item_id, AuditEvent.at, AuditEvent.id)
        ).all()
        for row in rows:
            event = _Event(row[0] or 0, *row[1:])
            histories[event.item_id].append(event)
    return histories


def _items(session: Session, item_ids: Iterable[int]) -> dict[int, tuple[str, int, str]]:
    """item id → (section, officer id, current state)."""
    ids = sorted(item_ids)
    found: dict[int, tuple[str, int, str]] = {}
    for offset in range(0, len(ids), _CHUNK):
        for row in session.execute(
            select(Item.id, Item.section, Item.officer_id, Item.state)
            .where(Item.id.in_(ids[offset:offset + _CHUNK]))
        ):
            found[row.id] = (row.section, row.officer_id, row.state)
    return found


def _names(session: Session, person_ids: Iterable[int | None]) -> dict[int | None, str]:
    ids = sorted({pid for pid in person_ids if pid is not None})
    names: dict[int | None, str] = {}
    for offset in range(0, len(ids), _CHUNK):
        for pid, name in session.execute(
            select(Person.id, Person.name).where(Person.id.in_(ids[offset:offset + _CHUNK]))
        ):
            names[pid] = name
    return names


def _visits(
    histories: Mapping[int, list[_Event]],
    items: Mapping[int, tuple[str, int, str]],
    names: Mapping[int | None, str],
    allowances: Mapping[str, Deadline],
    calendar: WorkingCalendar,
    start: datetime,
    as_of: datetime,
) -> list[Visit]:
    """Visits that ended in [start, as_of), and those still open at as_of."""
    visits: list[Visit] = []
    for item_id, events in sorted(histories.items()):
        section = items[item_id][0] if item_id in items else ""
        state: str | None = None
        entered: datetime | None = None
        for event in events:
            if event.at >= as_of:
                break
            if state is not None and entered is not None and event.at >= start:
                allowance = allowances.get(state)
                due = calendar.due(entered, allowance) if allowance is not None else None
                visits.append(Visit(
                    item_id=item_id, stage=state, section=section,
                    person_id=event.actor_id,
                    person=names.get(event.actor_id, SYSTEM) if event.actor_id else SYSTEM,
                    started_at=entered, ended_at=event.at,
                    minutes=_minutes(calendar, entered, event.at, allowance),
                    due_at=due, on_time=None if due is None else event.at <= due,
                ))
            state, entered = event.to_state, event.at
        if state is not None and entered is not None and state not in FINAL_STATES:
            allowance = allowances.get(state)
            due = calendar.due(entered, allowance) if allowance is not None else None
            visits.append(Visit(
                item_id=item_id, stage=state, section=section, person_id=None, person="",
                started_at=entered, ended_at=None,
                minutes=_minutes(calendar, entered, as_of, allowance), due_at=due,
                on_time=False if due is not None and due <= as_of else None,
            ))
    return visits


def _minutes(calendar: WorkingCalendar, a: datetime, b: datetime,
             allowance: Deadline | None) -> float:
    measure = allowance or Deadline(timedelta(0), "working")
    return calendar.elapsed(a, b, measure).total_seconds() / 60


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    value = ordered[low] + (ordered[high] - ordered[low]) * (position - low)
    return round(value, 6)  # no 114.00000000000003 minutes in a report


def nominal_minutes(deadline: Deadline, calendar: WorkingCalendar) -> float:
    """The allowance in minutes (working-day deadlines: days × a typical day)."""
    if deadline.mode != "working_days":
        return deadline.amount.total_seconds() / 60
    day = next((d for d in calendar.hours.week if d), ())
    length = sum(_clock_minutes(end, is_end=True) - _clock_minutes(begin, is_end=False)
                 for begin, end in day)
    return deadline.amount.days * length


def _clock_minutes(moment: time, *, is_end: bool) -> float:
    if is_end and moment == time(0):
        return 24 * 60.0
    return moment.hour * 60 + moment.minute + moment.second / 60


def _stage_stats(
    stage: str,
    ended: Sequence[Visit],
    still_open: Sequence[Visit],
    allowance: Deadline | None,
    text: str,
    calendar: WorkingCalendar,
) -> StageStats:
    minutes = [v.minutes for v in ended]
    return StageStats(
        stage=stage,
        allowance=text if allowance is not None else "",
        mode=allowance.mode if allowance is not None else "",
        allowance_minutes=nominal_minutes(allowance, calendar) if allowance else None,
        visits=len(ended),
        on_time=sum(1 for v in ended if v.on_time),
        median_minutes=percentile(minutes, 0.5),
        p90_minutes=percentile(minutes, 0.9),
        open=len(still_open),
        open_overdue=sum(1 for v in still_open if v.on_time is False),
    )


def _sections(
    ended: Sequence[Visit],
    items: Mapping[int, tuple[str, int, str]],
    created_ids: Iterable[int],
    published_ids: Iterable[int],
) -> tuple[GroupStats, ...]:
    visits: dict[str, list[Visit]] = defaultdict(list)
    for visit in ended:
        visits[visit.section].append(visit)
    created: dict[str, int] = defaultdict(int)
    for item_id in created_ids:
        if item_id in items:
            created[items[item_id][0]] += 1
    published: dict[str, int] = defaultdict(int)
    for item_id in published_ids:
        if item_id in items:
            published[items[item_id][0]] += 1
    return tuple(
        GroupStats(name=name, visits=len(visits[name]),
                   on_time=sum(1 for v in visits[name] if v.on_time),
                   created=created[name], published=published[name])
        for name in sorted(set(visits) | set(created) | set(published))
    )


def _people(ended: Sequence[Visit]) -> tuple[GroupStats, ...]:
    groups: dict[tuple[str, int | None], list[Visit]] = defaultdict(list)
    for visit in ended:
        groups[(visit.person, visit.person_id)].append(visit)
    order = {s.value: i for i, s in enumerate(STAGES)}
    return tuple(
        GroupStats(
            name=name, person_id=pid, visits=len(group),
            on_time=sum(1 for v in group if v.on_time),
            stages=tuple(sorted({v.stage for v in group}, key=lambda s: order.get(s, 99))),
        )
        for (name, pid), group in sorted(groups.items(),
                                         key=lambda kv: (kv[0][1] is None, kv[0][0]))
    )


def _ordered_counts(counts: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    order = [s.value for s in STATE_ORDER]
    known = [(state, counts[state]) for state in order if counts.get(state)]
    other = sorted((s, n) for s, n in counts.items() if s not in order and n)
    return tuple(known + other)
