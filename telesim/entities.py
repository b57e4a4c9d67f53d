"""How Telegram reads a message's text: HTML parse mode to entities, lengths, keyboards."""

from __future__ import annotations

import re
from typing import Any

from telesim.errors import ApiError
from telesim.state import JSON

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
_BUTTON_ACTIONS = frozenset(
    {
        "callback_data", "url", "web_app", "login_url", "switch_inline_query",
        "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
        "callback_game", "pay",
    }
)  # fmt: skip


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's offsets and limits."""
    return len(text.encode("utf-16-le")) // 2


_HTML_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s[^<>]*)?)>")
_HTML_ENTITY = re.compile(r"&(lt|gt|amp|quot|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});")
_HTML_HREF = re.compile(r"""href\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_HTML_TAGS = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "span": "spoiler", "tg-spoiler": "spoiler", "a": "text_link", "code": "code", "pre": "pre",
    "blockquote": "blockquote", "tg-emoji": "custom_emoji",
}  # fmt: skip
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def _decode_entity(name: str) -> str:
    if name in _NAMED_ENTITIES:
        return _NAMED_ENTITIES[name]
    number = int(name[2:], 16) if name.startswith("#x") else int(name[1:])
    return chr(number)


def _html_entity(name: str, attrs: str, offset: int, length: int) -> JSON | None:
    entity: JSON = {"type": _HTML_TAGS[name], "offset": offset, "length": length}
    if name == "a":
        href = _HTML_HREF.search(attrs)
        if href is None:
            return None  # Telegram keeps the text and drops a link without href
        entity["url"] = next(g for g in href.groups() if g is not None)
    elif name == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    elif name == "tg-emoji":
        emoji_id = re.search(r"emoji-id\s*=\s*\"?(\d+)", attrs)
        entity["custom_emoji_id"] = emoji_id.group(1) if emoji_id else ""
    return entity


def render_html(text: str) -> tuple[str, list[JSON]]:
    """Parse Telegram-flavoured HTML like the server: returns (plain text, entities).

    Offsets are in UTF-16 code units.  Unsupported or unbalanced tags and a bare ``<`` raise
    ``ApiError(400, "Bad Request: can't parse entities: ...")``; unknown ``&`` sequences are
    kept literally, as Telegram does.
    """
    out: list[str] = []
    offset = 0
    stack: list[tuple[str, int, str]] = []
    entities: list[JSON] = []
    i = 0
    while i < len(text):
        if text[i] == "<":
            i = _html_tag(text, i, offset, stack, entities)
            continue
        piece = text[i]
        entity = _HTML_ENTITY.match(text, i) if piece == "&" else None
        if entity is not None:
            piece, i = _decode_entity(entity.group(1)), entity.end()
        else:
            i += 1
        out.append(piece)
        offset += utf16_len(piece)
    if stack:
        raise _parse_error(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _html_tag(
    text: str, i: int, offset: int, stack: list[tuple[str, int, str]], entities: list[JSON]
) -> int:
    """Handle the tag starting at ``text[i]``; returns the index after it."""
    where = f"at byte offset {len(text[:i].encode())}"
    tag = _HTML_TAG.match(text, i)
    if tag is None:
        raise _parse_error(f"Unsupported start tag {where}")
    closing, name, attrs = tag.group(1) == "/", tag.group(2).lower(), tag.group(3)
    if name not in _HTML_TAGS:
        raise _parse_error(f'Unsupported {"end" if closing else "start"} tag "{name}" {where}')
    if not closing:
        if name == "span" and "tg-spoiler" not in attrs:
            raise _parse_error(f'Tag "span" must have class "tg-spoiler" {where}')
        stack.append((name, offset, attrs))
        return tag.end()
    if not stack or stack[-1][0] != name:
        expected = f'"</{stack[-1][0]}>"' if stack else "no end tag"
        raise _parse_error(f'Unmatched end tag {where}, expected {expected}, found "</{name}>"')
    _, start, open_attrs = stack.pop()
    if offset > start:
        entity = _html_entity(name, open_attrs, start, offset - start)
        if entity is not None:
            entities.append(entity)
    return tag.end()


def _parse_error(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: can't parse entities: {detail}")


def render_text(text: str | None, parse_mode: Any, entities: Any) -> tuple[str | None, list[JSON]]:
    """What the user sees for ``text``: explicit entities win, then HTML parse mode.

    Markdown parse modes are passed through unvalidated (the double only checks HTML).
    """
    if text is None:
        return None, []
    if isinstance(entities, list) and entities:
        return text, list(entities)
    if isinstance(parse_mode, str) and parse_mode.lower() == "html":
        return render_html(text)
    return text, []


def check_length(plain: str | None, *, caption: bool) -> None:
    """Refuse an empty or too long text, or a too long caption, as Telegram does."""
    if plain is None:
        return
    if caption:
        if utf16_len(plain) > CAPTION_LIMIT:
            raise ApiError(400, "Bad Request: message caption is too long")
        return
    if not plain.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if utf16_len(plain) > MESSAGE_LIMIT:
        raise ApiError(400, "Bad Request: message is too long")


def check_markup(markup: Any) -> JSON | None:
    """Validate reply_markup the way Telegram rejects common mistakes."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    for row in markup.get("inline_keyboard", []):
        for button in row:
            if not button.get("text"):
                raise ApiError(400, "Bad Request: inline keyboard button text is empty")
            if not _BUTTON_ACTIONS.intersection(button):
                raise ApiError(
                    400, "Bad Request: text buttons are unallowed in the inline keyboard"
                )
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return markup
