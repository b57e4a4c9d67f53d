"""Each person's command menu: only the commands of their roles, in their language."""

from __future__ import annotations

from telegram import Bot, BotCommand, BotCommandScopeChat
from telegram.error import TelegramError

from bot.base import log
from bot.commands import menu_for
from workflow.catalogue.lookup import t
from workflow.models import Person


class Menus:
    async def set_for(self, bot: Bot, person: Person) -> None:
        scope = BotCommandScopeChat(person.telegram_id)
        try:
            if not person.active:
                await bot.delete_my_commands(scope=scope)
                return
            commands = [BotCommand(name, t(f"cmd.{name}", person.language))
                        for name in menu_for(person)]
            await bot.set_my_commands(commands, scope=scope)
        except TelegramError as error:  # a person who never opened the bot has no chat yet
            log.info("menu for %s not set: %s", person.telegram_id, error)
