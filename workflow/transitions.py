"""The SOP as one table: every action, where it may start, where it leads, who may take it.

The bot builds its buttons from `allowed_actions`, and every operation in `actions` checks
the same table through `check`, so what is offered and what is accepted cannot drift apart.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from workflow.acting import Acting
from workflow.audience import Audience
from workflow.errors import NotAllowed, OwnItem, WrongState
from workflow.models import Item, Person, Role, Status

S = Status


class Action(enum.StrEnum):
    """Every step of the SOP, by the one name the table, the buttons' callback data, the
    audit rows (``workflow.<value>``) and the outbox templates (``item.<value>``) use."""

    UPDATE_DRAFT = "update_draft"
    SUBMIT = "submit"
    CANCEL = "cancel"
    CLAIM = "claim"
    EDIT = "edit"
    FORWARD = "forward"
    RETURN_TO_OFFICER = "return_to_officer"
    APPROVE = "approve"
    REJECT = "reject"
    REQUEST_REVISION = "request_revision"
    MARK_PUBLISHED = "mark_published"
    MARK_PUBLISH_FAILED = "mark_publish_failed"
    RETRY_PUBLISH = "retry_publish"
    # After publishing: a correction (ralat) goes through editing and approval again and
    # updates the same post; a take-down hides the post (never deletes it).
    OPEN_CORRECTION = "open_correction"
    TAKE_DOWN = "take_down"
    MARK_WITHDRAWN = "mark_withdrawn"
    # Hand-over of claimed work (SPEC section 10).
    RELEASE = "release"
    REASSIGN = "reassign"

    @property
    def audit_verb(self) -> str:
        return f"workflow.{self.value}"

    @property
    def notice_template(self) -> str:
        return f"item.{self.value}"


class WebsiteJob(enum.StrEnum):
    """What a transition asks of the website, through the publisher's outbox row."""

    NONE = ""
    PUBLISH = "publish"  # the item's post as approved: made, or updated once published
    WITHDRAW = "withdraw"


class Owner(enum.Enum):
    """Whose item it must be for the actor to act on it."""

    ANYONE = "anyone"  # any holder of an allowed role
    OFFICER = "officer"  # the officer who created the item
    EDITOR = "editor"  # the editor who claimed it


@dataclass(frozen=True)
class Transition:
    action: Action
    sources: frozenset[Status]
    target: Status | None  # None: the item stays where it is (an edit)
    roles: frozenset[Role]  # empty: only the system (the publisher) takes it
    owner: Owner = Owner.ANYONE
    needs_note: bool = False
    notify: tuple[Audience, ...] = ()
    website: WebsiteJob = WebsiteJob.NONE
    # A hand-over: the stage's clock runs on from the first entry into it (see actions).
    keeps_clock: bool = False
    # A decision: refused to the item's own officer, whatever their roles or delegation.
    not_own: bool = False


def _t(
    action: Action,
    sources: Iterable[Status],
    target: Status | None,
    roles: Iterable[Role],
    owner: Owner = Owner.ANYONE,
    *,
    needs_note: bool = False,
    notify: tuple[Audience, ...] = (),
    website: WebsiteJob = WebsiteJob.NONE,
    keeps_clock: bool = False,
    not_own: bool = False,
) -> Transition:
    return Transition(
        action, frozenset(sources), target, frozenset(roles), owner, needs_note, notify,
        website, keeps_clock, not_own,
    )


A = Audience
P, E, J, ADM, K = Role.PETUGAS, Role.EDITOR, Role.PEJABAT, Role.ADMIN, Role.KEPALA
OFFICER_WORK = (S.DRAFT, S.RETURNED_TO_OFFICER)
ON_THE_SITE = (S.PUBLISHED, S.WITHDRAWN)  # a post exists (public or hidden)
PUBLISH = WebsiteJob.PUBLISH

TRANSITIONS: dict[Action, Transition] = {
    t.action: t
    for t in (
        _t(Action.UPDATE_DRAFT, OFFICER_WORK, None, [P], Owner.OFFICER),
        _t(Action.SUBMIT, OFFICER_WORK, S.SUBMITTED, [P], Owner.OFFICER, notify=(A.IT_TEAM,)),
        _t(Action.CANCEL, [S.DRAFT], S.CANCELLED, [P], Owner.OFFICER),
        _t(Action.CLAIM, [S.SUBMITTED], S.IN_EDITING, [E], notify=(A.OFFICER, A.CARDS)),
        _t(Action.EDIT, [S.IN_EDITING], None, [E], Owner.EDITOR, notify=(A.CARDS,)),
        _t(Action.FORWARD, [S.IN_EDITING], S.AWAITING_APPROVAL, [E], Owner.EDITOR,
           notify=(A.OFFICIALS, A.CARDS)),
        _t(Action.RETURN_TO_OFFICER, [S.IN_EDITING], S.RETURNED_TO_OFFICER, [E], Owner.EDITOR,
           needs_note=True, notify=(A.OFFICER, A.CARDS)),
        _t(Action.APPROVE, [S.AWAITING_APPROVAL], S.APPROVED, [J],
           notify=(A.OFFICER, A.EDITOR, A.CARDS), website=PUBLISH, not_own=True),
        _t(Action.REJECT, [S.AWAITING_APPROVAL], S.REJECTED, [J], needs_note=True,
           notify=(A.OFFICER, A.EDITOR, A.CARDS), not_own=True),
        _t(Action.REQUEST_REVISION, [S.AWAITING_APPROVAL], S.IN_EDITING, [J], needs_note=True,
           notify=(A.EDITOR, A.CARDS), not_own=True),
        _t(Action.MARK_PUBLISHED, [S.APPROVED], S.PUBLISHED, [],
           notify=(A.OFFICER, A.EDITOR, A.DECIDER, A.CARDS)),
        _t(Action.MARK_PUBLISH_FAILED, [S.APPROVED], S.PUBLISH_FAILED, [],
           notify=(A.ALERT, A.EDITOR)),
        _t(Action.RETRY_PUBLISH, [S.PUBLISH_FAILED], S.APPROVED, [E, ADM], website=PUBLISH),
        # A correction is editing again (same checks, same deadline), of an item whose
        # post exists: approving it updates that post (see actions.website_job).
        _t(Action.OPEN_CORRECTION, ON_THE_SITE, S.IN_EDITING, [E, J], needs_note=True,
           notify=(A.EDITOR, A.CARDS)),
        _t(Action.TAKE_DOWN, [S.PUBLISHED], S.WITHDRAWING, [J], needs_note=True,
           notify=(A.CARDS,), website=WebsiteJob.WITHDRAW),
        _t(Action.MARK_WITHDRAWN, [S.WITHDRAWING], S.WITHDRAWN, [],
           notify=(A.OFFICER, A.EDITOR, A.OFFICIALS, A.CARDS)),
        # Hand-over: back to the claim queue, or to another editor, on the same clock.
        _t(Action.RELEASE, [S.IN_EDITING], S.SUBMITTED, [E], Owner.EDITOR,
           notify=(A.IT_TEAM, A.CARDS), keeps_clock=True),
        _t(Action.REASSIGN, [S.IN_EDITING], S.IN_EDITING, [ADM, K],
           notify=(A.PREVIOUS_EDITOR, A.EDITOR, A.CARDS), keeps_clock=True),
    )
}


def check(transition: Transition, item: Item, actor: Person | None,
          acting: Acting | None = None) -> None:
    """Raises unless `actor` (None: the system) may take `transition` on `item` now;
    `acting` is the delegation by which `actor` decides for an official today, if any."""
    _check_actor(transition, item, actor, acting)
    if item.status not in transition.sources:
        raise WrongState(f"{transition.action} does not apply to a {item.state} item",
                         action=transition.action, state=item.state)


def _check_actor(transition: Transition, item: Item, actor: Person | None,
                 acting: Acting | None) -> None:
    if actor is None:
        if transition.roles:
            raise NotAllowed(f"{transition.action} needs a person", action=transition.action)
        return
    roles = set(actor.roles)
    if acting is not None and acting.delegate.id == actor.id:
        roles.add(J)  # a running delegation from a pejabat makes its delegate one
    if not actor.active or not roles & transition.roles:
        raise NotAllowed(f"{transition.action} is not for this person's roles",
                         action=transition.action, reason="role")
    if transition.not_own and item.officer_id == actor.id:
        raise OwnItem("nobody decides on their own item", action=transition.action)
    if transition.owner is Owner.OFFICER and item.officer_id != actor.id:
        raise NotAllowed("not this officer's item", action=transition.action, reason="owner")
    if transition.owner is Owner.EDITOR and item.editor_id != actor.id:
        raise NotAllowed("claimed by another editor", action=transition.action, reason="owner")


def allowed_actions(item: Item, actor: Person | None,
                    acting: Acting | None = None) -> list[Action]:
    """The actions `actor` may take on `item` right now, in table order (for buttons)."""
    allowed = []
    for transition in TRANSITIONS.values():
        try:
            check(transition, item, actor, acting)
        except (NotAllowed, WrongState):
            continue
        allowed.append(transition.action)
    return allowed


def open_actions(item: Item) -> list[Action]:
    """The actions people may take on `item` in its state, whoever they are (for buttons in
    shared chats: a press is checked again, against the presser)."""
    return [transition.action for transition in TRANSITIONS.values()
            if transition.roles and item.status in transition.sources]


STAFF_ROLES = frozenset({Role.EDITOR, Role.PEJABAT, Role.ADMIN, Role.KEPALA})


def sees_every_item(person: Person) -> bool:
    """The office's staff roles see every item (lists filter on it in the database)."""
    return person.active and bool(person.roles & STAFF_ROLES)


def can_view(item: Item, person: Person) -> bool:
    """Officers see their own items; the office's staff roles see every item."""
    if not person.active:
        return False
    return item.officer_id == person.id or sees_every_item(person)
