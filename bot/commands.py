"""The command table: who may run each command, whose menu offers it, what /bantuan says.

The permission check, each person's menu (set_my_commands) and the help text are all read
from `COMMANDS`, so a command cannot be allowed to a role whose menu and help leave it out.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

from telegram import Update

from bot import common, delegates, editor, handover, invitations, officer, official, scheduler
from bot.base import Handler, WartaContext, answers_errors, reply
from workflow.catalogue.lookup import t
from workflow.errors import NotAllowed
from workflow.models import Person, Role

P, E, J, ADM, K = Role.PETUGAS, Role.EDITOR, Role.PEJABAT, Role.ADMIN, Role.KEPALA
EVERYONE = "help.everyone"


@dataclass(frozen=True)
class Command:
    handler: Handler
    roles: frozenset[Role]  # who may run it and finds it in their menu; empty: everyone
    help: str  # the help section that explains it: a role's own, or the command's
    in_menu: bool = True


def _c(handler: Handler, roles: Iterable[Role], help_key: str, in_menu: bool = True) -> Command:
    return Command(handler, frozenset(roles), help_key, in_menu)


@answers_errors
async def on_start(update: Update, context: WartaContext) -> None:
    await reply(update, t("start", context.lang, name=context.me.name) + "\n\n" +
                help_text(context.me, context.lang))


@answers_errors
async def on_help(update: Update, context: WartaContext) -> None:
    await reply(update, help_text(context.me, context.lang))


on_release_command = editor.for_item_argument(handover.on_release, "usage.lepas")

# In menu order: each person's menu lists the commands they may run, as ordered here.
COMMANDS: dict[str, Command] = {
    "status": _c(officer.on_status, [P], "help.petugas"),
    "baru": _c(officer.on_new, [P], "help.petugas"),
    "bidang": _c(officer.on_section, [P], "help.petugas"),
    "tanggal": _c(officer.on_date, [P], "help.petugas"),
    "pengguna": _c(common.on_people, [ADM], "help.admin"),
    "undang": _c(invitations.on_invite, [ADM], "help.admin"),
    "antrian": _c(editor.on_queue, [E, J, ADM, K], "help.antrian"),
    "pratinjau": _c(editor.on_preview_command, [E, J], "help.pratinjau"),
    "judul": _c(editor.on_edit_command, [E], "help.editor"),
    "isi": _c(editor.on_edit_command, [E], "help.editor"),
    "sampul": _c(editor.on_edit_command, [E], "help.editor"),
    "hapus": _c(editor.on_edit_command, [E], "help.editor"),
    "alt": _c(editor.on_edit_command, [E], "help.editor"),
    "keterangan": _c(editor.on_edit_command, [E], "help.editor"),
    "urut": _c(editor.on_edit_command, [E], "help.editor"),
    "kategori": _c(editor.on_edit_command, [E], "help.editor"),
    "tag": _c(editor.on_edit_command, [E], "help.editor"),
    "jadwal": _c(editor.on_edit_command, [E], "help.editor"),
    "ajukan": _c(editor.on_forward_command, [E], "help.editor"),
    "koreksi": _c(editor.on_correction_command, [E, J], "help.koreksi"),
    "tarik": _c(official.on_take_down_command, [J], "help.tarik"),
    "lepas": _c(on_release_command, [E], "help.lepas"),
    "alihkan": _c(handover.on_reassign, [ADM, K], "help.alihkan"),
    "wakil": _c(delegates.on_delegate, [J, ADM], "help.wakil"),
    "laporan": _c(scheduler.on_report, [E, ADM, K], "help.laporan"),
    "web": _c(common.on_web, [E, J, ADM, K], "help.web"),
    "start": _c(on_start, [], EVERYONE, in_menu=False),
    "help": _c(on_help, [], EVERYONE, in_menu=False),
    "bantuan": _c(on_help, [], EVERYONE),
    "riwayat": _c(common.on_history, [], EVERYONE),
    "bahasa": _c(common.on_language, [], EVERYONE),
}


def may_run(person: Person, name: str) -> bool:
    roles = COMMANDS[name].roles
    return not roles or any(person.has_role(role) for role in roles)


def menu_for(person: Person) -> list[str]:
    """The commands `person`'s menu lists: every one they may run, in table order."""
    return [name for name, command in COMMANDS.items()
            if command.in_menu and may_run(person, name)]


def help_keys_for(person: Person) -> list[str]:
    """The help sections `person` is shown: their roles' own, then those of the other
    commands they may run (each once)."""
    keys = [f"help.{role.value}" for role in Role if person.has_role(role)]
    keys += [COMMANDS[name].help for name in menu_for(person)]
    return list(dict.fromkeys(keys))


def help_text(person: Person, lang: str) -> str:
    return "\n\n".join(t(key, lang) for key in help_keys_for(person))


def guarded(name: str) -> Handler:
    """The handler of `name`, run only for people the table lets run it."""
    command = COMMANDS[name]

    @answers_errors
    @functools.wraps(command.handler)
    async def run(update: Update, context: WartaContext) -> None:
        if not may_run(context.me, name):
            raise NotAllowed(f"/{name} is not for this person's roles", reason="role")
        await command.handler(update, context)

    return run
