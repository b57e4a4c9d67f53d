"""The SOP report in words: its figures as plain text, in the catalogue's language."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo
from functools import partial
from zoneinfo import ZoneInfo

from workflow.calendar import Deadline
from workflow.catalogue.formats import DEFAULT_LANGUAGE, clock_time, day_month_year, number
from workflow.catalogue.lookup import t_text
from workflow.reports.statistics import Report, StageStats


def label(key: str, language: str = DEFAULT_LANGUAGE) -> str:
    """A word of the report (a heading, a column, a unit) from the catalogue."""
    return t_text(f"report.{key}", language)


def stage_label(state: str, language: str = DEFAULT_LANGUAGE) -> str:
    """The catalogue's label of a state or stage, capitalised as a report's line or cell
    starts; a state the catalogue does not know is shown as it is stored."""
    try:
        text = t_text(f"state.{state}", language)
    except KeyError:
        return state
    return text[:1].upper() + text[1:]


def format_minutes(minutes: float | None, language: str = DEFAULT_LANGUAGE) -> str:
    """45 → "45 mnt"; 135 → "2 j 15 mnt"; None → "–"."""
    if minutes is None:
        return "–"
    whole = round(minutes)
    if whole < 120:
        return f"{number(whole, language)} {label('minutes', language)}"
    hours, rest = divmod(whole, 60)
    shown = f"{number(hours, language)} {label('hours', language)}"
    return f"{shown} {number(rest, language)} {label('minutes', language)}" if rest else shown


def format_allowance(stage: StageStats, language: str = DEFAULT_LANGUAGE) -> str:
    """ "3h" → "3 jam kerja", "1d" → "1 hari kerja", "1h clock" → "1 jam"."""
    if not stage.allowance:
        return "–"
    deadline = Deadline.parse(stage.allowance)
    if deadline.mode == "working_days":
        return t_text("report.allowance.working_days", language, count=deadline.amount.days)
    minutes = deadline.amount.total_seconds() / 60
    clock = deadline.mode == "clock"
    if minutes % 60 == 0:
        unit, count = ("clock_hours" if clock else "working_hours"), minutes / 60
    else:
        unit, count = ("clock_minutes" if clock else "working_minutes"), minutes
    return t_text(f"report.allowance.{unit}", language, count=count)


def format_rate(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.0f}%"


def format_date(moment: datetime, tz: tzinfo, language: str = DEFAULT_LANGUAGE) -> str:
    return day_month_year(moment.astimezone(tz), language)


def period_text(report: Report, language: str = DEFAULT_LANGUAGE) -> str:
    tz = ZoneInfo(report.timezone)
    last = report.end - timedelta(microseconds=1)
    text = (f"{format_date(report.start, tz, language)} {label('until', language)} "
            f"{format_date(last, tz, language)}")
    if report.as_of < report.end:
        moment = report.as_of.astimezone(tz)
        text += (f" ({label('as_of', language)} {format_date(moment, tz, language)} "
                 f"{clock_time(moment, language)})")
    return text


def format_text(report: Report, language: str = DEFAULT_LANGUAGE) -> str:
    """The report as plain text for a chat message or the terminal."""
    tz = ZoneInfo(report.timezone)
    word = partial(label, language=language)

    def counts(pairs: Sequence[tuple[str, int]]) -> str:
        return ", ".join(f"{stage_label(s, language)} {n}" for s, n in pairs) or word("none")

    lines = [
        word("title"),
        f"{word('period')}: {period_text(report, language)}",
        "",
        f"{word('created')}: {report.created}",
        f"{word('created_by_state')}: {counts(report.created_by_state)}",
        f"{word('current_by_state')}: {counts(report.current_by_state)}",
        f"{word('published')}: {report.published} · {word('rejected')}: {report.rejected} · "
        f"{word('returned')}: {report.returned} · {word('revisions')}: {report.revisions} · "
        f"{word('publish_failures')}: {report.publish_failures} · "
        f"{word('corrections')}: {report.corrections}",
        f"{word('overall')}: {format_rate(report.on_time_rate)} "
        f"({report.on_time}/{report.visit_count})",
        "",
        f"{word('stages')}:",
    ]
    for stage in report.stages:
        times = t_text("report.times", language, count=stage.visits)
        line = (f"- {stage_label(stage.stage, language)}: {times}, "
                f"{word('median').lower()} {format_minutes(stage.median_minutes, language)}, "
                f"P90 {format_minutes(stage.p90_minutes, language)}, "
                f"{word('allowance_inline')} {format_allowance(stage, language)}, "
                f"{word('on_time').lower()} {stage.on_time}/{stage.visits} "
                f"({format_rate(stage.on_time_rate)})")
        if stage.open:
            line += (f"; {word('open').lower()} {stage.open} "
                     f"({word('late').lower()} {stage.open_overdue})")
        lines.append(line)
    lines += ["", f"{word('sections')}:"]
    for group in report.sections or ():
        lines.append(f"- {group.name or word('no_section')}: {word('on_time').lower()} "
                     f"{group.on_time}/{group.visits} ({format_rate(group.on_time_rate)}), "
                     f"{word('created').lower()} {group.created}, "
                     f"{word('published').lower()} {group.published}")
    if not report.sections:
        lines.append(f"- {word('none')}")
    lines += ["", f"{word('people')}:"]
    for group in report.people:
        stages = ", ".join(stage_label(s, language) for s in group.stages)
        lines.append(f"- {group.name} ({stages}): {word('on_time').lower()} "
                     f"{group.on_time}/{group.visits} ({format_rate(group.on_time_rate)})")
    if not report.people:
        lines.append(f"- {word('none')}")
    lines += ["", f"{word('notes')}:"]
    for note in report.rejections:
        moment = note.at.astimezone(tz)
        lines.append(f"- #{note.item_id} ({format_date(moment, tz, language)} "
                     f"{clock_time(moment, language)}, {note.by}): {note.note}")
    if not report.rejections:
        lines.append(f"- {word('none')}")
    others = [note for note in report.notes if note.kind != "reject"]
    if others:
        lines += ["", f"{word('other_notes')}:"]
        for note in others:
            lines.append(f"- #{note.item_id} {word(f'note.{note.kind}')} ({note.by}): "
                         f"{note.note}")
    return "\n".join(lines)
