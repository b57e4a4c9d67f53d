"""Who decides for an official today: the running delegations (Plt/Plh), read only.

Kept apart from `workflow.delegation` (which makes and revokes them) so that the
transitions, the audience and the actions can ask without importing the people module.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow.models import WITH_ROLES, Delegation, Person, Role


class Title(enum.StrEnum):
    """Pelaksana Tugas (standing in for a vacant or long-absent post) or Pelaksana Harian
    (for a few days' absence): the office writes them differently on letters."""

    PLT = "Plt"
    PLH = "Plh"


@dataclass(frozen=True)
class Acting:
    """Someone deciding for an official today, and in whose name."""

    delegate: Person
    principal: Person
    title: Title

    @property
    def facts(self) -> dict[str, object]:
        """What the audit row keeps, so the record says in whose name a decision was."""
        return {"acting_for": self.principal.id, "acting_for_name": self.principal.name,
                "acting_title": self.title.value}


def acting_for(session: Session, person: Person, today: date) -> Acting | None:
    """The official `person` decides for today, if any (the first named, if several)."""
    for running in running_delegations(session, today):
        if running.delegate_id == person.id:
            return Acting(running.delegate, running.principal, Title(running.title))
    return None


def running_delegations(session: Session, today: date) -> Sequence[Delegation]:
    """Delegations in force today whose two people are active, the principal a pejabat."""
    rows = session.scalars(select(Delegation).where(
        Delegation.revoked_at.is_(None), Delegation.starts_on <= today,
        Delegation.ends_on >= today).order_by(Delegation.id)).all()
    session.scalars(select(Person).where(  # roles of both sides, in one statement
        Person.id.in_({r.principal_id for r in rows} | {r.delegate_id for r in rows})
    ).options(WITH_ROLES)).unique().all()
    return [r for r in rows if r.delegate.active and r.principal.has_role(Role.PEJABAT)]
