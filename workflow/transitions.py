"""The SOP as one table: every action, where it may start, where it leads, who may take it.

The bot builds its buttons from `allowed_actions`, and every operation in `actions` checks
the same table through `check`, so what is offered and what is accepted cannot drift apart.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from workflow.audience import Audience
from workflow.errors import NotAllowed, WrongState
from workflow.models import Item, Person, Role, Status

S = Status


class Owner(enum.Enum):
    """Whose item it must be for the actor to act on it."""

    ANYONE = "anyone"  # any holder of an allowed role
    OFFICER = "officer"  # the officer who created the item
    EDITOR = "editor"  # the editor who claimed it


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[Status]
    target: Status | None  # None: the item stays where it is (an edit)
    roles: frozenset[Role]  # empty: only the system (the publisher) takes it
    owner: Owner = Owner.ANYONE
    needs_note: bool = False
    notify: tuple[Audience, ...] = ()
    queues_publish: bool = False


def _t(
    action: str,
    sources: Iterable[Status],
    target: Status | None,
    roles: Iterable[Role],
    owner: Owner = Owner.ANYONE,
    *,
    needs_note: bool = False,
    notify: tuple[Audience, ...] = (),
    queues_publish: bool = False,
) -> Transition:
    return Transition(
        action, frozenset(sources), target, frozenset(roles), owner, needs_note, notify,
        queues_publish,
    )


A = Audience
P, E, J, ADM = Role.PETUGAS, Role.EDITOR, Role.PEJABAT, Role.ADMIN
OFFICER_WORK = (S.DRAFT, S.RETURNED_TO_OFFICER)

TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        _t("update_draft", OFFICER_WORK, None, [P], Owner.OFFICER),
        _t("submit", OFFICER_WORK, S.SUBMITTED, [P], Owner.OFFICER, notify=(A.IT_TEAM,)),
        _t("cancel", [S.DRAFT], S.CANCELLED, [P], Owner.OFFICER),
        _t("claim", [S.SUBMITTED], S.IN_EDITING, [E], notify=(A.OFFICER, A.CARDS)),
        _t("edit", [S.IN_EDITING], None, [E], Owner.EDITOR),
        _t("forward", [S.IN_EDITING], S.AWAITING_APPROVAL, [E], Owner.EDITOR,
           notify=(A.OFFICIALS, A.CARDS)),
        _t("return_to_officer", [S.IN_EDITING], S.RETURNED_TO_OFFICER, [E], Owner.EDITOR,
           needs_note=True, notify=(A.OFFICER, A.CARDS)),
        _t("approve", [S.AWAITING_APPROVAL], S.APPROVED, [J],
           notify=(A.OFFICER, A.EDITOR, A.CARDS), queues_publish=True),
        _t("reject", [S.AWAITING_APPROVAL], S.REJECTED, [J], needs_note=True,
           notify=(A.OFFICER, A.EDITOR, A.CARDS)),
        _t("request_revision", [S.AWAITING_APPROVAL], S.IN_EDITING, [J], needs_note=True,
           notify=(A.EDITOR, A.CARDS)),
        _t("mark_published", [S.APPROVED], S.PUBLISHED, [],
           notify=(A.OFFICER, A.EDITOR, A.DECIDER, A.CARDS)),
        _t("mark_publish_failed", [S.APPROVED], S.PUBLISH_FAILED, [],
           notify=(A.ALERT, A.EDITOR)),
        _t("retry_publish", [S.PUBLISH_FAILED], S.APPROVED, [E, ADM], queues_publish=True),
    )
}


def check(transition: Transition, item: Item, actor: Person | None) -> None:
    """Raises unless `actor` (None: the system) may take `transition` on `item` now."""
    _check_actor(transition, item, actor)
    if item.status not in transition.sources:
        raise WrongState(f"{transition.action} does not apply to a {item.state} item",
                         action=transition.action, state=item.state)


def _check_actor(transition: Transition, item: Item, actor: Person | None) -> None:
    if actor is None:
        if transition.roles:
            raise NotAllowed(f"{transition.action} needs a person", action=transition.action)
        return
    if not actor.active or not any(actor.has_role(role) for role in transition.roles):
        raise NotAllowed(f"{transition.action} is not for this person's roles",
                         action=transition.action, reason="role")
    if transition.owner is Owner.OFFICER and item.officer_id != actor.id:
        raise NotAllowed("not this officer's item", action=transition.action, reason="owner")
    if transition.owner is Owner.EDITOR and item.editor_id != actor.id:
        raise NotAllowed("claimed by another editor", action=transition.action, reason="owner")


def allowed_actions(item: Item, actor: Person | None) -> list[str]:
    """The actions `actor` may take on `item` right now, in table order (for buttons)."""
    allowed = []
    for transition in TRANSITIONS.values():
        try:
            check(transition, item, actor)
        except (NotAllowed, WrongState):
            continue
        allowed.append(transition.action)
    return allowed


def can_view(item: Item, person: Person) -> bool:
    """Officers see their own items; the office's staff roles see every item."""
    if not person.active:
        return False
    if item.officer_id == person.id:
        return True
    return bool(person.roles & {Role.EDITOR, Role.PEJABAT, Role.ADMIN, Role.KEPALA})
