"""Joining by invitation: the admin's /undang, a newcomer's /start TOKEN, the admins' answer."""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatType

from bot.base import WartaContext, answer_button, answers_errors, reply
from bot.render import section_suffix, when
from workflow import invitations, people
from workflow.catalogue.lookup import t


def start_token(update: Update) -> str | None:
    """The token of a `/start TOKEN` sent in a private chat (an opened invitation link)."""
    message = update.message
    if message is None or message.chat.type != ChatType.PRIVATE or not message.text:
        return None
    words = message.text.split()
    command = words[0].split("@", 1)[0] if words else ""
    return words[1] if command == "/start" and len(words) == 2 else None


@answers_errors
async def on_invite(update: Update, context: WartaContext) -> None:
    """/undang PERAN [bidang]: a link that lets one new person ask to join, for a week."""
    args = context.args or []
    lang, warta = context.lang, context.warta
    if not args:
        await reply(update, t("usage.undang", lang))
        return
    with warta.sessions() as session:
        new = invitations.create_invitation(session, context.me, warta.now(),
                                            roles=people.parse_roles([args[0]]),
                                            section=" ".join(args[1:]))
    invitation = new.invitation
    await reply(update, t("invite.made", lang, roles=", ".join(invitation.roles),
                          section=section_suffix(invitation.section, lang),
                          link=invitations.invitation_link(context.bot.username, new.token),
                          until=when(invitation.expires_at, warta.zone, lang),
                          uses=invitation.uses_left))


@answers_errors
async def on_arrival(update: Update, context: WartaContext, token: str) -> None:
    """Someone not registered opened an invitation link: the admins are asked about them
    (or, if the invitation says so, they are let in and welcomed by the outbox)."""
    user = update.effective_user
    if user is None:
        return
    warta = context.warta
    with warta.sessions() as session:
        arrival = invitations.arrive(session, warta.now(), token=token, telegram_id=user.id,
                                     name=user.full_name, username=user.username or "",
                                     language_code=user.language_code)
    if arrival.person is not None:
        await context.application.bot_data["menus"].set_for(context.bot, arrival.person)
        return
    await reply(update, t("join.waiting", context.lang, name=user.first_name))


@answers_errors
async def on_join_answer(update: Update, context: WartaContext, request_id: int,
                         approve: bool) -> None:
    """An admin's Setujui / Tolak on a join request; a late tap is told who answered."""
    warta = context.warta
    with warta.sessions() as session:
        request = invitations.decide(session, context.me, warta.now(), request_id,
                                     approve=approve)
        newcomer = people.find_by_telegram_id(session, request.telegram_id)
        answer = t(f"passive.join.{request.state}", context.lang)
    await answer_button(update, answer)  # every admin's card is edited from the outbox
    if newcomer is not None:
        await context.application.bot_data["menus"].set_for(context.bot, newcomer)
