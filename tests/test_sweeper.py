"""Deadline alerts and the daily digest, as the people of the office notice them.

Time is pinned: Wednesday 2026-11-25 09:00 WIB is the start (tests.conftest.START). The
default SOP allowances apply: submitted 3 working hours, draft 1 working day, approval
1 hour, approved 1 clock hour; reminder at 2x, escalation at 3x.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from tests.flow import PHOTO, item_in, perform
from workflow import db, outbox
from workflow.actions import Workflow
from workflow.config import AlertSettings, Settings, working_calendar
from workflow.digest import DigestEntry, daily_digest, queue_digest
from workflow.models import OutboxKind, OutboxMessage, StageDeadline, Status
from workflow.sweeper import SweepResult, sweep, threshold

WIB = ZoneInfo("Asia/Jakarta")
CALENDAR = working_calendar(Settings())
ALERTS = AlertSettings()


def wib(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=WIB)


def run(session: Session, now: datetime) -> SweepResult:
    return sweep(session, now, ALERTS, CALENDAR)


def deadline_rows(session: Session, item_id: int | None = None) -> list[OutboxMessage]:
    query = select(OutboxMessage).where(OutboxMessage.template.like("deadline.%"))
    if item_id is not None:
        query = query.where(OutboxMessage.item_id == item_id)
    rows = list(session.scalars(query.order_by(OutboxMessage.id)))
    session.rollback()
    return rows


def targets(rows: list[OutboxMessage], template: str, item_id: int) -> set[tuple[str, Any]]:
    return {(r.target, r.recipient_id) for r in rows
            if r.template == template and r.item_id == item_id}


def reopen(engine: Engine) -> Engine:
    """A new engine on the same database: what a restarted process gets."""
    return db.make_engine(engine.url.render_as_string(hide_password=False))


def submitted_item(workflow: Workflow, session: Session, office: Any, at: datetime) -> int:
    item = workflow.create_draft(session, office.officer, at, description="Posyandu")
    workflow.add_media(session, office.officer, item.id, at, PHOTO)
    workflow.submit(session, office.officer, item.id, at)
    return item.id


# --------------------------------------------------------------------------- alerts


def test_one_alert_one_reminder_one_escalation_through_restarts(
    workflow: Workflow, engine: Engine, session: Session, office: Any
) -> None:
    # Submitted Wednesday 09:00: due 12:00, reminder at 6 working hours (15:00),
    # escalation at 9 (Wednesday until 16:00 is 7, then Thursday 07:30 + 2 = 09:30).
    item_id = submitted_item(workflow, session, office, wib(25, 9))
    moments = [wib(25, 11, 59), wib(25, 12, 1), wib(25, 12, 2), wib(25, 14, 59),
               wib(25, 15, 0), wib(25, 16, 30), wib(26, 9, 29), wib(26, 9, 30),
               wib(26, 10), wib(27, 9), wib(30, 9), wib(2, 9, month=12)]
    results = []
    current = engine
    for moment in moments:
        # Every run is a fresh process: new engine, new session, and it runs twice.
        restarted = reopen(current)
        with db.session_factory(restarted)() as fresh:
            results.append(run(fresh, moment))
            results.append(run(fresh, moment))
        restarted.dispose()
    assert [(r.alerts, r.reminders, r.escalations) for r in results] == [
        (0, 0, 0), (0, 0, 0),  # 11:59 not yet due
        (1, 0, 0), (0, 0, 0),  # 12:01 the alert, once
        (0, 0, 0), (0, 0, 0),
        (0, 0, 0), (0, 0, 0),  # 14:59 not yet 2x
        (0, 1, 0), (0, 0, 0),  # 15:00 the reminder
        (0, 0, 0), (0, 0, 0),
        (0, 0, 0), (0, 0, 0),  # Thursday 09:29 not yet 3x
        (0, 0, 1), (0, 0, 0),  # 09:30 the escalation
        (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0),
        (0, 0, 0),
    ]
    rows = deadline_rows(session, item_id)
    assert Counter(r.template for r in rows) == {
        "deadline.overdue": 2, "deadline.reminder": 2, "deadline.escalation": 2}
    # The IT team chat and the webmaster hear of a submission nobody claims; the Head of
    # Office (Kepala Dinas, person 5001) gets the escalation.
    assert targets(rows, "deadline.overdue", item_id) == {("it_team", None), ("alert", None)}
    assert targets(rows, "deadline.reminder", item_id) == {("it_team", None), ("alert", None)}
    assert targets(rows, "deadline.escalation", item_id) == {
        ("person", office.head.id), ("alert", None)}
    assert all(r.kind == OutboxKind.NOTIFY and r.done_at is None for r in rows)
    deadline = session.scalars(select(StageDeadline).where(
        StageDeadline.item_id == item_id, StageDeadline.closed_at.is_(None))).one()
    assert deadline.alerted_at == wib(25, 12, 1)
    assert deadline.reminded_at == wib(25, 15)
    assert deadline.escalated_at == wib(26, 9, 30)


def test_payload_tells_what_is_late_and_by_how_much(
    workflow: Workflow, session: Session, office: Any
) -> None:
    item_id = submitted_item(workflow, session, office, wib(25, 9, 10))
    run(session, wib(25, 12, 55))
    row = next(r for r in deadline_rows(session, item_id) if r.target == "it_team")
    assert row.template == "deadline.overdue"
    assert row.payload == {
        "deadline_id": row.payload["deadline_id"],
        "item_id": item_id,
        "stage": "submitted",
        "level": "alert",
        "title": "Posyandu",
        "section": "Bidang Sosial",
        "officer_id": office.officer.id,
        "editor_id": None,
        "started_at": "2026-11-25T09:10:00+07:00",
        "due_at": "2026-11-25T12:10:00+07:00",
        "late_minutes": 45,
        "late_clock_minutes": 45,
        "allowance_minutes": 180,
        "mode": "working",
    }
    assert row.idempotency_key == f"deadline:{row.payload['deadline_id']}:alert:it_team:"


def test_no_alert_for_stages_finished_in_time(
    workflow: Workflow, session: Session, office: Any
) -> None:
    o = office
    item_id = submitted_item(workflow, session, o, wib(25, 9))
    steps = [("claim", o.editor, wib(25, 11, 30)), ("edit", o.editor, wib(25, 12)),
             ("forward", o.editor, wib(25, 14)), ("approve", o.official, wib(25, 14, 50)),
             ("mark_published", None, wib(25, 15, 20))]
    for action, actor, at in steps:
        run(session, at)
        perform(workflow, session, action, actor, item_id, at)
    late = item_in(workflow, session, o, Status.AWAITING_APPROVAL, wib(25, 9))
    for moment in (wib(25, 16), wib(26, 12), wib(2, 12, month=12), wib(1, 12, month=12)):
        run(session, moment)
    assert deadline_rows(session, item_id) == []
    assert len(deadline_rows(session, late.id)) > 0  # the sweeper did run


def test_calendar_aware_friday_afternoon_submission(
    workflow: Workflow, session: Session, office: Any
) -> None:
    # Friday 15:50 + 3 working hours (Friday closes 16:30) = Monday 09:50.
    item_id = submitted_item(workflow, session, office, wib(27, 15, 50))
    for quiet in (wib(27, 16, 45), wib(27, 21), wib(28, 12), wib(29, 23, 59),
                  wib(30, 7, 30), wib(30, 9, 49)):
        assert run(session, quiet) == SweepResult(), quiet
    assert deadline_rows(session, item_id) == []
    result = run(session, wib(30, 9, 51))
    assert (result.alerts, result.reminders, result.escalations) == (1, 0, 0)
    payload = deadline_rows(session, item_id)[0].payload
    assert payload["due_at"] == "2026-11-30T09:50:00+07:00"
    assert payload["late_minutes"] == 1


def test_threshold_in_the_deadlines_own_terms() -> None:
    from workflow.calendar import Deadline

    # Working time: 3h from Friday 15:50 is Monday 09:50; 2x is Monday 12:50.
    assert threshold(CALENDAR, wib(27, 15, 50), wib(30, 9, 50), 2,
                     Deadline.parse("3h")) == wib(30, 12, 50)
    # Working days: a draft opened Friday 10:00 is due Monday 10:00; 2x Tuesday 10:00.
    assert threshold(CALENDAR, wib(27, 10), wib(30, 10), 2,
                     Deadline.parse("1d")) == wib(1, 10, month=12)
    # Clock: approved at 20:00 with 1 clock hour; 3x is 23:00 the same night.
    assert threshold(CALENDAR, wib(25, 20), wib(25, 21), 3,
                     Deadline.parse("1h clock")) == wib(25, 23)


def test_who_hears_about_each_late_stage(
    workflow: Workflow, session: Session, office: Any
) -> None:
    o = office
    at = wib(25, 9)
    items = {state: item_in(workflow, session, o, state, at).id for state in (
        Status.DRAFT, Status.RETURNED_TO_OFFICER, Status.IN_EDITING,
        Status.AWAITING_APPROVAL, Status.APPROVED, Status.PUBLISH_FAILED)}
    # Two weeks later every level of every stage has passed: each goes out once.
    result = run(session, wib(9, 9, month=12))
    assert (result.alerts, result.reminders, result.escalations) == (6, 6, 6)
    assert run(session, wib(10, 9, month=12)) == SweepResult()
    rows = deadline_rows(session)
    alert = ("alert", None)
    officials = {("person", o.official.id), ("person", o.official2.id),
                 ("person", o.head.id)}  # the inactive pejabat is left out
    expected = {
        Status.DRAFT: {("person", o.officer.id), alert},
        Status.RETURNED_TO_OFFICER: {("person", o.officer.id), alert},
        Status.IN_EDITING: {("person", o.editor.id), alert},
        Status.AWAITING_APPROVAL: officials | {alert},
        Status.APPROVED: {alert},
        Status.PUBLISH_FAILED: {alert},
    }
    for state, item_id in items.items():
        assert targets(rows, "deadline.overdue", item_id) == expected[state], state
        assert targets(rows, "deadline.reminder", item_id) == expected[state], state
        assert targets(rows, "deadline.escalation", item_id) == {
            ("person", o.head.id), alert}, state
    assert len(rows) == len({r.idempotency_key for r in rows})


def test_rejection_notice_deadline(
    workflow: Workflow, session: Session, office: Any
) -> None:
    at = wib(25, 9)
    told = item_in(workflow, session, office, Status.REJECTED, at)
    untold = item_in(workflow, session, office, Status.REJECTED, at)
    # The bot delivered the first rejection's notices; the second one's are stuck.
    for row in session.scalars(select(OutboxMessage).where(
            OutboxMessage.item_id == told.id, OutboxMessage.template == "item.reject")).all():
        outbox.finish(session, row.id, wib(25, 9, 1))
    assert run(session, wib(25, 9, 29)) == SweepResult()
    result = run(session, wib(25, 9, 31))
    assert (result.alerts, result.closed) == (1, 1)
    assert deadline_rows(session, told.id) == []
    assert {(r.target, r.template) for r in deadline_rows(session, untold.id)} == {
        ("alert", "deadline.overdue")}
    closed = session.scalars(select(StageDeadline).where(
        StageDeadline.item_id == told.id, StageDeadline.stage == "rejected")).one()
    assert closed.closed_at == wib(25, 9, 1)


def race(sessions: sessionmaker[Session], now: datetime, runners: int = 2) -> list[Any]:
    barrier = threading.Barrier(runners)
    results: list[Any] = [None] * runners

    def work(index: int) -> None:
        with sessions() as own:
            barrier.wait()
            try:
                results[index] = sweep(own, now, ALERTS, CALENDAR, batch_size=3)
            except Exception as error:  # reported by the assertion below
                results[index] = error

    threads = [threading.Thread(target=work, args=(i,)) for i in range(runners)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


@pytest.mark.parametrize("runners", [2, 3])
def test_concurrent_sweepers_send_each_message_once(
    workflow: Workflow, engine: Engine, session: Session, office: Any, runners: int
) -> None:
    sessions = db.session_factory(engine)
    states = (Status.SUBMITTED, Status.IN_EDITING, Status.AWAITING_APPROVAL, Status.DRAFT)
    for round_ in range(5):
        start = wib(2 + round_, 9, month=12)  # Wednesday 2 December onwards
        created = [item_in(workflow, session, office, states[i % 4], start).id
                   for i in range(8)]
        # First the alerts (and the approval's reminder and escalation) race, then, two
        # weeks on, everything left.
        total = SweepResult()
        for moment in (wib(2 + round_, 16, month=12), wib(16 + round_, 16, month=12)):
            results = race(sessions, moment, runners)
            assert not [r for r in results if isinstance(r, Exception)], results
            total = sum(results, total)
        rows = [r for r in deadline_rows(session) if r.item_id in created]
        per_level = Counter((r.payload["deadline_id"], r.payload["level"]) for r in rows
                            if r.target == "alert")
        assert len(per_level) == 8 * 3, round_
        assert set(per_level.values()) == {1}, per_level
        assert (total.alerts, total.reminders, total.escalations) == (8, 8, 8)


# --------------------------------------------------------------------------- digest


def seed_office(workflow: Workflow, session: Session, office: Any) -> dict[str, int]:
    """Items waiting on different people since different moments (Mon 23 - Wed 25 Nov)."""
    o = office
    plans: dict[str, tuple[Any, list[tuple[str, Any, datetime]]]] = {
        "old_submission": (o.officer, [("submit", o.officer, wib(23, 10))]),
        "new_submission": (o.officer2, [("submit", o.officer2, wib(24, 9))]),
        "editing_eko": (o.officer, [("submit", o.officer, wib(23, 13)),
                                    ("claim", o.editor, wib(24, 10))]),
        "editing_rina": (o.officer2, [("submit", o.officer2, wib(23, 14)),
                                      ("claim", o.editor2, wib(24, 11))]),
        "approval": (o.officer, [("submit", o.officer, wib(24, 7, 40)),
                                 ("claim", o.editor, wib(24, 8)),
                                 ("edit", o.editor, wib(24, 8)),
                                 ("forward", o.editor, wib(25, 8))]),
        "to_publish": (o.officer, [("submit", o.officer, wib(24, 7, 30)),
                                   ("claim", o.editor, wib(24, 7, 35)),
                                   ("edit", o.editor, wib(24, 7, 40)),
                                   ("forward", o.editor, wib(24, 7, 45)),
                                   ("approve", o.official, wib(25, 8, 30))]),
        "draft": (o.officer2, []),
        "published": (o.officer, [("submit", o.officer, wib(24, 8)),
                                  ("claim", o.editor, wib(24, 8)),
                                  ("edit", o.editor, wib(24, 8)),
                                  ("forward", o.editor, wib(24, 8)),
                                  ("approve", o.official, wib(24, 8)),
                                  ("mark_published", None, wib(24, 8))]),
        "rejected": (o.officer, [("submit", o.officer, wib(24, 8)),
                                 ("claim", o.editor, wib(24, 8)),
                                 ("edit", o.editor, wib(24, 8)),
                                 ("forward", o.editor, wib(24, 8)),
                                 ("reject", o.official, wib(24, 8))]),
    }
    created_at = {"draft": wib(25, 8, 45)}
    ids = {}
    for name, (officer, steps) in plans.items():
        at = created_at.get(name, wib(23, 8))
        item = workflow.create_draft(session, officer, at, description=f"Berita {name}")
        workflow.add_media(session, officer, item.id, at, PHOTO)
        for action, actor, moment in steps:
            perform(workflow, session, action, actor, item.id, moment)
        ids[name] = item.id
    return ids


def lines_of(entries: list[DigestEntry], target: str, person: int | None) -> list[int]:
    entry = next((e for e in entries if (e.target, e.recipient_id) == (target, person)), None)
    return [] if entry is None else [line.item_id for line in entry.lines]


def test_digest_says_what_waits_on_whom_oldest_first(
    workflow: Workflow, session: Session, office: Any
) -> None:
    o = office
    ids = seed_office(workflow, session, o)
    entries = daily_digest(session, wib(25, 9), CALENDAR)
    session.rollback()
    i = ids
    assert lines_of(entries, "person", o.editor.id) == [
        i["old_submission"], i["new_submission"], i["editing_eko"]]
    assert lines_of(entries, "person", o.editor2.id) == [
        i["old_submission"], i["new_submission"], i["editing_rina"]]
    for official in (o.official, o.official2, o.head):
        assert lines_of(entries, "person", official.id) == [i["approval"]]
    assert lines_of(entries, "alert", None) == [
        i["old_submission"], i["new_submission"], i["editing_eko"], i["editing_rina"],
        i["approval"], i["to_publish"], i["draft"]]
    # Officers, the admin and deactivated people get no digest.
    assert {(e.target, e.recipient_id) for e in entries} == {
        ("person", o.editor.id), ("person", o.editor2.id), ("person", o.official.id),
        ("person", o.official2.id), ("person", o.head.id), ("alert", None)}
    old = next(e for e in entries if e.target == "alert").lines[0]
    assert old.state == "submitted" and old.officer == "Sari Petugas"
    assert old.waiting_since == wib(23, 10)
    assert old.overdue and old.due_at == wib(23, 13)
    # Mon 10:00-16:00, Tue 07:30-16:00, Wed 07:30-09:00 = 6 + 8.5 + 1.5 hours.
    assert old.waiting_minutes == 16 * 60


def test_digest_queued_once_per_working_day(
    workflow: Workflow, session: Session, office: Any
) -> None:
    seed_office(workflow, session, office)
    assert queue_digest(session, wib(25, 7), CALENDAR, not_before=ALERTS.digest_time) == 0
    assert queue_digest(session, wib(25, 7, 30), CALENDAR,
                        not_before=ALERTS.digest_time) == 6
    assert queue_digest(session, wib(25, 7, 31), CALENDAR) == 0
    assert queue_digest(session, wib(25, 15), CALENDAR) == 0
    assert queue_digest(session, wib(29, 7, 30), CALENDAR) == 0  # Sunday
    assert queue_digest(session, wib(25, 7, 30, month=12), CALENDAR) == 0  # Christmas
    assert queue_digest(session, wib(26, 7, 30), CALENDAR) == 6  # Thursday: a new day
    rows = list(session.scalars(select(OutboxMessage).where(
        OutboxMessage.template == "digest.daily").order_by(OutboxMessage.id)))
    assert len(rows) == 12
    assert {r.idempotency_key for r in rows if r.target == "alert"} == {
        "digest:2026-11-25:alert:", "digest:2026-11-26:alert:"}
    editor_row = next(r for r in rows if r.recipient_id == office.editor.id)
    assert editor_row.idempotency_key == f"digest:2026-11-25:person:{office.editor.id}"
    payload = editor_row.payload
    assert payload["date"] == "2026-11-25" and payload["count"] == 3
    assert payload["overdue"] == 3 and payload["more"] == 0
    assert set(payload["lines"][0]) == {
        "item_id", "state", "title", "section", "officer", "editor", "waiting_since",
        "due_at", "overdue", "waiting_minutes"}
    assert payload["lines"][0]["waiting_since"] == "2026-11-23T10:00:00+07:00"


def test_concurrent_digest_writers_queue_once(
    workflow: Workflow, engine: Engine, session: Session, office: Any
) -> None:
    seed_office(workflow, session, office)
    sessions = db.session_factory(engine)
    barrier = threading.Barrier(2)
    counts: list[Any] = [None, None]

    def work(index: int) -> None:
        with sessions() as own:
            barrier.wait()
            try:
                counts[index] = queue_digest(own, wib(25, 7, 30), CALENDAR)
            except Exception as error:
                counts[index] = error

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(counts) == [0, 6], counts
