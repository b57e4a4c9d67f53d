"""Hand-over of claimed work and acting officials (Plt/Plh), as the office sees them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.scheduler import sweep_once
from telesim import SimUser, StoredMessage
from tests.botkit import ALERT_CHAT, IT_CHAT, Office, start_office
from tests.conftest import Clock
from workflow import delegation, people
from workflow.actions import Edit
from workflow.errors import WorkflowError
from workflow.models import AuditEvent, Role, StageDeadline, Status

# Wednesday 2026-12-02 10:00 in Jakarta: office hours, no holiday.
WEDNESDAY = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
SECOND_EDITOR = (2002, "Rina Editor", Role.EDITOR)
DEPUTY = (7001, "Bu Rini Sekretaris", Role.EDITOR)


@pytest.fixture
async def office_and_clock(tmp_path: Path) -> AsyncIterator[tuple[Office, Clock]]:
    clock = Clock(WEDNESDAY)
    async for office in start_office(tmp_path, clock=clock):
        yield office, clock


def enrol(office: Office, telegram_id: int, name: str, *roles: Role) -> SimUser:
    with office.warta.sessions() as session:
        people.add_person(session, None, office.warta.now(), telegram_id=telegram_id,
                          name=name, roles=roles)
    return office.double.user(telegram_id, name.split()[0], language_code="id")


def submitted(office: Office, officer_key: str = "officer") -> int:
    wf, now = office.warta.workflow, office.warta.now()
    officer = office.person(officer_key)
    with office.warta.sessions() as session:
        item = wf.create_draft(session, officer, now, description="Musyawarah desa")
        wf.submit(session, officer, item.id, now)
    return item.id


async def claimed_in_bot(office: Office, item_id: int, who: SimUser) -> StoredMessage:
    """The editor presses Ambil on the IT card; returns their private editing panel."""
    await office.flush()
    card = await office.double.wait_for_message(IT_CHAT, contains=f"#{item_id}")
    await office.double.click(who, card, "✋ Ambil")
    return await office.double.wait_for_message(who, lambda m: "↩️ Lepas" in m.button_texts)


def open_stage(office: Office, item_id: int) -> tuple[int, str, datetime, datetime]:
    with office.warta.sessions() as session:
        rows = session.scalars(select(StageDeadline).where(
            StageDeadline.item_id == item_id, StageDeadline.closed_at.is_(None))).all()
        assert len(rows) == 1, rows
        return rows[0].id, rows[0].stage, rows[0].started_at, rows[0].due_at


def current(office: Office, message: StoredMessage) -> StoredMessage:
    return office.double.message(message.chat_id, message.message_id)


async def test_release_returns_the_item_to_the_queue_on_the_same_clock(
        office_and_clock: tuple[Office, Clock]) -> None:
    office, clock = office_and_clock
    double = office.double
    rina = enrol(office, *SECOND_EDITOR)
    item_id = submitted(office)
    panel = await claimed_in_bot(office, item_id, office.editor)
    with office.warta.sessions() as session:
        office.warta.workflow.edit(session, office.person("editor"), item_id,
                                   office.warta.now(), Edit(title="Musdes Ampah"))
    stage = open_stage(office, item_id)
    assert stage[1] == Status.IN_EDITING
    clock.now += timedelta(hours=1)

    await double.click(office.editor, panel, "↩️ Lepas")
    await double.wait_for_message(office.editor, contains="dilepas")
    item = office.item(item_id)
    assert item.status is Status.SUBMITTED and item.editor_id is None
    assert item.title == "Musdes Ampah"  # the work done so far stays
    await office.flush()
    await double.wait_for_message(IT_CHAT, contains="kembali ke antrean (dilepas Eko")
    await double.wait_until(lambda: not current(office, panel).buttons)
    card = next(m for m in double.messages(IT_CHAT) if f"#{item_id} " in (m.plain or "")
                and m.buttons)
    assert card.button_texts == ["✋ Ambil"]

    await double.click(rina, card, "✋ Ambil")
    await double.wait_for_message(rina, lambda m: "↩️ Lepas" in m.button_texts)
    assert office.item(item_id).editor_id == office.person_by(2002).id
    assert open_stage(office, item_id) == stage  # the clock from the first claim runs on


async def test_reassign_moves_the_item_and_tells_both_editors(
        office_and_clock: tuple[Office, Clock]) -> None:
    office, clock = office_and_clock
    double = office.double
    rina = enrol(office, *SECOND_EDITOR)
    item_id = submitted(office)
    panel = await claimed_in_bot(office, item_id, office.editor)
    stage = open_stage(office, item_id)
    clock.now += timedelta(minutes=40)

    await double.send_command(office.editor, "alihkan", f"{item_id} 2002")
    await double.wait_for_message(office.editor, contains="tidak berwenang")
    await double.send_command(office.admin, "alihkan", f"{item_id} 1001")
    await double.wait_for_message(office.admin, contains="bukan editor aktif")
    await double.send_command(office.admin, "alihkan", f"{item_id} 2001")
    await double.wait_for_message(office.admin, contains="sudah dipegang")
    await double.send_command(office.admin, "alihkan", f"{item_id} 2002")
    await double.wait_for_message(office.admin, contains="dialihkan ke Rina Editor")

    await office.flush()
    told = "dialihkan dari Eko Editor ke Rina Editor oleh Ani Admin"
    await double.wait_for_message(office.editor, contains=told)
    await double.wait_for_message(rina, contains=told)
    new_panel = await double.wait_for_message(rina, lambda m: "↩️ Lepas" in m.button_texts)
    assert f"#{item_id}" in (new_panel.plain or "")
    await double.wait_until(lambda: not current(office, panel).buttons)
    assert open_stage(office, item_id) == stage  # reassigning does not restart the clock
    await double.send_command(office.editor, "judul", f"{item_id} Judul lama")
    await double.wait_for_message(office.editor, contains="bukan milik")
    await double.send_command(rina, "judul", f"{item_id} Judul baru")
    await double.wait_for_message(rina, contains="judul disimpan")


async def test_deactivating_an_editor_releases_their_claims(
        office_and_clock: tuple[Office, Clock]) -> None:
    office, _clock = office_and_clock
    double = office.double
    kept = submitted(office)
    claimed = submitted(office)
    await claimed_in_bot(office, claimed, office.editor)
    await double.send_command(office.admin, "pengguna", "nonaktif 2001")
    await double.wait_for_message(office.admin, contains="Eko Editor")
    assert office.item(claimed).status is Status.SUBMITTED
    assert office.item(claimed).editor_id is None
    assert office.item(kept).status is Status.SUBMITTED
    await office.flush()
    notice = await double.wait_for_message(IT_CHAT, contains="kembali ke antrean")
    assert f"#{claimed}" in (notice.plain or "")
    with office.warta.sessions() as session:
        release = session.scalars(select(AuditEvent).where(
            AuditEvent.item_id == claimed, AuditEvent.action == "workflow.release")).one()
        assert release.actor_id == office.person("admin").id
        assert release.data["reason"] == "deactivated"


async def test_a_deputy_decides_inside_the_range_as_plt_and_not_after(
        office_and_clock: tuple[Office, Clock]) -> None:
    office, clock = office_and_clock
    double = office.double
    deputy = enrol(office, *DEPUTY)
    joko = office.official

    await double.send_command(joko, "wakil", "3001 2026-12-02 2026-12-04")
    await double.wait_for_message(joko, contains="diri sendiri")
    await double.send_command(joko, "wakil", "7001 2026-11-02 2026-11-04")
    await double.wait_for_message(joko, contains="sudah lewat")
    await double.send_command(joko, "wakil", "7001 02/12/2026 04/12/2026 plt")
    saved = await double.wait_for_message(joko, contains="Plt. untuk Pak Joko")
    assert "Bu Rini Sekretaris" in (saved.plain or "")
    await double.send_command(office.official2, "wakil", "7001 2026-12-03 2026-12-05")
    # Bu Wati may name the same deputy for herself; Pak Joko may not overlap his own.
    await double.wait_for_message(office.official2, contains="Plt. untuk Bu Wati")
    await double.send_command(joko, "wakil", "2001 2026-12-04 2026-12-06")
    await double.wait_for_message(joko, contains="Bertabrakan")
    await double.send_command(joko, "wakil", "")
    listing = await double.wait_for_message(joko, contains="berjalan dan mendatang")
    assert "Bu Rini Sekretaris — Plt. untuk Pak Joko" in (listing.plain or "")

    first = office.awaiting_approval()
    later = office.awaiting_approval()
    await office.flush()
    card = await double.wait_for_message(deputy, contains=f"#{first} ")
    await double.click(deputy, card, "✅ Setujui")
    await double.wait_for_message(deputy, contains="disetujui")
    assert office.item(first).status is Status.APPROVED
    await office.flush()
    await double.wait_for_message(
        office.officer, contains="disetujui oleh Bu Rini Sekretaris (Plt. untuk Pak Joko)")
    await double.wait_until(lambda: "Bu Rini Sekretaris (Plt. untuk Pak Joko)"
                            in (current(office, card).plain or ""))
    await double.send_command(office.officer, "riwayat", str(first))
    await double.wait_for_message(office.officer, contains="(Plt. untuk Pak Joko) menyetujui")

    later_card = await double.wait_for_message(deputy, contains=f"#{later} ")
    clock.now = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)  # Monday: both ranges are over
    await double.click(deputy, later_card, "✅ Setujui")
    await double.settle()
    assert office.item(later).status is Status.AWAITING_APPROVAL
    with office.warta.sessions() as session, pytest.raises(WorkflowError) as refused:
        office.warta.workflow.approve(session, office.person_by(7001), later,
                                      office.warta.now())
    assert refused.value.code == "not_allowed"


async def test_nobody_decides_on_their_own_item_deputy_or_not(
        office_and_clock: tuple[Office, Clock]) -> None:
    office, _clock = office_and_clock
    double = office.double
    both = enrol(office, 8001, "Pak Dedi Kabid", Role.PETUGAS, Role.PEJABAT)
    wf, now = office.warta.workflow, office.warta.now()
    dedi, editor = office.person_by(8001), office.person("editor")
    with office.warta.sessions() as session:
        item = wf.create_draft(session, dedi, now, description="Rapat bidang")
        wf.submit(session, dedi, item.id, now)
        wf.claim(session, editor, item.id, now)
        wf.edit(session, editor, item.id, now, Edit(title="Rapat Bidang", body="Isi"))
        wf.forward(session, editor, item.id, now)
    await office.flush()
    card = await double.wait_for_message(both, lambda m: "✅ Setujui" in m.button_texts)
    await double.click(both, card, "✅ Setujui")
    await double.settle()
    assert office.item(item.id).status is Status.AWAITING_APPROVAL
    with office.warta.sessions() as session, pytest.raises(WorkflowError) as refused:
        wf.approve(session, office.person_by(8001), item.id, now)
    assert refused.value.code == "own_item"
    # A deputy acting for an official is refused on their own item just the same.
    with office.warta.sessions() as session:
        delegation.delegate(session, None, now, now.date(), principal_telegram_id=3001,
                            delegate_telegram_id=1001, starts_on=now.date(),
                            ends_on=now.date())
    own = office.awaiting_approval()
    with office.warta.sessions() as session, pytest.raises(WorkflowError) as refused:
        wf.reject(session, office.person("officer"), own, now, "Tidak")
    assert refused.value.code == "own_item"


async def test_no_approver_alerts_the_admins_at_once(
        office_and_clock: tuple[Office, Clock]) -> None:
    office, _clock = office_and_clock
    double = office.double
    with office.warta.sessions() as session:
        for official in (3001, 3002):
            people.set_active(session, None, office.warta.now(), official, False)
    item_id = office.awaiting_approval()
    await office.flush()
    alert = await double.wait_for_message(ALERT_CHAT, contains="tidak ada pejabat aktif")
    assert f"#{item_id}" in (alert.plain or "")
    await double.wait_for_message(office.admin, contains="tidak ada pejabat aktif")


async def test_reminders_about_a_late_approval_reach_the_deputy(
        office_and_clock: tuple[Office, Clock]) -> None:
    office, clock = office_and_clock
    double = office.double
    deputy = enrol(office, *DEPUTY)
    with office.warta.sessions() as session:
        delegation.delegate(session, None, office.warta.now(), WEDNESDAY.date(),
                            principal_telegram_id=3001, delegate_telegram_id=7001,
                            starts_on=WEDNESDAY.date(), ends_on=WEDNESDAY.date())
    item_id = office.awaiting_approval()
    clock.now += timedelta(minutes=90)  # the approval allowance (1 h) has passed
    assert sweep_once(office.warta).late == 1
    await office.flush()
    alert = await double.wait_for_message(deputy, contains="terlambat")
    assert f"#{item_id}" in (alert.plain or "")


async def test_an_officers_submitted_items_go_on_without_them(
        office_and_clock: tuple[Office, Clock]) -> None:
    office, _clock = office_and_clock
    double = office.double
    item_id = submitted(office)
    await double.send_command(office.admin, "pengguna", "nonaktif 1001")
    await double.wait_for_message(office.admin, contains="Sari Petugas")
    panel = await claimed_in_bot(office, item_id, office.editor)
    assert f"#{item_id}" in (panel.plain or "")
    assert office.item(item_id).status is Status.IN_EDITING
