"""The dashboard's charts, drawn on the server as small SVGs (no chart library, no script).

Figures come from the reports' statistics for the period: on-time rate per stage, time
per stage against the SOP's allowance (median and p90), items per section, and the
period's items by state. Every text in an SVG is escaped like any page text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import escape
from sqlalchemy.orm import Session

from workflow.catalogue.lookup import t_text
from workflow.context import Context
from workflow.reports.statistics import Report, build_report, period_for

BAR_HEIGHT = 22
LABEL_WIDTH = 150
WIDTH = 360


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    svg: str


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str
    mark: float | None = None  # a reference line (the SOP's allowance)
    late: bool = False


LABEL_CHARS = 22  # what fits in LABEL_WIDTH at font-size 12


def _fitted(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[:LABEL_CHARS - 1].rstrip() + "…"


def bar_chart(bars: Sequence[Bar], scale: float, description: str) -> str:
    """Horizontal bars with labels and values; `scale` is the value of a full bar."""
    height = max(1, len(bars)) * (BAR_HEIGHT + 6) + 6
    room = WIDTH - LABEL_WIDTH - 60
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
             f'role="img" aria-label="{escape(description)}">']
    for index, bar in enumerate(bars):
        y = 6 + index * (BAR_HEIGHT + 6)
        length = 0 if scale <= 0 else max(1.0, room * min(bar.value, scale) / scale)
        color = "#c62828" if bar.late else "#1f6feb"
        parts.append(f'<text x="0" y="{y + 15}" font-size="12" fill="currentColor">'
                     f"{escape(_fitted(bar.label))}</text>")
        parts.append(f'<rect x="{LABEL_WIDTH}" y="{y}" width="{length:.1f}" '
                     f'height="{BAR_HEIGHT}" rx="3" fill="{color}"/>')
        parts.append(f'<text x="{LABEL_WIDTH + length + 4:.1f}" y="{y + 15}" font-size="12" '
                     f'fill="currentColor">{escape(bar.text)}</text>')
        if bar.mark is not None and scale > 0:
            x = LABEL_WIDTH + room * min(bar.mark, scale) / scale
            parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y - 2}" y2="{y + BAR_HEIGHT + 2}" '
                         'stroke="currentColor" stroke-dasharray="3 2"/>')
    parts.append("</svg>")
    return "".join(parts)


PERIODS = ("week", "month")


def period_report(warta: Context, session: Session, period: str) -> Report:
    """The reports' figures of this week or this month (anything else: the month)."""
    start, end = period_for(period if period in PERIODS else "month", warta.now(), warta.zone)
    return build_report(session, start, end, warta.calendar, warta.settings.deadlines,
                        now=warta.now())


def dashboard_values(warta: Context, session: Session, lang: str, period: str
                     ) -> dict[str, Any]:
    period = period if period in PERIODS else "month"
    report = period_report(warta, session, period)
    start, end = report.start, report.end
    stages = [s for s in report.stages if s.visits or s.open]
    rate = [Bar(t_text(f"state.{s.stage}", lang), (s.on_time_rate or 0) * 100,
                f"{round((s.on_time_rate or 0) * 100)}%", late=(s.on_time_rate or 1) < 0.8)
            for s in stages if s.on_time_rate is not None]
    longest = max([s.p90_minutes or 0 for s in stages] +
                  [s.allowance_minutes or 0 for s in stages] + [1])
    times = [Bar(t_text(f"state.{s.stage}", lang), s.median_minutes or 0,
                 t_text("web.dashboard.median_p90", lang, median=round(s.median_minutes or 0),
                        p90=round(s.p90_minutes or 0)),
                 mark=s.allowance_minutes,
                 late=bool(s.allowance_minutes and (s.median_minutes or 0) > s.allowance_minutes))
             for s in stages if s.median_minutes is not None]
    sections = [Bar(g.name or "-", g.created, str(g.created)) for g in report.sections]
    states = [Bar(t_text(f"state.{state}", lang), count, str(count))
              for state, count in report.created_by_state]
    charts = [
        Chart("on_time", t_text("web.dashboard.on_time", lang), bar_chart(rate, 100, "")),
        Chart("stage_time", t_text("web.dashboard.stage_time", lang),
              bar_chart(times, longest, "")),
        Chart("sections", t_text("web.dashboard.sections", lang),
              bar_chart(sections, max([b.value for b in sections] + [1]), "")),
        Chart("states", t_text("web.dashboard.states", lang),
              bar_chart(states, max([b.value for b in states] + [1]), "")),
    ]
    return {"charts": charts, "rejections": report.rejections[:20], "period": period,
            "period_label": f"{warta.local(start):%d/%m/%Y} – {warta.local(end):%d/%m/%Y}"}
