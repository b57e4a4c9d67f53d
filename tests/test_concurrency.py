"""Two officials deciding the same item at the same moment: exactly one decision stands."""

from __future__ import annotations

import threading
from functools import partial
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.flow import item_in
from workflow.actions import Workflow
from workflow.errors import Conflict
from workflow.models import AuditEvent, OutboxMessage, Status

ROUNDS = 200


def race(sessions: sessionmaker[Session], calls: list[Any]) -> list[object]:
    """Runs each call in its own thread and session, released together by a barrier."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(index: int) -> None:
        with sessions() as own:
            barrier.wait()
            try:
                results[index] = calls[index](own)
            except Exception as error:  # the loser's error is the result under test
                results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_approve_and_reject_race(
    workflow: Workflow, sessions: sessionmaker[Session], session: Session, office: Any,
    clock: Any,
) -> None:
    now = clock.now
    winners = {"approve": 0, "reject": 0}
    for round_number in range(ROUNDS):
        item = item_in(workflow, session, office, Status.AWAITING_APPROVAL, now)
        taps = {
            "approve": partial(workflow.approve, actor=office.official, item_id=item.id,
                               now=now),
            "reject": partial(workflow.reject, actor=office.head, item_id=item.id, now=now,
                              reason="Tidak layak"),
        }
        # The thread that reaches the barrier last runs on without being woken, a head
        # start the scheduler may give one side every time; the order alternates so that
        # each side has it in half the rounds.
        order = list(taps) if round_number % 2 else list(reversed(taps))
        results = dict(zip(order, race(sessions, [taps[name] for name in order]),
                           strict=True))
        errors = [r for r in results.values() if isinstance(r, Exception)]
        assert len(errors) == 1, results
        loser = errors[0]
        assert isinstance(loser, Conflict), repr(loser)
        winner = "reject" if isinstance(results["approve"], Exception) else "approve"
        winners[winner] += 1
        assert loser.action == winner
        assert loser.by == (office.official.name if winner == "approve" else office.head.name)
        decisions = session.scalars(
            select(AuditEvent.action).where(
                AuditEvent.item_id == item.id,
                AuditEvent.action.in_(["workflow.approve", "workflow.reject"]),
            )
        ).all()
        publish_jobs = session.scalars(
            select(OutboxMessage).where(OutboxMessage.item_id == item.id,
                                        OutboxMessage.kind == "publish")
        ).all()
        session.rollback()
        assert decisions == [f"workflow.{winner}"]
        assert len(publish_jobs) == (1 if winner == "approve" else 0)
    # Both sides must have won sometimes, or the race was not a race.
    assert winners["approve"] > 0 and winners["reject"] > 0, winners


@pytest.mark.parametrize("taps", [2, 3])
def test_double_tap_same_official(
    workflow: Workflow, sessions: sessionmaker[Session], session: Session, office: Any,
    clock: Any, taps: int,
) -> None:
    item = item_in(workflow, session, office, Status.AWAITING_APPROVAL, clock.now)
    tap = partial(workflow.approve, actor=office.official, item_id=item.id, now=clock.now)
    results = race(sessions, [tap] * taps)
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, Exception))
