"""Finding a message by key in a language and filling in its values (`t`).

Messages for Telegram are HTML (its parse mode): `t` escapes every value it fills in,
unless the value is `Safe` (already rendered by `t`), so names, captions and reasons are
always shown as typed and never as markup.
"""

from __future__ import annotations

import html
import re
import string
from typing import Final

from workflow.catalogue import english, indonesian

DEFAULT_LANGUAGE: Final = "id"
MESSAGES: Final[dict[str, dict[str, str]]] = {
    "id": indonesian.MESSAGES,
    "en": english.MESSAGES,
}


class Safe(str):
    """Text that is already HTML-safe (the output of `t`), inserted as it is."""

    __slots__ = ()


def t(key: str, language: str, **values: object) -> Safe:
    """The message `key` in `language` (else the default language), `values` escaped."""
    table = MESSAGES.get(language, MESSAGES[DEFAULT_LANGUAGE])
    template = table.get(key) or MESSAGES[DEFAULT_LANGUAGE][key]
    escaped = {
        name: value if isinstance(value, Safe) else html.escape(str(value), quote=False)
        for name, value in values.items()
    }
    return Safe(template.format(**escaped))


_TAG = re.compile(r"<[^>]+>")


def plain(text: str, limit: int = 200) -> str:
    """A message as plain text (button answers show no HTML), within `limit` characters."""
    shown = html.unescape(_TAG.sub("", text))
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def placeholders(template: str) -> set[str]:
    """The names of the values `template` takes."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}
