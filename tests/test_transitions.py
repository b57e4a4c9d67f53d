"""Every (state, action, person) combination: allowed ones move and audit, others change nothing.

The expectations below are written out from SPEC section 3 by hand, not derived from the
transitions table, so a wrong row in the table fails here.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.flow import item_in, perform
from workflow.actions import Workflow
from workflow.errors import WorkflowError
from workflow.models import AuditEvent, Item, OutboxMessage, StageDeadline, Status
from workflow.transitions import TRANSITIONS, allowed_actions

S = Status
PERSONAS = ["officer", "officer2", "editor", "editor2", "official", "admin", "head",
            "inactive", "system"]

# action -> {state: (target, people allowed)}
EXPECTED: dict[str, dict[Status, tuple[Status, set[str]]]] = {
    "update_draft": {S.DRAFT: (S.DRAFT, {"officer"}),
                     S.RETURNED_TO_OFFICER: (S.RETURNED_TO_OFFICER, {"officer"})},
    "submit": {S.DRAFT: (S.SUBMITTED, {"officer"}),
               S.RETURNED_TO_OFFICER: (S.SUBMITTED, {"officer"})},
    "cancel": {S.DRAFT: (S.CANCELLED, {"officer"})},
    "claim": {S.SUBMITTED: (S.IN_EDITING, {"editor", "editor2"})},
    "edit": {S.IN_EDITING: (S.IN_EDITING, {"editor"})},
    "forward": {S.IN_EDITING: (S.AWAITING_APPROVAL, {"editor"})},
    "return_to_officer": {S.IN_EDITING: (S.RETURNED_TO_OFFICER, {"editor"})},
    "approve": {S.AWAITING_APPROVAL: (S.APPROVED, {"official", "head"})},
    "reject": {S.AWAITING_APPROVAL: (S.REJECTED, {"official", "head"})},
    "request_revision": {S.AWAITING_APPROVAL: (S.IN_EDITING, {"official", "head"})},
    "mark_published": {S.APPROVED: (S.PUBLISHED, {"system"})},
    "mark_publish_failed": {S.APPROVED: (S.PUBLISH_FAILED, {"system"})},
    "retry_publish": {S.PUBLISH_FAILED: (S.APPROVED, {"editor", "editor2", "admin"})},
    # Section 10: a post on the site (public or hidden) may be corrected; only a public
    # one taken down; the publisher records that it is hidden.
    "open_correction": {
        state: (S.IN_EDITING, {"editor", "editor2", "official", "head"})
        for state in (S.PUBLISHED, S.WITHDRAWN)
    },
    "take_down": {S.PUBLISHED: (S.WITHDRAWING, {"official", "head"})},
    "mark_withdrawn": {S.WITHDRAWING: (S.WITHDRAWN, {"system"})},
    "release": {S.IN_EDITING: (S.SUBMITTED, {"editor"})},
    "reassign": {S.IN_EDITING: (S.IN_EDITING, {"admin", "head"})},
}


SYSTEM_ONLY = {"mark_published", "mark_publish_failed", "mark_withdrawn"}
# The claiming editor is nobody until an editor claims the item (SPEC section 3).
UNCLAIMED = {S.DRAFT, S.SUBMITTED, S.CANCELLED}
CLAIMING_EDITOR_ONLY = {"edit", "forward", "return_to_officer", "release"}


def refusal_code(action: str, state: Status, persona: str) -> str:
    """What a refusal says: who may act is checked before the state; a right person late
    is told somebody already moved the item, unless it is still a draft."""
    entitled = set().union(*(people for _, people in EXPECTED[action].values()))
    if persona not in entitled or (action in CLAIMING_EDITOR_ONLY and state in UNCLAIMED):
        return "not_allowed"
    return "wrong_state" if state is S.DRAFT else "conflict"


def test_expectations_cover_the_whole_table() -> None:
    assert set(EXPECTED) == set(TRANSITIONS)


def snapshot(session: Session, item_id: int) -> tuple[object, ...]:
    item = session.get(Item, item_id, populate_existing=True)
    assert item is not None
    counts = tuple(
        session.scalar(select(func.count()).select_from(model).where(model.item_id == item_id))
        for model in (AuditEvent, OutboxMessage, StageDeadline)
    )
    row = (item.state, item.version, item.title, item.description, item.editor_id, counts)
    session.rollback()
    return row


@pytest.mark.parametrize("action", sorted(TRANSITIONS))
@pytest.mark.parametrize("state", list(Status))
def test_every_person_in_every_state(
    workflow: Workflow, session: Session, office: object, clock: object, state: Status,
    action: str,
) -> None:
    now = clock.now  # type: ignore[attr-defined]
    allowed_here = EXPECTED[action].get(state)
    item = item_in(workflow, session, office, state, now)
    for persona in PERSONAS:
        if action in SYSTEM_ONLY and persona != "system":
            continue  # the publisher's calls take no person: nobody else can make them
        actor = None if persona == "system" else getattr(office, persona)
        before = snapshot(session, item.id)
        if allowed_here and persona in allowed_here[1]:
            offered = allowed_actions(session.get(Item, item.id), actor)
            session.rollback()
            if actor is not None:
                assert action in offered
            moved = perform(workflow, session, action, actor, item.id, now)
            assert moved.status is allowed_here[0]
            events = session.scalars(
                select(AuditEvent).where(AuditEvent.item_id == item.id,
                                         AuditEvent.id > 0).order_by(AuditEvent.id)
            ).all()
            session.rollback()
            assert len(events) == before[5][0] + 1, "one audit row per action"
            assert events[-1].actor_id == (actor.id if actor else None)
            assert events[-1].from_state == state
            assert events[-1].to_state == allowed_here[0]
            item = item_in(workflow, session, office, state, now)
        else:
            with pytest.raises(WorkflowError) as refused:
                perform(workflow, session, action, actor, item.id, now)
            assert refused.value.code == refusal_code(action, state, persona), persona
            session.rollback()
            assert snapshot(session, item.id) == before, f"{persona} changed the item"
