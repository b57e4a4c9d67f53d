"""Jobs on the bot's JobQueue: deadline sweeps, the daily digest, and /laporan."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from telegram import Update

from bot.base import WartaContext, answers_errors, log, reply
from bot.render import clip
from workflow.catalogue.lookup import t
from workflow.context import Context
from workflow.digest import queue_digest
from workflow.errors import InvalidValue
from workflow.reports.export import export
from workflow.reports.statistics import Report, build_report, period_for
from workflow.reports.text import format_text
from workflow.sweeper import sweep


class SweepCounts(NamedTuple):
    late: int  # alerts, reminders and escalations queued
    digests: int


def sweep_once(warta: Context) -> SweepCounts:
    """One pass: late-stage messages, then today's digest once its time has come."""
    now = warta.now()
    with warta.sessions() as session:
        result = sweep(session, now, warta.settings.alerts, warta.calendar,
                       warta.settings.deadlines)
    with warta.sessions() as session:
        digests = queue_digest(session, now, warta.calendar,
                               not_before=warta.settings.alerts.digest_time)
    sent = result.alerts + result.reminders + result.escalations
    if sent or digests:
        log.info("sweep: %s alert(s), %s reminder(s), %s escalation(s), %s digest(s)",
                 result.alerts, result.reminders, result.escalations, digests)
    return SweepCounts(sent, digests)


async def sweep_job(context: WartaContext) -> None:
    """Runs the sweep in a thread (database work) and sends what it queued at once."""
    try:
        queued = await asyncio.to_thread(sweep_once, context.warta)
    except Exception:  # the next tick tries again; markers keep every message single
        log.exception("deadline sweep failed")
        return
    if any(queued):
        context.kick_notifier()


@answers_errors
async def on_report(update: Update, context: WartaContext) -> None:
    """/laporan [minggu|bulan|minggu-lalu|bulan-lalu|YYYY-MM] [xlsx|csv]."""
    args = [a.lower() for a in context.args or []]
    fmt = next((a for a in args if a in ("xlsx", "csv")), None)
    words = [a for a in args if a not in ("xlsx", "csv")]
    warta, lang = context.warta, context.lang
    try:
        start, end = period_for(words[0] if words else "minggu", warta.now(), warta.zone)
    except ValueError:
        raise InvalidValue("unknown period", field="period") from None
    report = await asyncio.to_thread(_build, warta, start, end)
    await reply(update, t("report.text", lang, text=clip(format_text(report, lang), 3800)))
    chat = update.effective_chat
    if chat is None:
        return
    chart = Path(await asyncio.to_thread(export, report, "png", None, lang))
    try:
        photo = await asyncio.to_thread(chart.read_bytes)
        await chat.send_photo(photo, caption=t("report.chart", lang))
    finally:
        await asyncio.to_thread(chart.unlink, True)
    if fmt is not None:
        table = Path(await asyncio.to_thread(export, report, fmt, None, lang))
        try:
            data = await asyncio.to_thread(table.read_bytes)
            await chat.send_document(data, filename=f"laporan-{start:%Y%m%d}.{fmt}")
        finally:
            await asyncio.to_thread(table.unlink, True)


def _build(warta: Context, start: datetime, end: datetime) -> Report:
    with warta.sessions() as session:
        return build_report(session, start, end, warta.calendar, warta.settings.deadlines,
                            now=warta.now())
