"""SOP reports checked against a hand-computed week, and their CSV, XLSX and PNG forms.

The week of Monday 23 November 2026 (WIB), default SOP allowances and office hours
(Mon-Thu 07:30-16:00, Fri 07:30-16:30). Every step below is pinned; the expected figures
are worked out by hand in the comments of `week`.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from PIL import Image
from sqlalchemy.orm import Session

from tests.flow import PHOTO, perform
from workflow.actions import Workflow
from workflow.config import DeadlineSettings, Settings, working_calendar
from workflow.reports.export import export, to_csv, to_png, to_xlsx
from workflow.reports.statistics import Report, build_report, percentile, period_for
from workflow.reports.text import format_text

WIB = ZoneInfo("Asia/Jakarta")
CALENDAR = working_calendar(Settings())
DEADLINES = DeadlineSettings()


def wib(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=WIB)


WEEK = (wib(23, 0), wib(30, 0))


def week(workflow: Workflow, session: Session, office: Any) -> dict[str, int]:
    o = office
    sari, budi, eko, rina = o.officer, o.officer2, o.editor, o.editor2
    joko, head = o.official, o.head
    plans: dict[str, tuple[Any, datetime, list[tuple[str, Any, datetime]]]] = {
        # Created the Friday before; only its later stages fall in the week.
        # submitted Fri 15:30 -> Mon 08:00 = 60 + 30 = 90 working min (due Mon 09:30),
        # in_editing 30, awaiting 30, approved 2 (clock).
        "F": (sari, wib(20, 15), [
            ("submit", sari, wib(20, 15, 30)), ("claim", eko, wib(23, 8)),
            ("edit", eko, wib(23, 8, 10)), ("forward", eko, wib(23, 8, 30)),
            ("approve", joko, wib(23, 9)), ("mark_published", None, wib(23, 9, 2))]),
        # draft 30, submitted 60, in_editing 90, awaiting 30, approved 10: all on time.
        "A": (sari, wib(23, 8), [
            ("submit", sari, wib(23, 8, 30)), ("claim", eko, wib(23, 9, 30)),
            ("edit", eko, wib(23, 10)), ("forward", eko, wib(23, 11)),
            ("approve", joko, wib(23, 11, 30)), ("mark_published", None, wib(23, 11, 40))]),
        # draft 60; submitted 300 (due 13:00: late); in_editing Mon 15-16 + Tue 7:30-9
        # = 150 (due Tue 09:30); awaiting 120 (due 10:00: late); approved 5.
        "B": (budi, wib(23, 9), [
            ("submit", budi, wib(23, 10)), ("claim", rina, wib(23, 15)),
            ("edit", rina, wib(23, 15, 10)), ("forward", rina, wib(24, 9)),
            ("approve", head, wib(24, 11)), ("mark_published", None, wib(24, 11, 5))]),
        # draft 60, submitted 10, in_editing 60, awaiting 30, then rejected.
        "C": (sari, wib(24, 8), [
            ("submit", sari, wib(24, 9)), ("claim", eko, wib(24, 9, 10)),
            ("edit", eko, wib(24, 9, 20)), ("forward", eko, wib(24, 10, 10)),
            ("reject", joko, wib(24, 10, 40))]),
        # draft 30, submitted 10, in_editing 60, returned 60, submitted 200 (due 13:40:
        # late), in_editing 60, awaiting 20, in_editing Wed 15:20-16 + Thu 7:30-8 = 70,
        # awaiting 30, approved 5, publish_failed 55 (clock), approved 10.
        "D": (budi, wib(25, 8), [
            ("submit", budi, wib(25, 8, 30)), ("claim", eko, wib(25, 8, 40)),
            ("return_to_officer", eko, wib(25, 9, 40)), ("submit", budi, wib(25, 10, 40)),
            ("claim", rina, wib(25, 14)), ("edit", rina, wib(25, 14, 30)),
            ("forward", rina, wib(25, 15)), ("request_revision", joko, wib(25, 15, 20)),
            ("forward", rina, wib(26, 8)), ("approve", joko, wib(26, 8, 30)),
            ("mark_publish_failed", None, wib(26, 8, 35)),
            ("retry_publish", rina, wib(26, 9, 30)), ("mark_published", None, wib(26, 9, 40))]),
        # Still a draft at the end of the week: open, and overdue since Friday 08:00.
        "E": (sari, wib(26, 8), []),
    }
    ids = {}
    for name, (officer, created, steps) in plans.items():
        item = workflow.create_draft(session, officer, created, description=f"Kegiatan {name}")
        workflow.add_media(session, officer, item.id, created, PHOTO)
        for action, actor, at in steps:
            perform(workflow, session, action, actor, item.id, at)
        ids[name] = item.id
    return ids


@pytest.fixture
def report(workflow: Workflow, session: Session, office: Any) -> Report:
    week(workflow, session, office)
    return build_report(session, *WEEK, CALENDAR, DEADLINES)


def figures(report: Report, stage: str) -> tuple[Any, ...]:
    s = report.stage(stage)
    return (s.visits, s.on_time, s.median_minutes, s.p90_minutes, s.allowance_minutes,
            s.open, s.open_overdue)


def test_stage_figures_match_the_hand_computed_week(report: Report) -> None:
    # (visits, on time, median, p90, SOP minutes, open, open & overdue)
    assert figures(report, "draft") == (4, 4, 45, 60, 510, 1, 1)  # [30, 30, 60, 60]
    # [10, 10, 60, 90, 200, 300]: median (60+90)/2, p90 at rank 4.5: 200 + 0.5 * 100
    assert figures(report, "submitted") == (6, 4, 75, 250, 180, 0, 0)
    # [30, 60, 60, 60, 70, 90, 150]: p90 at rank 5.4: 90 + 0.4 * 60
    assert figures(report, "in_editing") == (7, 7, 60, 114, 180, 0, 0)
    # [20, 30, 30, 30, 30, 120]: p90 at rank 4.5: 30 + 0.5 * 90
    assert figures(report, "awaiting_approval") == (6, 5, 30, 75, 60, 0, 0)
    assert figures(report, "approved") == (5, 5, 5, 10, 60, 0, 0)  # [2, 5, 5, 10, 10]
    assert figures(report, "returned_to_officer") == (1, 1, 60, 60, 510, 0, 0)
    assert figures(report, "publish_failed") == (1, 1, 55, 55, 60, 0, 0)
    assert [s.stage for s in report.stages] == [
        "draft", "submitted", "in_editing", "awaiting_approval", "approved",
        "returned_to_officer", "publish_failed"]
    assert (report.on_time, report.visit_count) == (27, 30)
    assert report.stage("submitted").on_time_rate == pytest.approx(4 / 6)


def test_counts_sections_people_and_reasons(report: Report) -> None:
    assert report.created == 5  # A, B, C, D, E (F was made the week before)
    assert report.created_by_state == (("draft", 1), ("published", 3), ("rejected", 1))
    assert report.current_by_state == (("draft", 1), ("published", 4), ("rejected", 1))
    assert (report.published, report.rejected, report.returned, report.revisions,
            report.publish_failures) == (4, 1, 1, 1, 1)
    sections = {g.name: (g.visits, g.on_time, g.created, g.published)
                for g in report.sections}
    assert sections == {"Bidang Sosial": (13, 13, 3, 2), "Bidang PMD": (17, 14, 2, 2)}
    people = {g.name: (g.visits, g.on_time, g.stages) for g in report.people}
    assert people == {
        "Sari Petugas": (2, 2, ("draft",)),
        "Budi Petugas": (3, 3, ("draft", "returned_to_officer")),
        "Eko Editor": (8, 8, ("submitted", "in_editing")),
        "Rina Editor": (6, 4, ("submitted", "in_editing", "publish_failed")),
        "Pak Joko Pejabat": (5, 5, ("awaiting_approval",)),
        "Kepala Dinas": (1, 0, ("awaiting_approval",)),
        "Sistem": (5, 5, ("approved",)),
    }
    assert [(n.kind, n.by, n.note) for n in report.notes] == [
        ("reject", "Pak Joko Pejabat", "Tidak layak tayang"),
        ("return_to_officer", "Eko Editor", "Fotonya kurang"),
        ("request_revision", "Pak Joko Pejabat", "Perbaiki judul"),
    ]
    assert [n.section for n in report.rejections] == ["Bidang Sosial"]


def test_visits_are_counted_in_the_period_they_end(
    workflow: Workflow, session: Session, office: Any
) -> None:
    week(workflow, session, office)
    before = build_report(session, wib(16, 0), wib(23, 0), CALENDAR, DEADLINES)
    # Only F existed: its draft ended on Friday; its submission was still waiting at the
    # end of that week, and not yet late (due Monday 09:30).
    assert figures(before, "draft") == (1, 1, 30, 30, 510, 0, 0)
    assert figures(before, "submitted")[:2] == (0, 0)
    assert figures(before, "submitted")[5:] == (1, 0)
    assert before.created == 1 and before.published == 0
    # A week still running: as of Thursday noon, E's draft (due Friday 08:00) is open but
    # not late, and D's last steps (Thursday morning) are in.
    running = build_report(session, *WEEK, CALENDAR, DEADLINES, now=wib(26, 12))
    assert figures(running, "draft")[5:] == (1, 0)
    assert running.published == 4
    assert build_report(session, wib(1, 0, month=12), wib(8, 0, month=12), CALENDAR,
                        DEADLINES).visit_count == 0


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7], 0.9) == 7
    assert percentile([10, 10, 60, 90, 200, 300], 0.5) == 75
    assert percentile([10, 10, 60, 90, 200, 300], 0.9) == 250


def test_period_keywords() -> None:
    now = wib(25, 14)
    assert period_for("minggu", now, WIB) == (wib(23, 0), wib(30, 0))
    assert period_for("minggu-lalu", now, WIB) == (wib(16, 0), wib(23, 0))
    assert period_for("bulan", now, WIB) == (wib(1, 0), wib(1, 0, month=12))
    assert period_for("bulan-lalu", now, WIB) == (wib(1, 0, month=10), wib(1, 0))
    assert period_for("2026-12", now, WIB) == (
        wib(1, 0, month=12), datetime(2027, 1, 1, tzinfo=WIB))
    assert period_for(" Bulan ", now, WIB) == period_for("month", now, WIB)
    # Late on Sunday in Jakarta is still that week, although it is Sunday noon in UTC.
    assert period_for("minggu", wib(29, 23, 30), WIB) == (wib(23, 0), wib(30, 0))
    for wrong in ("tahun", "2026-13", "2026"):
        with pytest.raises(ValueError, match="unknown period"):
            period_for(wrong, now, WIB)


def test_text_in_indonesian_and_english(report: Report) -> None:
    text = format_text(report)
    assert "Laporan SOP publikasi website" in text
    assert "Periode: 23 Nov 2026 s.d. 29 Nov 2026" in text
    assert ("- Menunggu editor: 6 kali, median 75 mnt, P90 4 j 10 mnt, batas SOP 3 jam kerja, "
            "tepat waktu 4/6 (67%)") in text
    assert "- Draf: 4 kali" in text and "masih berjalan 1 (terlambat 1)" in text
    assert "- Bidang PMD: tepat waktu 14/17 (82%), item baru 2, terbit 2" in text
    assert "Tidak layak tayang" in text and "Pak Joko Pejabat" in text
    english = format_text(report, language="en")
    assert "Website publishing SOP report" in english
    assert "- Waiting for an editor: 6 times, median 75 min" in english
    assert "SOP allowance" not in text
    assert ("- Publishing failed: 1 time, median 55 min, P90 55 min, SOP allowance 1 hour,"
            in english)
    assert "- Draft: 4 times" in english and "SOP allowance 1 working day," in english


# --------------------------------------------------------------------------- exports


def test_csv_parses_and_carries_the_figures(report: Report) -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    submitted = next(r for r in rows if (r["kelompok"], r["nama"]) == ("tahap", "submitted"))
    assert submitted["jumlah"] == "6" and submitted["tepat_waktu"] == "4"
    assert float(submitted["median_menit"]) == 75 and float(submitted["p90_menit"]) == 250
    assert float(submitted["persen_tepat_waktu"]) == pytest.approx(66.7)
    assert submitted["batas_sop"] == "3h"
    summary = {r["nama"]: r["jumlah"] for r in rows if r["kelompok"] == "ringkasan"}
    assert summary["item_baru"] == "5" and summary["published"] == "4"
    assert any(r["kelompok"] == "catatan_reject" and "Tidak layak tayang" in r["keterangan"]
               for r in rows)
    assert export(report, "csv") == to_csv(report)


def test_xlsx_reopens_with_headers_and_numbers(report: Report, tmp_path: Path) -> None:
    path = to_xlsx(report, tmp_path / "laporan.xlsx")
    book = load_workbook(path)
    assert book.sheetnames == ["Ringkasan", "Tahap", "Bidang", "Orang", "Catatan", "Rincian"]
    stages = book["Tahap"]
    header = [c.value for c in stages[1]]
    assert header[:6] == ["Tahap", "Jumlah", "Median (menit)", "P90 (menit)",
                          "Batas SOP (menit)", "Batas SOP"]
    assert "% tepat waktu" in header
    rows = {r[0]: r for r in stages.iter_rows(min_row=2, values_only=True)}
    claim = rows["Menunggu editor"]
    assert claim[1:8] == (6, 75, 250, 180, "3 jam kerja", 4, 2)
    assert claim[8] == pytest.approx(4 / 6)
    assert stages.cell(row=2, column=9).number_format == "0%"
    assert stages.column_dimensions["A"].width >= 12
    assert stages.freeze_panes == "A2"
    sections = {r[0]: r[1:] for r in book["Bidang"].iter_rows(min_row=2, values_only=True)}
    assert sections["Bidang PMD"][:3] == (17, 14, 3)
    notes = list(book["Catatan"].iter_rows(min_row=2, values_only=True))
    assert notes[0][2:4] == ("Ditolak", "Pak Joko Pejabat") and notes[0][1] == datetime(
        2026, 11, 24, 10, 40)
    assert book["Rincian"].max_row == 1 + len(report.visits)
    summary = {r[0]: r[1] for r in book["Ringkasan"].iter_rows(min_row=2, values_only=True)}
    assert summary["Item baru"] == 5 and summary["Terbit"] == 4
    assert summary["Ketepatan waktu keseluruhan"] == pytest.approx(27 / 30)


def test_png_chart_has_sane_dimensions(report: Report, tmp_path: Path) -> None:
    path = to_png(report, tmp_path / "laporan.png")
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (1200, 800)
        colors = image.convert("RGB").getcolors(maxcolors=1_000_000) or []
        assert len(colors) > 50  # bars, text and grid, not a blank canvas
    english = to_png(report, tmp_path / "report-en.png", language="en")
    assert english.stat().st_size > 10_000


def test_export_entry_point(report: Report, tmp_path: Path) -> None:
    assert export(report, "text").startswith("Laporan SOP")
    written = export(report, "csv", tmp_path / "r.csv")
    assert Path(written).read_text(encoding="utf-8").startswith("kelompok,")
    png = export(report, "png")
    assert isinstance(png, Path) and png.suffix == ".png" and png.stat().st_size > 0
    png.unlink()
    xlsx = export(report, "XLSX", tmp_path / "r.xlsx")
    assert load_workbook(xlsx).sheetnames[0] == "Ringkasan"
    with pytest.raises(ValueError, match="unknown format"):
        export(report, "pdf")


def test_empty_period_renders_everywhere(session: Session, tmp_path: Path) -> None:
    empty = build_report(session, *WEEK, CALENDAR, DEADLINES)
    assert empty.visit_count == 0 and empty.on_time_rate is None
    assert "tidak ada" in format_text(empty)
    to_csv(empty)
    load_workbook(to_xlsx(empty, tmp_path / "e.xlsx"))
    with Image.open(to_png(empty, tmp_path / "e.png")) as image:
        assert image.size == (1200, 800)


def test_a_correction_published_again_counts_as_a_correction_not_as_news(
    workflow: Workflow, session: Session, office: Any
) -> None:
    o = office
    steps = [("submit", o.officer), ("claim", o.editor), ("edit", o.editor),
             ("forward", o.editor), ("approve", o.official), ("mark_published", None)]
    again = [("open_correction", o.editor), ("forward", o.editor), ("approve", o.official),
             ("mark_published", None)]

    def publish(created: datetime, plan: list[tuple[str, Any]]) -> int:
        item = workflow.create_draft(session, o.officer, created, description="Kegiatan")
        workflow.add_media(session, o.officer, item.id, created, PHOTO)
        for minutes, (action, actor) in enumerate(plan, start=1):
            perform(workflow, session, action, actor, item.id,
                    created.replace(minute=minutes * 5))
        return item.id

    publish(wib(24, 8), steps + again)  # news and its correction in the same week
    earlier = publish(wib(17, 8), steps)  # news of the week before ...
    for minutes, (action, actor) in enumerate(again, start=1):  # ... corrected this week
        perform(workflow, session, action, actor, earlier, wib(25, 9, minutes * 5))

    report = build_report(session, *WEEK, CALENDAR, DEADLINES)
    assert (report.published, report.corrections) == (1, 2)
    assert {g.name: g.published for g in report.sections} == {"Bidang Sosial": 1}
    assert "Ralat terbit: 2" in format_text(report, "id")
    assert ["ringkasan", "corrections", "2"] in [row[:3] for row in
                                                csv.reader(io.StringIO(to_csv(report)))]
    before = build_report(session, wib(16, 0), wib(23, 0), CALENDAR, DEADLINES)
    assert (before.published, before.corrections) == (1, 0)
