"""The command table: for every role, the menu, the help and the permission check agree."""

from __future__ import annotations

import re

import pytest

from bot.commands import COMMANDS, help_text, may_run, menu_for
from tests.botkit import PEOPLE, Office
from workflow.catalogue.lookup import MESSAGES
from workflow.models import Person, PersonRole, Role

MENTIONED = re.compile(r"(?<![\w/<])/([a-z]+)")  # "/laporan", not "</b>"


def holder_of(*roles: Role) -> Person:
    return Person(active=True, role_rows=[PersonRole(role=role) for role in roles])


ROLE_SETS = [(role,) for role in Role] + [(Role.EDITOR, Role.ADMIN), (Role.PETUGAS, Role.KEPALA)]


@pytest.mark.parametrize("roles", ROLE_SETS, ids=lambda roles: "+".join(roles))
@pytest.mark.parametrize("lang", sorted(MESSAGES))
def test_menu_help_and_permission_agree(roles: tuple[Role, ...], lang: str) -> None:
    person = holder_of(*roles)
    menu = menu_for(person)
    mentioned = set(MENTIONED.findall(help_text(person, lang)))
    for name, command in COMMANDS.items():
        if command.in_menu:
            assert (name in menu) == may_run(person, name), name
    assert set(menu) <= mentioned, sorted(set(menu) - mentioned)
    assert mentioned <= {name for name in COMMANDS if may_run(person, name)}, mentioned


def test_editors_are_offered_the_report_they_may_run() -> None:
    editor = holder_of(Role.EDITOR)
    assert may_run(editor, "laporan") and "laporan" in menu_for(editor)
    assert "/laporan" in help_text(editor, "id")
    assert not may_run(holder_of(Role.PETUGAS), "laporan")


def test_a_deactivated_person_may_run_only_what_everyone_may() -> None:
    former = Person(active=False, role_rows=[PersonRole(role=role) for role in Role])
    assert {name for name in COMMANDS if may_run(former, name)} == {
        name for name, command in COMMANDS.items() if not command.roles}


async def test_the_bot_serves_the_tables_menus_help_and_checks(bot_office: Office) -> None:
    office, double = bot_office, bot_office.double
    for key, (telegram_id, _, roles, _) in PEOPLE.items():
        person = holder_of(*roles)
        scope = {"type": "chat", "chat_id": telegram_id}
        assert [c["command"] for c in double.commands(scope)] == menu_for(person), key
        user = office.users[key]
        await double.send_command(user, "bantuan")
        shown = await double.wait_for_message(user)
        assert set(menu_for(person)) <= set(MENTIONED.findall(shown.plain)), key
    await double.send_command(office.editor, "laporan", "bulan")
    report = await double.wait_for_message(office.editor, contains="Laporan SOP")
    assert "tidak berwenang" not in report.plain
    await double.send_command(office.official, "laporan")
    refused = await double.wait_for_message(office.official)
    assert "tidak berwenang" in refused.plain
