"""Each person's command menu: only the commands of their roles, in their language; staff
also get a menu button opening Warta web when it has a public HTTPS address."""

from __future__ import annotations

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    MenuButtonDefault,
    MenuButtonWebApp,
    WebAppInfo,
)
from telegram.error import TelegramError

from bot.base import log
from bot.commands import menu_for
from workflow.catalogue.lookup import t
from workflow.models import Person, Role

STAFF = frozenset({Role.EDITOR, Role.PEJABAT, Role.ADMIN, Role.KEPALA})


class Menus:
    def __init__(self, public_url: str = "") -> None:
        self.public_url = public_url.rstrip("/")

    async def set_for(self, bot: Bot, person: Person) -> None:
        scope = BotCommandScopeChat(person.telegram_id)
        try:
            if not person.active:
                await bot.delete_my_commands(scope=scope)
                await self._set_button(bot, person, web=False)
                return
            commands = [BotCommand(name, t(f"cmd.{name}", person.language))
                        for name in menu_for(person)]
            await bot.set_my_commands(commands, scope=scope)
            await self._set_button(bot, person, web=bool(person.roles & STAFF))
        except TelegramError as error:  # a person who never opened the bot has no chat yet
            log.info("menu for %s not set: %s", person.telegram_id, error)

    async def _set_button(self, bot: Bot, person: Person, *, web: bool) -> None:
        if not self.public_url:
            return
        button = MenuButtonWebApp(t("web.open_app", person.language),
                                  WebAppInfo(f"{self.public_url}/app")) if web \
            else MenuButtonDefault()
        await bot.set_chat_menu_button(chat_id=person.telegram_id, menu_button=button)
