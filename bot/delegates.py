"""/wakil: an official (or an admin for them) names, lists and revokes acting officials."""

from __future__ import annotations

from telegram import Update

from bot.base import WartaContext, answers_errors, parse_id, reply
from bot.common import TELEGRAM_ID_MAX
from bot.officer import parse_day
from bot.render import fit_lines
from workflow import delegation
from workflow.catalogue.formats import numeric_date
from workflow.catalogue.lookup import t
from workflow.models import Delegation

LIST_WORDS = ("daftar", "list")
REVOKE_WORDS = ("batal", "revoke")
FOR_WORDS = ("untuk", "for")  # an admin naming a delegate for an official


@answers_errors
async def on_delegate(update: Update, context: WartaContext) -> None:
    """/wakil [daftar] · /wakil batal N · /wakil [untuk PEJABAT_ID] ID DARI SAMPAI [plt|plh]."""
    args = [arg.lower() for arg in context.args or []]
    if not args or args[0] in LIST_WORDS:
        await _list(update, context)
    elif args[0] in REVOKE_WORDS and len(args) == 2 and parse_id(args[1]):
        await _revoke(update, context, parse_id(args[1]) or 0)
    else:
        await _name(update, context, args)


async def _name(update: Update, context: WartaContext, args: list[str]) -> None:
    principal = context.me.telegram_id
    if args[0] in FOR_WORDS and len(args) >= 2:
        principal = parse_id(args[1], TELEGRAM_ID_MAX) or 0
        args = args[2:]
    title = delegation.Title.PLT
    if args and args[-1] in ("plt", "plh"):
        title = delegation.Title(args.pop().capitalize())
    if len(args) != 3 or not principal:
        await reply(update, t("usage.wakil", context.lang))
        return
    stand_in = parse_id(args[0], TELEGRAM_ID_MAX)
    starts_on, ends_on = parse_day(args[1]), parse_day(args[2])
    if stand_in is None or starts_on is None or ends_on is None:
        await reply(update, t("usage.wakil", context.lang))
        return
    warta = context.warta
    now = warta.now()
    with warta.sessions() as session:
        made = delegation.delegate(session, context.me, now, now.date(),
                                   principal_telegram_id=principal,
                                   delegate_telegram_id=stand_in, starts_on=starts_on,
                                   ends_on=ends_on, title=title)
        text = _described(made, "delegation.saved", context.lang)
    await reply(update, text)


async def _revoke(update: Update, context: WartaContext, number: int) -> None:
    warta = context.warta
    with warta.sessions() as session:
        delegation.revoke(session, context.me, warta.now(), number)
    await reply(update, t("delegation.revoked", context.lang, number=number))


async def _list(update: Update, context: WartaContext) -> None:
    warta, lang = context.warta, context.lang
    with warta.sessions() as session:
        lines = [_described(d, "delegation.line", lang)
                 for d in delegation.listed(session, warta.now().date())]
    await reply(update, fit_lines([t("delegation.header", lang), *lines], lang) if lines
                else t("delegation.none", lang))


def _described(made: Delegation, key: str, lang: str) -> str:
    return t(key, lang, number=made.id, name=made.delegate.name, title=made.title,
             principal=made.principal.name, starts_on=numeric_date(made.starts_on, lang),
             ends_on=numeric_date(made.ends_on, lang))
