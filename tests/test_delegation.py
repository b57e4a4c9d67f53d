"""Acting officials (Plt/Plh): who may name a delegate, for which days, and who is refused."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy.orm import Session

from tests.conftest import Clock, Office
from workflow import delegation
from workflow.errors import DelegationRefused, NotAllowed

TODAY = date(2026, 11, 25)


def _delegate(session: Session, office: Office, clock: Clock, *, by: object = None,
              principal: int = 3001, to: int = 2001, starts: int = 0, ends: int = 4
              ) -> object:
    return delegation.delegate(
        session, by, clock.now, TODAY, principal_telegram_id=principal,  # type: ignore[arg-type]
        delegate_telegram_id=to, starts_on=TODAY + timedelta(days=starts),
        ends_on=TODAY + timedelta(days=ends))


def test_a_delegate_acts_for_the_official_inside_the_range_only(
        session: Session, office: Office, clock: Clock) -> None:
    _delegate(session, office, clock, by=office.official, starts=1, ends=3)
    assert delegation.acting_for(session, office.editor, TODAY) is None
    acting = delegation.acting_for(session, office.editor, TODAY + timedelta(days=1))
    assert acting is not None and acting.principal.name == office.official.name
    assert acting.facts["acting_title"] == "Plt"
    assert delegation.acting_for(session, office.editor, TODAY + timedelta(days=3)) is not None
    assert delegation.acting_for(session, office.editor, TODAY + timedelta(days=4)) is None


def test_an_admin_may_name_a_delegate_for_an_official_and_anyone_else_may_not(
        session: Session, office: Office, clock: Clock) -> None:
    _delegate(session, office, clock, by=office.admin)
    with pytest.raises(NotAllowed) as refused:
        _delegate(session, office, clock, by=office.official2, principal=3001, to=2002,
                  starts=10, ends=12)
    assert refused.value.code == "not_allowed"


@pytest.mark.parametrize(("options", "reason"), [
    ({"to": 3001}, "self"),
    ({"to": 6001}, "inactive"),
    ({"principal": 2001, "to": 2002}, "not_official"),
    ({"starts": -5, "ends": -1}, "past"),
    ({"starts": 3, "ends": 1}, "reversed"),
    ({"ends": 400}, "too_long"),
])
def test_a_delegation_that_cannot_work_is_refused_with_its_reason(
        session: Session, office: Office, clock: Clock, options: dict[str, int],
        reason: str) -> None:
    with pytest.raises(DelegationRefused) as refused:
        _delegate(session, office, clock, **options)  # type: ignore[arg-type]
    assert refused.value.code == "delegation_refused" and refused.value.reason == reason
    assert delegation.listed(session, TODAY) == []


def test_overlapping_ranges_for_one_official_are_refused_and_revoking_frees_them(
        session: Session, office: Office, clock: Clock) -> None:
    first = _delegate(session, office, clock, starts=0, ends=4)
    with pytest.raises(DelegationRefused) as refused:
        _delegate(session, office, clock, to=2002, starts=4, ends=8)
    assert refused.value.reason == "overlap"
    _delegate(session, office, clock, to=2002, starts=5, ends=8)  # the day after is free
    delegation.revoke(session, None, clock.now, first.id)  # type: ignore[attr-defined]
    assert delegation.acting_for(session, office.editor, TODAY) is None
    _delegate(session, office, clock, to=2002, starts=0, ends=4)


def test_a_delegation_stops_counting_when_the_official_loses_the_role(
        session: Session, office: Office, clock: Clock) -> None:
    from workflow import people
    from workflow.models import Role

    _delegate(session, office, clock)
    people.change_roles(session, None, clock.now, 3001, remove=[Role.PEJABAT])
    assert delegation.acting_for(session, office.editor, TODAY) is None
