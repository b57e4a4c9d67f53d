"""Joining by invitation and changing roles, through the real bot stack and the Bot API double."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from bot.commands import menu_for
from telesim import SimUser, StoredMessage
from tests.botkit import Office
from workflow import invitations
from workflow.models import JoinRequest, Role
from workflow.people import add_person, find_by_telegram_id

LINK = re.compile(r"https://t\.me/warta_test_bot\?start=([A-Za-z0-9_-]+)")


async def invite(office: Office, args: str) -> str:
    """The admin's /undang; returns the token of the link the bot answered with."""
    await office.double.send_command(office.admin, "undang", args)
    answer = await office.double.wait_for_message(office.admin, contains="t.me/")
    match = LINK.search(answer.plain or "")
    assert match, answer.plain
    return match.group(1)


async def ask_to_join(office: Office, user: SimUser, token: str) -> StoredMessage:
    """Opening the link: Telegram sends the bot `/start TOKEN` from the newcomer."""
    await office.double.send_command(user, "start", token)
    return await office.double.wait_for_message(user)


async def admin_card(office: Office, admin: SimUser, name: str) -> StoredMessage:
    await office.flush()
    return await office.double.wait_for_message(admin, contains=f"{name}")


def join_requests(office: Office) -> int:
    with office.warta.sessions() as session:
        return session.scalar(select(func.count()).select_from(JoinRequest)) or 0


async def test_an_approved_newcomer_gets_the_role_its_menu_and_its_commands(
        bot_office: Office) -> None:
    office, double = bot_office, bot_office.double
    token = await invite(office, "petugas Bidang Sosial")
    made = double.last_sent(office.admin).plain or ""
    assert "petugas" in made and "Bidang Sosial" in made and "1 orang" in made
    newcomer = double.user(7001, "Dewi", language_code="en", username="dewi")
    waiting = await ask_to_join(office, newcomer, token)
    assert "admin" in (waiting.plain or "")
    card = await admin_card(office, office.admin, "Dewi")
    assert "@dewi" in (card.plain or "") and "7001" in (card.plain or "")
    await double.click(office.admin, card, "✅ Setujui")
    answer = await double.wait_for("answerCallbackQuery")
    assert "disetujui" in answer.params["text"]
    await double.wait_until(lambda: not double.message(office.admin, card.message_id).buttons)
    assert "Ani Admin" in (double.message(office.admin, card.message_id).plain or "")

    await office.flush()
    welcome = await double.wait_for_message(newcomer, contains="Welcome")
    assert "petugas" in (welcome.plain or "")
    with office.warta.sessions() as session:
        person = find_by_telegram_id(session, 7001)
    assert person is not None and person.roles == {Role.PETUGAS}
    assert person.section == "Bidang Sosial" and person.language == "en"
    scope = {"type": "chat", "chat_id": 7001}
    await double.wait_until(lambda: [c["command"] for c in double.commands(scope) or []]
                            == menu_for(person), what="the newcomer's menu")
    await double.send_command(newcomer, "status")
    status = await double.wait_for_message(newcomer)
    assert "not registered" not in (status.plain or "")
    assert "not allowed" not in (status.plain or "").lower()


async def test_a_single_use_link_refuses_the_second_person(bot_office: Office) -> None:
    office, double = bot_office, bot_office.double
    token = await invite(office, "editor")
    first = double.user(7001, "Dewi")
    second = double.user(7002, "Budi")
    await ask_to_join(office, first, token)
    again = await ask_to_join(office, first, token)  # tapped twice: still the one request
    assert "admin" in (again.plain or "")
    refused = await ask_to_join(office, second, token)
    assert "sudah terpakai" in (refused.plain or "")
    assert join_requests(office) == 1


async def test_expired_and_garbage_links_are_answered_politely_and_record_nothing(
        bot_office: Office) -> None:
    office, double = bot_office, bot_office.double
    now = office.warta.now()
    with office.warta.sessions() as session:
        old = invitations.create_invitation(session, None, now - timedelta(days=8),
                                            roles=[Role.PETUGAS], valid=timedelta(days=7))
    newcomer = double.user(7001, "Dewi", language_code="en")
    expired = await ask_to_join(office, newcomer, old.token)
    assert "kedaluwarsa" in (expired.plain or "")
    garbage = await ask_to_join(office, newcomer, "bukan-token-sama-sekali")
    assert "tidak dikenal" in (garbage.plain or "")
    assert join_requests(office) == 0
    # Without a token a stranger still learns their id, and how to get in.
    await double.send_command(newcomer, "start")
    unknown = await double.wait_for_message(newcomer)
    assert "7001" in (unknown.plain or "") and "invitation link" in (unknown.plain or "")
    await office.flush()
    assert not [m for m in double.sent_to(office.admin) if "7001" in (m.plain or "")]


async def test_a_refusal_is_told_politely_and_the_second_admin_sees_who_answered(
        bot_office: Office) -> None:
    office, double = bot_office, bot_office.double
    with office.warta.sessions() as session:
        add_person(session, None, office.warta.now(), telegram_id=4002, name="Budi Admin",
                   roles=[Role.ADMIN])
    other_admin = double.user(4002, "Budi")
    token = await invite(office, "petugas")
    newcomer = double.user(7001, "Dewi")
    await ask_to_join(office, newcomer, token)
    card = await admin_card(office, office.admin, "Dewi")
    other_card = await double.wait_for_message(other_admin, contains="Dewi")
    approve_as_it_was = other_card.button_data("✅ Setujui")
    await double.click(office.admin, card, "❌ Tolak")
    answer = await double.wait_for("answerCallbackQuery")
    assert "ditolak" in answer.params["text"]
    await office.flush()
    told = await double.wait_for_message(newcomer, contains="tidak disetujui")
    assert "admin" in (told.plain or "")
    # Every admin's card now says who answered, and has no buttons left to press.
    for admin, copy in ((office.admin, card), (other_admin, other_card)):
        await double.wait_until(lambda a=admin, c=copy: not double.message(a, c.message_id)
                                .buttons, what="the card's buttons gone")
        assert "ditolak oleh Ani Admin" in (double.message(admin, copy.message_id).plain or "")
    await double.press_button(other_admin, other_card, approve_as_it_was, forge=True)
    late = await double.wait_for("answerCallbackQuery")
    assert "Sudah ditolak oleh Ani Admin" in late.params["text"]
    await double.send_command(newcomer, "status")
    still_stranger = await double.wait_for_message(newcomer)
    assert "belum terdaftar" in (still_stranger.plain or "")


async def test_only_admins_may_invite(bot_office: Office) -> None:
    office, double = bot_office, bot_office.double
    await double.send_command(office.editor, "undang", "admin")
    refused = await double.wait_for_message(office.editor)
    assert "tidak berwenang" in (refused.plain or "")
    await double.send_command(office.admin, "undang", "raja")
    unknown_role = await double.wait_for_message(office.admin)
    assert "Peran tidak dikenal" in (unknown_role.plain or "")
    await double.send_command(office.admin, "undang")
    usage = await double.wait_for_message(office.admin)
    assert "/undang PERAN" in (usage.plain or "")
    with office.warta.sessions() as session:
        assert invitations.open_invitations(session, office.warta.now()) == []


async def test_role_changes_add_and_remove_one_role_and_keep_the_others(
        bot_office: Office) -> None:
    office, double = bot_office, bot_office.double
    await double.send_command(office.admin, "pengguna", "peran 2001 +pejabat")
    added = await double.wait_for_message(office.admin)
    assert "editor,pejabat" in (added.plain or "") and "ditambah: pejabat" in (added.plain or "")
    assert office.person("editor").roles == {Role.EDITOR, Role.PEJABAT}
    scope = {"type": "chat", "chat_id": 2001}
    assert "pratinjau" in [c["command"] for c in double.commands(scope)]

    await double.send_command(office.admin, "pengguna", "peran 2001 -editor +admin")
    changed = await double.wait_for_message(office.admin)
    assert "ditambah: admin" in (changed.plain or "")
    assert "dicabut: editor" in (changed.plain or "")
    assert office.person("editor").roles == {Role.PEJABAT, Role.ADMIN}
    assert "judul" not in [c["command"] for c in double.commands(scope)]

    await double.send_command(office.admin, "pengguna", "peran 2001 editor +admin")
    mixed = await double.wait_for_message(office.admin)
    assert "Peran tidak dikenal" in (mixed.plain or "")
    assert office.person("editor").roles == {Role.PEJABAT, Role.ADMIN}

    await double.send_command(office.admin, "pengguna", "bidang 1001 Bidang Sosial")
    placed = await double.wait_for_message(office.admin)
    assert "bidang Bidang Sosial" in (placed.plain or "")
    assert office.person("officer").section == "Bidang Sosial"
    await double.send_command(office.admin, "pengguna", "bidang 1001 -")
    await double.wait_for_message(office.admin)
    assert office.person("officer").section == ""


async def test_an_auto_approving_link_lets_the_newcomer_straight_in(bot_office: Office) -> None:
    office, double = bot_office, bot_office.double
    with office.warta.sessions() as session:
        new = invitations.create_invitation(session, None, office.warta.now(),
                                            roles=[Role.EDITOR], auto_approve=True)
    newcomer = double.user(7001, "Dewi")
    await double.send_command(newcomer, "start", new.token)
    await office.flush()
    welcome = await double.wait_for_message(newcomer, contains="Selamat datang")
    assert "editor" in (welcome.plain or "")
    scope = {"type": "chat", "chat_id": 7001}
    assert "judul" in [c["command"] for c in double.commands(scope)]
    assert not [m for m in double.sent_to(office.admin) if "Dewi" in (m.plain or "")]
