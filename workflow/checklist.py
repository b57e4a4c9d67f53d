"""The checklist an item must pass before it is forwarded: what is there, what is missing.

Rules come from `[checklist]` (see `ChecklistSettings`); each gives a ✅/❌ line on the
editor's panel and the official's card, and `require` refuses a forward with the list of
what is missing. The rules are facts about the item, never about who is asking.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from workflow.config import ChecklistSettings
from workflow.errors import Incomplete
from workflow.models import Item, MediaKind


@dataclass(frozen=True)
class Check:
    """One rule's verdict: `key` names the message, `facts` fill it in."""

    key: str
    passed: bool
    facts: dict[str, int | str]


def _cover(item: Item, rules: ChecklistSettings) -> Check | None:
    if not rules.cover_photo:
        return None
    return Check("cover", item.cover is not None, {})


def _body(item: Item, rules: ChecklistSettings) -> Check | None:
    if not rules.min_body_words:
        return None
    words = len(item.body.split())
    return Check("body_words", words >= rules.min_body_words,
                 {"words": words, "minimum": rules.min_body_words})


def _title(item: Item, rules: ChecklistSettings) -> Check | None:
    if not rules.max_title_chars:
        return None
    length = len(item.title.strip())
    return Check("title_length", 0 < length <= rules.max_title_chars,
                 {"length": length, "maximum": rules.max_title_chars})


def _date(item: Item, rules: ChecklistSettings) -> Check | None:
    return Check("activity_date", item.activity_date is not None, {}) \
        if rules.activity_date else None


def _section(item: Item, rules: ChecklistSettings) -> Check | None:
    return Check("section", bool(item.section.strip()), {}) if rules.section else None


def _category(item: Item, rules: ChecklistSettings) -> Check | None:
    return Check("category", bool(item.category.strip()), {}) if rules.category else None


def _alt_text(item: Item, rules: ChecklistSettings) -> Check | None:
    if not rules.photo_alt_text:
        return None
    photos = [m for m in item.media if m.kind == MediaKind.PHOTO]
    without = [str(m.position) for m in photos if not m.alt_text.strip()]
    return Check("alt_text", not without, {"photos": ", ".join(without), "count": len(without)})


RULES: Sequence[Callable[[Item, ChecklistSettings], Check | None]] = (
    _cover, _title, _body, _date, _section, _category, _alt_text,
)


def evaluate(item: Item, rules: ChecklistSettings) -> list[Check]:
    """Every configured rule's verdict on `item`, in the order the cards show them."""
    return [check for rule in RULES if (check := rule(item, rules)) is not None]


def require(item: Item, rules: ChecklistSettings) -> None:
    """Refuses (Incomplete, code "incomplete", `missing` the failed keys, `failed` their
    checks) unless every configured rule passes."""
    failed = [check for check in evaluate(item, rules) if not check.passed]
    if failed:
        raise Incomplete("the checklist is not complete",
                         missing=",".join(check.key for check in failed), checklist=True,
                         failed=tuple(failed))
