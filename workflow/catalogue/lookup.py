"""Looking up a message in a language, its values filled in (`t` for HTML, `t_text` for text).

Messages for Telegram are HTML (its parse mode): `t` escapes every value it fills in with
markupsafe, unless the value is `Safe` (already rendered by `t`), so names, captions and
reasons are always shown as typed and never as markup. `t_text` is for plain text (the
reports, the terminal) and fills values in as they are.

A plural message (in a language's PLURALS) takes a `count` value: Babel's plural rules
for the language pick its form, and the count is shown as a number of that language.
"""

from __future__ import annotations

import re
import string
from typing import Final

import markupsafe

from workflow.catalogue import english, indonesian
from workflow.catalogue.formats import DEFAULT_LANGUAGE, number, plural_form

MESSAGES: Final[dict[str, dict[str, str]]] = {
    "id": indonesian.MESSAGES,
    "en": english.MESSAGES,
}
PLURALS: Final[dict[str, dict[str, dict[str, str]]]] = {
    "id": indonesian.PLURALS,
    "en": english.PLURALS,
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
    """The HTML message `key` in `language` (else the default language), `values` escaped."""
    template, values = _template(key, language, values)
    return Safe(template.format(**{name: escape(value) for name, value in values.items()}))


def t_text(key: str, language: str, **values: object) -> str:
    """The plain-text message `key` in `language` (else the default language)."""
    template, values = _template(key, language, values)
    return template.format(**values)


def _template(key: str, language: str, values: dict[str, object]
              ) -> tuple[str, dict[str, object]]:
    if language not in MESSAGES:
        language = DEFAULT_LANGUAGE
    if key in PLURALS[DEFAULT_LANGUAGE]:
        count = values["count"]
        if not isinstance(count, int | float):
            raise TypeError(f"{key} needs a number as count, not {count!r}")
        forms = PLURALS[language][key]
        template = forms.get(plural_form(count, language)) or forms["other"]
        return template, {**values, "count": number(count, language)}
    return MESSAGES[language].get(key) or MESSAGES[DEFAULT_LANGUAGE][key], values


_TAG = re.compile(r"<[^>]+>")


def plain(text: str, limit: int = 200) -> str:
    """A message as plain text (button answers show no HTML), within `limit` characters."""
    shown = markupsafe.Markup(_TAG.sub("", text)).unescape()
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def placeholders(template: str) -> set[str]:
    """The names of the values `template` takes."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}
