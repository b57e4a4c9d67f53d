"""Invitations: a link for a role lets a new person ask to join; an admin answers; all audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import Clock, Office
from workflow import invitations, people
from workflow.errors import Conflict, InvalidValue, InvitationUnusable, NotAllowed
from workflow.models import AuditEvent, Invitation, OutboxMessage, Role


def _invite(session: Session, office: Office, clock: Clock, **options: object
            ) -> invitations.NewInvitation:
    chosen: dict[str, object] = {"section": "Bidang Sosial", **options}
    return invitations.create_invitation(session, office.admin, clock.now,
                                         roles=[Role.PETUGAS], **chosen)  # type: ignore[arg-type]


def _arrive(session: Session, clock: Clock, token: str, telegram_id: int = 7001,
            name: str = "Dewi Baru") -> invitations.Arrival:
    return invitations.arrive(session, clock.now, token=token, telegram_id=telegram_id,
                              name=name, username="dewi", language_code="en-US")


def test_a_link_made_by_an_admin_lets_a_newcomer_in_after_approval(
        session: Session, office: Office, clock: Clock) -> None:
    new = _invite(session, office, clock)
    stored = session.scalars(select(Invitation)).one()
    assert new.token not in stored.token_hash and len(new.token) >= 20
    assert stored.token_hash == invitations.token_hash(new.token)

    arrival = _arrive(session, clock, new.token)
    assert arrival.person is None and arrival.request.state == "pending"
    assert people.find_by_telegram_id(session, 7001) is None  # nobody is in before a yes
    asks = session.scalars(select(OutboxMessage).where(
        OutboxMessage.template == "join.request")).one()
    assert asks.target == "admins" and asks.payload == {"request_id": arrival.request.id}

    invitations.decide(session, office.admin, clock.now, arrival.request.id, approve=True)
    person = people.find_by_telegram_id(session, 7001)
    assert person is not None and person.roles == {Role.PETUGAS}
    assert person.section == "Bidang Sosial" and person.language == "en"
    told = session.scalars(select(OutboxMessage).where(
        OutboxMessage.template == "join.approved")).one()
    assert told.recipient_id == person.id
    actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions[-4:] == ["invitation.create", "invitation.arrive", "people.add",
                            "invitation.approve"]


def test_a_single_use_link_lets_one_person_ask_and_refuses_the_next(
        session: Session, office: Office, clock: Clock) -> None:
    new = _invite(session, office, clock)
    first = _arrive(session, clock, new.token)
    assert _arrive(session, clock, new.token).request.id == first.request.id  # tapped twice
    with pytest.raises(InvitationUnusable) as refused:
        _arrive(session, clock, new.token, telegram_id=7002, name="Orang Lain")
    assert refused.value.code == "invitation_unusable" and refused.value.reason == "used"


def test_expired_revoked_and_made_up_links_let_nobody_in(
        session: Session, office: Office, clock: Clock) -> None:
    expiring = _invite(session, office, clock, valid=timedelta(days=1))
    revoked = _invite(session, office, clock, uses=5)
    invitations.revoke(session, office.admin, clock.now, revoked.invitation.id)
    clock.advance(days=1, seconds=1)
    for token, reason in ((expiring.token, "expired"), (revoked.token, "revoked"),
                          ("bukan-token-yang-benar", "unknown")):
        with pytest.raises(InvitationUnusable) as refused:
            _arrive(session, clock, token)
        assert refused.value.reason == reason
    assert invitations.pending_requests(session) == []


def test_an_invitation_can_let_people_straight_in_and_for_several_uses(
        session: Session, office: Office, clock: Clock) -> None:
    new = _invite(session, office, clock, uses=2, auto_approve=True)
    for telegram_id in (7001, 7002):
        arrival = _arrive(session, clock, new.token, telegram_id=telegram_id)
        assert arrival.person is not None and arrival.person.has_role(Role.PETUGAS)
    with pytest.raises(InvitationUnusable):
        _arrive(session, clock, new.token, telegram_id=7003)


def test_only_admins_make_links_and_answer_requests_and_the_second_answer_is_refused(
        session: Session, office: Office, clock: Clock) -> None:
    with pytest.raises(NotAllowed) as refused:
        invitations.create_invitation(session, office.editor, clock.now, roles=[Role.ADMIN])
    assert refused.value.code == "not_allowed"
    arrival = _arrive(session, clock, _invite(session, office, clock).token)
    with pytest.raises(NotAllowed):
        invitations.decide(session, office.head, clock.now, arrival.request.id, approve=True)
    invitations.decide(session, office.admin, clock.now, arrival.request.id, approve=False)
    with pytest.raises(Conflict) as late:
        invitations.decide(session, None, clock.now, arrival.request.id, approve=True)
    assert late.value.by == office.admin.name
    assert people.find_by_telegram_id(session, 7001) is None
    told = session.scalars(select(OutboxMessage).where(
        OutboxMessage.template == "join.refused")).one()
    assert told.target == "chat" and told.payload["chat_id"] == 7001


def test_someone_already_registered_cannot_use_a_link(
        session: Session, office: Office, clock: Clock) -> None:
    new = _invite(session, office, clock)
    with pytest.raises(InvalidValue) as refused:
        _arrive(session, clock, new.token, telegram_id=office.editor.telegram_id)
    assert refused.value.code == "invalid"
    assert session.get(Invitation, new.invitation.id).uses_left == 1  # type: ignore[union-attr]


@pytest.mark.parametrize("options", [{"uses": 0}, {"uses": 101}, {"valid": timedelta(0)},
                                     {"valid": timedelta(days=91)}, {"section": "x" * 201}])
def test_an_invitation_out_of_bounds_is_refused(
        session: Session, office: Office, clock: Clock, options: dict[str, object]) -> None:
    with pytest.raises(InvalidValue) as refused:
        _invite(session, office, clock, **options)
    assert refused.value.code == "invalid"
    assert session.scalars(select(Invitation)).all() == []


def test_a_role_change_adds_or_removes_one_role_and_says_what_changed(
        session: Session, office: Office, clock: Clock) -> None:
    change = people.change_roles(session, office.admin, clock.now, office.head.telegram_id,
                                 add=[Role.ADMIN])
    assert change.person.roles == {Role.KEPALA, Role.PEJABAT, Role.ADMIN}
    assert change.added == {Role.ADMIN} and change.removed == frozenset()
    change = people.change_roles(session, office.admin, clock.now, office.head.telegram_id,
                                 remove=[Role.PEJABAT])
    assert change.person.roles == {Role.KEPALA, Role.ADMIN} and change.removed == {Role.PEJABAT}
    change = people.change_roles(session, office.admin, clock.now, office.head.telegram_id,
                                 exactly=[Role.PEJABAT])
    assert change.added == {Role.PEJABAT} and change.removed == {Role.KEPALA, Role.ADMIN}
    moved = people.set_section(session, office.admin, clock.now, office.officer.telegram_id,
                               "  Bidang   PMD ")
    assert moved.section == "Bidang PMD"
