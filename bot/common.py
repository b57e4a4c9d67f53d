"""What everyone has: the access check, /riwayat, /bahasa, /web, and the admin's /pengguna."""

from __future__ import annotations

from sqlalchemy.orm import Session
from telegram import Update
from telegram.constants import ChatType, ParseMode
from telegram.ext import ApplicationHandlerStop

from bot.base import (
    WartaContext,
    answer_button,
    answers_errors,
    in_worker,
    log,
    parse_id,
    reply,
)
from bot.invitations import on_arrival, start_token
from bot.render import acting_name, clip, fit_lines, section_suffix, state_label, when
from workflow import logins, people
from workflow.catalogue.lookup import Safe, t
from workflow.context import Context
from workflow.errors import InvalidValue
from workflow.models import Person, Role
from workflow.queries import get_item, history
from workflow.versions import VersionChange, published_changes

TELEGRAM_ID_MAX = 2**53 - 1  # Telegram's user ids fit in 52 bits
HISTORY_NOTE = 300
HISTORY_DIFF_LINE = 200


async def identify(update: Update, context: WartaContext) -> None:
    """Group -1: loads the person behind every update; strangers get one polite answer."""
    user = update.effective_user
    if user is None:
        raise ApplicationHandlerStop
    warta = context.warta
    known = await in_worker(warta, lambda session: _registered(session, warta, user.id,
                                                               user.language_code))
    if known is not None:
        context.person, language_changed = known
        if language_changed:
            await context.application.bot_data["menus"].set_for(context.bot, context.person)
        return
    token = start_token(update)
    if token is not None:
        await on_arrival(update, context, token)
        raise ApplicationHandlerStop
    log.info("update from unregistered Telegram id %s", user.id)
    lang = people.telegram_language(user.language_code) or warta.settings.office.language
    text = t("access.unknown", lang, id=user.id, office=warta.settings.office.name)
    if update.callback_query is not None:
        await answer_button(update, t("access.unknown_short", lang), alert=True)
    elif update.effective_chat is not None and update.effective_chat.type == ChatType.PRIVATE:
        await reply(update, text)
    raise ApplicationHandlerStop


def _registered(session: Session, warta: Context, telegram_id: int, language_code: str | None,
                ) -> tuple[Person, bool] | None:
    """The active person behind a Telegram id (None for strangers and the deactivated), and
    whether their language changed now (taken from their Telegram app on a first update)."""
    person = people.who_is(session, telegram_id)
    if person is None or not person.active:
        return None
    default = person.language
    adopted = people.adopt_telegram_language(session, person, warta.now(), language_code)
    return (adopted or person), adopted is not None and adopted.language != default


@answers_errors
async def on_web(update: Update, context: WartaContext) -> None:
    """/web: a one-time sign-in link for the web pages, always in the private chat."""
    warta = context.warta
    base = warta.settings.web.base_url
    if not base:
        await reply(update, t("web.not_served", context.lang))
        return
    with warta.sessions() as session:
        token = logins.issue_link(session, context.me, warta.now())
    await context.bot.send_message(
        context.me.telegram_id, t("web.login_link", context.lang, url=f"{base}/login/{token}"),
        parse_mode=ParseMode.HTML, disable_web_page_preview=True)


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
        lines: list[str] = [t("history.header", lang, id=item.id,
                   state=Safe(state_label(item.status, lang)))]
        events = history(session, item.id)
        changes = published_changes(events)
        for event in events:
            action = event.action.removeprefix("workflow.")
            lines.append(t("history.line", lang, at=when(event.at, warta.zone, lang),
                           who=acting_name(event.actor.name, event.data, lang)
                           if event.actor else t("system", lang),
                           action=Safe(t(f"done.{action}", lang)),
                           note=f" — {clip(event.note, HISTORY_NOTE)}" if event.note else ""))
            if event.id in changes:
                lines += change_lines(changes[event.id], lang)
    await reply(update, fit_lines(lines, lang))


def change_lines(change: VersionChange, lang: str) -> list[str]:
    """What a correction changed, under its publication in the history."""
    lines: list[str] = [t("history.version", lang, n=change.revision + 1)]
    if change.title is not None:
        old, new = change.title
        lines.append(t("history.title_changed", lang, old=clip(old, HISTORY_DIFF_LINE),
                       new=clip(new, HISTORY_DIFF_LINE)))
    for sign, text in change.body:
        key = "history.removed" if sign == "-" else "history.added"
        lines.append(t(key, lang, text=clip(text, HISTORY_DIFF_LINE)))
    return lines


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
    """/pengguna [tambah ID PERAN NAMA | peran ID PERAN|+PERAN -PERAN | bidang ID NAMA |
    nonaktif ID | aktif ID]."""
    warta, lang = context.warta, context.lang
    args = context.args or []
    verb = args[0].lower() if args else "daftar"
    now = warta.now()
    changed = ""
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
            change = people.change_roles(session, context.me, now, telegram_id,
                                         **_role_change(args[2:]))
            person, changed = change.person, _change_text(change.added, change.removed, lang)
        elif verb in ("bidang", "section") and len(args) >= 3:
            section = "" if args[2:] == ["-"] else " ".join(args[2:])
            person = people.set_section(session, context.me, now, telegram_id, section)
        elif verb in ("nonaktif", "deactivate", "aktif", "activate"):
            person = people.set_active(session, context.me, now, telegram_id,
                                       verb in ("aktif", "activate"))
        else:
            await reply(update, t("usage.pengguna", lang))
            return
    await context.application.bot_data["menus"].set_for(context.bot, person)
    await reply(update, t("people.saved", lang, name=person.name,
                          roles=",".join(sorted(r.value for r in person.roles)),
                          active=Safe("" if person.active else t("people.inactive", lang)))
                + section_suffix(person.section, lang) + changed)


def _role_change(words: list[str]) -> dict[str, frozenset[Role]]:
    """"+editor -petugas" adds and removes, keeping the other roles; "editor,pejabat"
    (no signs) is the whole new list. Mixing the two is refused: it has no clear meaning."""
    signed = [word for word in words if word[:1] in ("+", "-")]
    if not signed:
        return {"exactly": people.parse_roles(words)}
    if len(signed) != len(words):
        raise InvalidValue("use +ROLE -ROLE or a list of roles, not both", field="role")
    added = [word[1:] for word in words if word.startswith("+")]
    removed = [word[1:] for word in words if word.startswith("-")]
    return {"add": people.parse_roles(added) if added else frozenset(),
            "remove": people.parse_roles(removed) if removed else frozenset()}


def _change_text(added: frozenset[Role], removed: frozenset[Role], lang: str) -> str:
    """" · ditambah: editor · dicabut: petugas": what a role change did, "" if nothing."""
    parts = [t(key, lang, roles=",".join(sorted(roles)))
             for key, roles in (("people.added", added), ("people.removed", removed)) if roles]
    return "".join(parts)


def _telegram_id(args: list[str]) -> int:
    telegram_id = parse_id(args[1], TELEGRAM_ID_MAX) if len(args) >= 2 else None
    if telegram_id is None:
        raise InvalidValue("a Telegram id is needed", field="telegram_id")
    return telegram_id
