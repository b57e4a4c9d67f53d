"""File names made fit for display; they are never used to build a path."""

from __future__ import annotations

import re
import unicodedata
from typing import Final

_DROP_CATEGORIES: Final = frozenset({"Cf", "Cs", "Co", "Cn"})
_SPACE_CATEGORIES: Final = frozenset({"Cc", "Zl", "Zp", "Zs"})
_KEEP_FORMAT: Final = frozenset({"\u200c", "\u200d"})  # ZWNJ/ZWJ: scripts and emoji need them


def sanitize_display_name(name: str | None, max_length: int = 120) -> str | None:
    """A file name fit for display: last path component, no control/bidi/format characters,
    whitespace collapsed, NFC, at most ``max_length`` characters (extension kept).

    Unicode letters are kept.  Returns None when nothing is left.  Never use it as a path.
    """
    if not name:
        return None
    name = unicodedata.normalize("NFC", name)
    name = re.split(r"[/\\]", name)[-1]
    out = []
    for ch in name:
        cat = unicodedata.category(ch)
        if cat in _SPACE_CATEGORIES:
            out.append(" ")
        elif cat in _DROP_CATEGORIES and ch not in _KEEP_FORMAT:
            continue
        else:
            out.append(ch)
    cleaned = " ".join("".join(out).split()).strip(" .")
    if not cleaned:
        return None
    if len(cleaned) > max_length:
        stem, dot, ext = cleaned.rpartition(".")
        if dot and stem and 0 < len(ext) <= 10 and len(ext) + 2 < max_length:
            cleaned = stem[: max_length - len(ext) - 2].rstrip() + "…." + ext
        else:
            cleaned = cleaned[: max_length - 1].rstrip() + "…"
    return cleaned
