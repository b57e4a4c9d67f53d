"""Typed refusals from the workflow.

Each carries a stable `code` and the facts the interface needs to explain it in the
person's language; no sentence meant for a user is written here.
"""

from __future__ import annotations

from datetime import datetime


class WorkflowError(Exception):
    code = "error"

    def __init__(self, detail: str = "", **facts: object) -> None:
        super().__init__(detail or self.code)
        self.facts = facts


class NotFound(WorkflowError):
    """The item or person does not exist (or is not visible to the asker)."""

    code = "not_found"


class NotRegistered(WorkflowError):
    """The Telegram user is unknown or deactivated."""

    code = "not_registered"


class NotAllowed(WorkflowError):
    """The person lacks the role, or the item is not theirs to act on."""

    code = "not_allowed"


class OwnItem(NotAllowed):
    """A decision on one's own item: refused to everyone, delegate or not."""

    code = "own_item"


class WrongState(WorkflowError):
    """The action does not apply to the item in its current state."""

    code = "wrong_state"


class Conflict(WrongState):
    """Somebody else acted first: says who, what and when, for the loser of a race."""

    code = "conflict"

    def __init__(self, detail: str, *, by: str, at: datetime, action: str, state: str) -> None:
        super().__init__(detail, by=by, at=at, action=action, state=state)
        self.by = by
        self.at = at
        self.action = action
        self.state = state


class MissingNote(WorkflowError):
    """A reason or note is required and was empty."""

    code = "missing_note"


class Incomplete(WorkflowError):
    """The item lacks something the action needs (media or text, a title, a body)."""

    code = "incomplete"


class InvalidValue(WorkflowError):
    """A value given to an edit cannot be used (unknown media, bad role, duplicate id...)."""

    code = "invalid"


class InvitationUnusable(WorkflowError):
    """An invitation link that cannot let anyone in: unknown, expired, used up or revoked.

    `reason` says which, so the answer can tell the person what to ask their admin for."""

    code = "invitation_unusable"

    def __init__(self, detail: str, *, reason: str) -> None:
        super().__init__(detail, reason=reason)
        self.reason = reason


class DelegationRefused(WorkflowError):
    """A delegation that cannot be made; `reason` says why (self, inactive, not_official,
    past, reversed, overlap, too_long)."""

    code = "delegation_refused"

    def __init__(self, detail: str, *, reason: str, **facts: object) -> None:
        super().__init__(detail, reason=reason, **facts)
        self.reason = reason
