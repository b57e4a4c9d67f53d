"""What everyone has: the access check, /riwayat, /bahasa, and the admin's /pengguna."""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop

from bot.base import WartaContext, answer_button, answers_errors, log, parse_id, reply
from bot.render import acting_name, clip, fit_lines, state_label, when
from workflow import people
from workflow.catalogue.lookup import Safe, t
from workflow.errors import InvalidValue
from workflow.queries import get_item, history

TELEGRAM_ID_MAX = 2**53 - 1  # Telegram's user ids fit in 52 bits
HISTORY_NOTE = 300


async def identify(update: Update, context: WartaContext) -> None:
    """Group -1: loads the person behind every update; strangers get one polite answer."""
    user = update.effective_user
    if user is None:
        raise ApplicationHandlerStop
    warta = context.warta
    with warta.sessions() as session:
        person = people.find_by_telegram_id(session, user.id)
        if person is not None and person.active:
            default = person.language
            adopted = people.adopt_telegram_language(session, person, warta.now(),
                                                     user.language_code)
            context.person = adopted or person
            if adopted is not None and adopted.language != default:
                await context.application.bot_data["menus"].set_for(context.bot, adopted)
            return
    log.info("update from unregistered Telegram id %s", user.id)
    lang = people.telegram_language(user.language_code) or warta.settings.office.language
    text = t("access.unknown", lang, id=user.id, office=warta.settings.office.name)
    if update.callback_query is not None:
        await answer_button(update, t("access.unknown_short", lang), alert=True)
    elif update.effective_chat is not None and update.effective_chat.type == ChatType.PRIVATE:
        await reply(update, text)
    raise ApplicationHandlerStop


@answers_errors
async def on_history(update: Update, context: WartaContext) -> None:
    """/riwayat ID: who did what and when, for someone allowed to see the item."""
    item_id = parse_id((context.args or ["x"])[0])
    if item_id is None:
        await reply(update, t("usage.riwayat", context.lang))
        return
    warta, lang = context.warta, context.lang
    with warta.sessions() as session:
        item = get_item(session, item_id, context.me)
        lines = [t("history.header", lang, id=item.id,
                   state=Safe(state_label(item.status, lang)))]
        for event in history(session, item.id):
            action = event.action.removeprefix("workflow.")
            lines.append(t("history.line", lang, at=when(event.at, warta.zone, lang),
                           who=acting_name(event.actor.name, event.data, lang)
                           if event.actor else t("system", lang),
                           action=Safe(t(f"done.{action}", lang)),
                           note=f" — {clip(event.note, HISTORY_NOTE)}" if event.note else ""))
    await reply(update, fit_lines(lines, lang))


@answers_errors
async def on_language(update: Update, context: WartaContext) -> None:
    """/bahasa id|en."""
    args = context.args or []
    if not args:
        await reply(update, t("usage.bahasa", context.lang))
        return
    with context.warta.sessions() as session:
        person = people.set_language(session, context.me, context.warta.now(), args[0].lower())
    context.person = person
    await reply(update, t("language.set", person.language))
    await context.application.bot_data["menus"].set_for(context.bot, person)


@answers_errors
async def on_people(update: Update, context: WartaContext) -> None:
    """/pengguna [tambah ID PERAN NAMA | peran ID PERAN | nonaktif ID | aktif ID]."""
    warta, lang = context.warta, context.lang
    args = context.args or []
    verb = args[0].lower() if args else "daftar"
    now = warta.now()
    with warta.sessions() as session:
        if verb in ("daftar", "list"):
            rows = people.list_people(session)
            lines = [t("people.line", lang, name=p.name, id=p.telegram_id,
                       roles=",".join(sorted(r.value for r in p.roles)),
                       active=Safe("" if p.active else t("people.inactive", lang)))
                     for p in rows]
            await reply(update, fit_lines([t("people.header", lang), *lines], lang))
            return
        telegram_id = _telegram_id(args)
        if verb in ("tambah", "add") and len(args) >= 4:
            person = people.add_person(session, context.me, now, telegram_id=telegram_id,
                                       roles=people.parse_roles([args[2]]),
                                       name=" ".join(args[3:]),
                                       language=warta.settings.office.language,
                                       language_chosen=False)
        elif verb in ("peran", "role") and len(args) >= 3:
            person = people.change_roles(session, context.me, now, telegram_id,
                                         exactly=people.parse_roles([args[2]])).person
        elif verb in ("nonaktif", "deactivate", "aktif", "activate"):
            person = people.set_active(session, context.me, now, telegram_id,
                                       verb in ("aktif", "activate"))
        else:
            await reply(update, t("usage.pengguna", lang))
            return
    await context.application.bot_data["menus"].set_for(context.bot, person)
    await reply(update, t("people.saved", lang, name=person.name,
                          roles=",".join(sorted(r.value for r in person.roles)),
                          active=Safe("" if person.active else t("people.inactive", lang))))


def _telegram_id(args: list[str]) -> int:
    telegram_id = parse_id(args[1], TELEGRAM_ID_MAX) if len(args) >= 2 else None
    if telegram_id is None:
        raise InvalidValue("a Telegram id is needed", field="telegram_id")
    return telegram_id
