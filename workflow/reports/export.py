"""The SOP report as CSV, XLSX (openpyxl) and a PNG chart (matplotlib, Agg backend).

`export(report, fmt, path)` is the one entry point for the command line and the bot:

* ``text``: the plain-text report (`workflow.reports.text.format_text`);
* ``csv``: one tidy table, one row per figure (`to_csv`); semicolon-free, UTF-8;
* ``xlsx``: a workbook with the sheets Ringkasan, Tahap, Bidang, Orang, Catatan and
  Rincian (every stage visit), Indonesian headers, widths set, header row frozen;
* ``png``: 1200×800 px, median time per stage next to the SOP allowance (hours) and the
  on-time rate per stage (%), for the bot to send as a photo.

Text and CSV are returned as a string when no path is given (and written to `path`
otherwise, returning the path); XLSX and PNG are files: without a path they go to a new
temporary file whose path is returned (the caller deletes it after sending).
"""

from __future__ import annotations

import csv
import io
import tempfile
from functools import partial
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from workflow.reports.statistics import GroupStats, Report, StageStats
from workflow.reports.text import (
    format_allowance,
    format_minutes,
    format_rate,
    format_text,
    label,
    period_text,
    stage_label,
)

FORMATS: Final = ("text", "csv", "xlsx", "png")
PNG_SIZE: Final = (1200, 800)
_DPI: Final = 100

CSV_COLUMNS: Final = (
    "kelompok", "nama", "jumlah", "tepat_waktu", "terlambat", "persen_tepat_waktu",
    "median_menit", "p90_menit", "batas_sop_menit", "batas_sop", "keterangan",
)


def export(report: Report, fmt: str, path: str | Path | None = None,
           language: str = "id") -> str | Path:
    """Renders `report` as `fmt` (text, csv, xlsx, png); see the module doc."""
    fmt = fmt.lower().strip()
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: use {', '.join(FORMATS)}")
    if fmt in ("text", "csv"):
        content = format_text(report, language) if fmt == "text" else to_csv(report)
        if path is None:
            return content
        target = Path(path)
        target.write_text(content, encoding="utf-8")
        return target
    if path is None:
        handle = tempfile.NamedTemporaryFile(prefix="laporan-", suffix=f".{fmt}", delete=False)
        handle.close()
        path = handle.name
    target = Path(path)
    if fmt == "xlsx":
        to_xlsx(report, target, language)
    else:
        to_png(report, target, language)
    return target


# --------------------------------------------------------------------------- CSV


def _round(value: float | None, digits: int = 1) -> float | str:
    return "" if value is None else round(value, digits)


def _percent(rate: float | None) -> float | str:
    return "" if rate is None else round(rate * 100, 1)


def to_csv(report: Report) -> str:
    """One row per figure: kelompok (what kind), nama (which), and the numbers."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    tz = ZoneInfo(report.timezone)

    def row(group: str, name: str, count: Any = "", **values: Any) -> None:
        writer.writerow([group, name, count, *(values.get(c, "") for c in CSV_COLUMNS[3:])])

    row("periode", "mulai", keterangan=report.start.astimezone(tz).isoformat())
    row("periode", "selesai", keterangan=report.end.astimezone(tz).isoformat())
    row("ringkasan", "item_baru", report.created)
    for name in ("published", "rejected", "returned", "revisions", "publish_failures",
                 "corrections"):
        row("ringkasan", name, getattr(report, name))
    for state, count in report.created_by_state:
        row("status_item_baru", state, count)
    for state, count in report.current_by_state:
        row("status_saat_ini", state, count)
    for stage in report.stages:
        row("tahap", stage.stage, stage.visits, tepat_waktu=stage.on_time,
            terlambat=stage.late, persen_tepat_waktu=_percent(stage.on_time_rate),
            median_menit=_round(stage.median_minutes), p90_menit=_round(stage.p90_minutes),
            batas_sop_menit=_round(stage.allowance_minutes), batas_sop=stage.allowance,
            keterangan=f"berjalan {stage.open}, terlambat {stage.open_overdue}")
    for group in report.sections:
        row("bidang", group.name, group.visits, tepat_waktu=group.on_time,
            terlambat=group.late, persen_tepat_waktu=_percent(group.on_time_rate),
            keterangan=f"item baru {group.created}, terbit {group.published}")
    for group in report.people:
        row("orang", group.name, group.visits, tepat_waktu=group.on_time,
            terlambat=group.late, persen_tepat_waktu=_percent(group.on_time_rate),
            keterangan=" ".join(group.stages))
    for note in report.notes:
        row(f"catatan_{note.kind}", f"#{note.item_id}", "",
            keterangan=f"{note.at.astimezone(tz).isoformat()} {note.by}: {note.note}")
    return out.getvalue()


# --------------------------------------------------------------------------- XLSX


def to_xlsx(report: Report, path: str | Path, language: str = "id") -> Path:
    """A workbook with one sheet per table; numbers stay numbers (rates as %)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    word = partial(label, language=language)
    tz = ZoneInfo(report.timezone)
    workbook = Workbook()
    header_font = Font(bold=True, color="FFFFFF")
    header_fill = PatternFill("solid", fgColor="305496")

    def sheet(title: str, headers: list[str], rows: list[list[Any]],
              percent_columns: tuple[int, ...] = (), widths: dict[int, int] | None = None,
              first: bool = False) -> Any:
        ws = workbook.active if first else workbook.create_sheet()
        ws.title = title
        ws.append(headers)
        for cell in ws[1]:
            cell.font = header_font
            cell.fill = header_fill
            cell.alignment = Alignment(vertical="center", wrap_text=True)
        for values in rows:
            ws.append(values)
        for column in percent_columns:
            for (cell,) in ws.iter_rows(min_row=2, min_col=column, max_col=column):
                cell.number_format = "0%"
        for index, header in enumerate(headers, start=1):
            longest = max([len(str(header))] + [len(str(r[index - 1])) for r in rows
                                                if index - 1 < len(r)])
            width = (widths or {}).get(index, min(60, max(10, longest + 2)))
            ws.column_dimensions[get_column_letter(index)].width = width
        ws.freeze_panes = "A2"
        return ws

    summary: list[list[Any]] = [
        [word("period"), period_text(report, language)],
        [word("created"), report.created],
        [word("published"), report.published],
        [word("rejected"), report.rejected],
        [word("returned"), report.returned],
        [word("revisions"), report.revisions],
        [word("publish_failures"), report.publish_failures],
        [word("corrections"), report.corrections],
        [word("overall"), report.on_time_rate if report.on_time_rate is not None else ""],
    ]
    summary += [[f"{word('created_by_state')}: {stage_label(s, language)}", n]
                for s, n in report.created_by_state]
    summary += [[f"{word('current_by_state')}: {stage_label(s, language)}", n]
                for s, n in report.current_by_state]
    ws = sheet("Ringkasan", [word("title"), ""], summary, widths={1: 48, 2: 40}, first=True)
    ws.cell(row=9, column=2).number_format = "0%"

    sheet("Tahap", [word("stage"), word("visits"), f"{word('median')} (menit)", "P90 (menit)",
                    f"{word('allowance')} (menit)", word("allowance"), word("on_time"),
                    word("late"), word("on_time_rate"), word("open"), word("open_overdue")],
          [_stage_row(stage, language) for stage in report.stages], percent_columns=(9,))
    sheet("Bidang", [word("section"), word("visits"), word("on_time"), word("late"),
                     word("on_time_rate"), word("created"), word("published")],
          [[*_group_row(g, word("no_section")), g.created, g.published] for g in report.sections],
          percent_columns=(5,))
    sheet("Orang", [word("person"), word("visits"), word("on_time"), word("late"),
                    word("on_time_rate"), word("stages_of_person")],
          [[*_group_row(g, ""), ", ".join(stage_label(s, language) for s in g.stages)]
           for g in report.people], percent_columns=(5,))
    sheet("Catatan", [word("item"), word("at"), word("kind"), word("by"), word("section"),
                      word("reason")],
          [[n.item_id, n.at.astimezone(tz).replace(tzinfo=None), word(f"note.{n.kind}"), n.by,
            n.section, n.note] for n in report.notes], widths={2: 18, 6: 60})
    for (cell,) in workbook["Catatan"].iter_rows(min_row=2, min_col=2, max_col=2):
        cell.number_format = "yyyy-mm-dd hh:mm"
    sheet("Rincian", [word("item"), word("stage"), word("section"), word("person"), "Mulai",
                      "Selesai", "Menit", "Batas waktu", word("on_time")],
          [[v.item_id, stage_label(v.stage, language), v.section, v.person,
            v.started_at.astimezone(tz).replace(tzinfo=None),
            v.ended_at.astimezone(tz).replace(tzinfo=None) if v.ended_at else "",
            round(v.minutes, 1),
            v.due_at.astimezone(tz).replace(tzinfo=None) if v.due_at else "",
            "" if v.on_time is None else ("ya" if v.on_time else "tidak")]
           for v in report.visits], widths={5: 18, 6: 18, 8: 18})
    for row in workbook["Rincian"].iter_rows(min_row=2):
        for cell in (row[4], row[5], row[7]):
            cell.number_format = "yyyy-mm-dd hh:mm"
    target = Path(path)
    workbook.save(target)
    return target


def _stage_row(stage: StageStats, language: str) -> list[Any]:
    return [stage_label(stage.stage, language), stage.visits,
            _round(stage.median_minutes), _round(stage.p90_minutes),
            _round(stage.allowance_minutes), format_allowance(stage, language),
            stage.on_time, stage.late,
            stage.on_time_rate if stage.on_time_rate is not None else "",
            stage.open, stage.open_overdue]


def _group_row(group: GroupStats, empty_name: str) -> list[Any]:
    return [group.name or empty_name, group.visits, group.on_time, group.late,
            group.on_time_rate if group.on_time_rate is not None else ""]


# --------------------------------------------------------------------------- PNG


def to_png(report: Report, path: str | Path, language: str = "id") -> Path:
    """Median time per stage vs the SOP allowance (hours), and on-time rate per stage."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    word = partial(label, language=language)
    width, height = PNG_SIZE
    figure = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI)
    FigureCanvasAgg(figure)
    stages = list(report.stages)
    names = [stage_label(s.stage, language).replace(" ", "\n", 1) for s in stages]
    positions = list(range(len(stages)))
    hours = [(s.median_minutes or 0) / 60 for s in stages]
    p90 = [(s.p90_minutes or 0) / 60 for s in stages]
    allowance = [(s.allowance_minutes or 0) / 60 for s in stages]

    top, bottom = figure.subplots(2, 1, gridspec_kw={"height_ratios": [3, 2]})
    bar = 0.27
    top.bar([p - bar for p in positions], hours, bar, label=word("median"), color="#305496")
    top.bar(positions, p90, bar, label="P90", color="#8EA9DB")
    top.bar([p + bar for p in positions], allowance, bar, label=word("allowance"),
            color="#A9A9A9")
    for p, stage, value in zip(positions, stages, hours, strict=True):
        if stage.visits:
            top.annotate(format_minutes(stage.median_minutes, language), (p - bar, value),
                         ha="center", va="bottom", fontsize=8)
        else:
            top.annotate("–", (p - bar, 0), ha="center", va="bottom", fontsize=8)
    top.set_xticks(positions, names, fontsize=9)
    top.set_ylabel(word("chart_unit"))
    top.set_title(f"{word('stages')}\n{period_text(report, language)}", fontsize=12)
    top.legend(loc="upper right")
    top.grid(axis="y", alpha=0.3)

    rates = [(s.on_time_rate or 0) * 100 for s in stages]
    colors = ["#BFBFBF" if s.on_time_rate is None else (
        "#548235" if s.on_time_rate >= 0.9 else "#C65911" if s.on_time_rate < 0.7
        else "#BF8F00") for s in stages]
    bottom.bar(positions, rates, 0.6, color=colors)
    for p, stage, rate in zip(positions, stages, rates, strict=True):
        caption = f"{rate:.0f}% ({stage.on_time}/{stage.visits})" if stage.visits else "–"
        bottom.annotate(caption, (p, rate), ha="center", va="bottom", fontsize=8)
    bottom.set_xticks(positions, names, fontsize=9)
    bottom.set_ylim(0, 115)
    bottom.set_ylabel(word("on_time_rate"))
    bottom.set_title(f"{word('on_time')} ({word('overall').lower()}: "
                     f"{format_rate(report.on_time_rate)})", fontsize=11)
    bottom.axhline(100, color="#7F7F7F", linewidth=0.8, linestyle="--")
    bottom.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    target = Path(path)
    figure.savefig(target, format="png", dpi=_DPI)
    return target
