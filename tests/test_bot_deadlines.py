"""Late stages, the daily digest and /laporan, as the office sees them in Telegram."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.scheduler import sweep_once
from tests.botkit import ALERT_CHAT, IT_CHAT, Office, start_office
from tests.conftest import Clock

# Friday 2026-11-27 15:50 in Jakarta (08:50 UTC): 3 working hours run out Monday 09:50.
FRIDAY = datetime(2026, 11, 27, 8, 50, tzinfo=UTC)


@pytest.fixture
async def timed_office(tmp_path: Path) -> AsyncIterator[tuple[Office, Clock]]:
    clock = Clock(FRIDAY)
    async for office in start_office(tmp_path, clock=clock):
        yield office, clock


async def submit_item(office: Office) -> int:
    wf, now = office.warta.workflow, office.warta.now()
    officer = office.person("officer")
    with office.warta.sessions() as session:
        item = wf.create_draft(session, officer, now, description="Musyawarah desa")
        wf.submit(session, officer, item.id, now)
    return item.id


async def test_late_claim_is_alerted_once_then_reminded(
    timed_office: tuple[Office, Clock],
) -> None:
    office, clock = timed_office
    double = office.double
    item_id = await submit_item(office)
    await office.flush()
    await double.wait_for_message(IT_CHAT, contains=f"#{item_id}")
    clock.now = datetime(2026, 11, 30, 2, 49, tzinfo=UTC)  # Monday 09:49: not yet late
    assert sweep_once(office.warta).late == 0
    clock.now = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)  # Monday 10:00: 10 minutes late
    assert sweep_once(office.warta).late == 1  # one late stage: IT team + webmaster told
    await office.flush()
    alert = await double.wait_for_message(IT_CHAT, contains="terlambat")
    assert f"#{item_id}" in alert.plain and "menunggu editor" in alert.plain
    assert "10 menit" in alert.plain
    await double.wait_for_message(ALERT_CHAT, contains="terlambat")
    assert sweep_once(office.warta).late == 0  # once, not every minute
    clock.now += timedelta(hours=3)  # 2x the allowance in working time
    assert sweep_once(office.warta).late == 1
    await office.flush()
    await double.wait_for_message(IT_CHAT, contains="Pengingat")


async def test_digest_and_report(timed_office: tuple[Office, Clock]) -> None:
    office, clock = timed_office
    double = office.double
    item_id = await submit_item(office)
    clock.now = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # Monday 08:00, after 07:30
    sweep_once(office.warta)
    await office.flush()
    digest = await double.wait_for_message(office.editor, contains="Menunggu hari ini")
    assert f"#{item_id} Musyawarah desa" in digest.plain
    await double.send_command(office.admin, "laporan", "bulan")
    text = await double.wait_for_message(office.admin, contains="Laporan SOP")
    assert "Item baru: 1" in text.plain
    chart = await double.wait_for_message(office.admin, lambda m: m.kind == "photo")
    assert chart.data and chart.data.startswith(b"\x89PNG")
    await double.send_command(office.officer, "laporan")
    refused = await double.wait_for_message(office.officer)
    assert "tidak berwenang" in refused.plain


async def test_long_digest_fits_one_message(timed_office: tuple[Office, Clock]) -> None:
    office, clock = timed_office
    wf, officer = office.warta.workflow, office.person("officer")
    with office.warta.sessions() as session:
        for n in range(120):
            item = wf.create_draft(session, officer, clock.now,
                                   description=f"Kegiatan panjang nomor {n} " + "x" * 40)
            wf.submit(session, officer, item.id, clock.now)
    clock.now = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
    sweep_once(office.warta)
    await office.flush()
    digest = await office.double.wait_for_message(office.editor, contains="Menunggu hari ini")
    assert len(digest.plain) <= 4096 and "lagi (/antrian)" in digest.plain
