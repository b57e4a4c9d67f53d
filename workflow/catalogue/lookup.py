"""Finding a message by key in a language and filling in its values (`t`).

Messages for Telegram are HTML (its parse mode): `t` escapes every value it fills in with
markupsafe, unless the value is `Safe` (already rendered by `t`), so names, captions and
reasons are always shown as typed and never as markup.
"""

from __future__ import annotations

import re
import string
from typing import Final

import markupsafe

from workflow.catalogue import english, indonesian

DEFAULT_LANGUAGE: Final = "id"
MESSAGES: Final[dict[str, dict[str, str]]] = {
    "id": indonesian.MESSAGES,
    "en": english.MESSAGES,
}


class Safe(str):
    """Text that is already HTML-safe (the output of `t`), inserted as it is."""

    __slots__ = ()

    def __html__(self) -> str:
        return self


def escape(value: object) -> markupsafe.Markup:
    """`value` as Telegram HTML text: markupsafe's escaping, quotes left as typed.

    Quotes need escaping only inside a tag's attributes, where no value ever goes, and the
    bot has always sent them as people typed them; keeping them keeps every message the
    same bytes (and a re-rendered card equal to the one already sent)."""
    if hasattr(value, "__html__"):
        return markupsafe.escape(value)
    escaped = str(markupsafe.escape(value))
    return markupsafe.Markup(escaped.replace("&#34;", '"').replace("&#39;", "'"))


def t(key: str, language: str, **values: object) -> Safe:
    """The message `key` in `language` (else the default language), `values` escaped."""
    table = MESSAGES.get(language, MESSAGES[DEFAULT_LANGUAGE])
    template = table.get(key) or MESSAGES[DEFAULT_LANGUAGE][key]
    return Safe(template.format(**{name: escape(value) for name, value in values.items()}))


_TAG = re.compile(r"<[^>]+>")


def plain(text: str, limit: int = 200) -> str:
    """A message as plain text (button answers show no HTML), within `limit` characters."""
    shown = markupsafe.Markup(_TAG.sub("", text)).unescape()
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def placeholders(template: str) -> set[str]:
    """The names of the values `template` takes."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}
