"""Turning items, errors and events into Telegram messages (HTML parse mode).

Every piece of text from people (captions, titles, names, reasons) passes through
`workflow.catalogue.lookup.t`, which escapes it, so nothing a user types can change the formatting.
Telegram counts a message's length as its text once the HTML is parsed, in UTF-16 code
units (an emoji outside the BMP counts twice) and refuses more than 4,096: `clip` and the
card measure that way, so a card near the limit is cut short, never refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import markupsafe
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from workflow.catalogue.formats import day_month_time, number, numeric_date
from workflow.catalogue.lookup import Safe, t
from workflow.errors import (
    Conflict,
    Incomplete,
    InvalidValue,
    MissingNote,
    NotAllowed,
    NotFound,
    NotRegistered,
    WorkflowError,
    WrongState,
)
from workflow.models import Item, MediaKind, Person, Status
from workflow.transitions import Action, allowed_actions, open_actions

TELEGRAM_TEXT_LIMIT = 4096  # UTF-16 code units of the text as shown
CARD_RESERVE = 500  # room left in a card for lines callers append (the documents list)
CARD_TEXT_LIMIT = 3500  # the most of the body a card shows, when there is room
CARD_FIELD_LIMIT = 150  # each other field of a card that would not leave room for the body
CARD_NOTE_LIMIT = 600
CARD_MIN_BODY = 800
SUMMARY_TEXT_LIMIT = 1500
SUMMARY_FIELD_LIMIT = 200
CONFLICT_NAME_LIMIT = 60  # answers to buttons hold 200 characters
_TAG = re.compile(r"<[^<>]*>")
# Buttons that open a view or a question instead of taking a step: each is shown while
# the action named is allowed. Every other button is a step, named by its `Action` (its
# callback data is "<action>:<item id>" and its label "btn.<action>").
VIEW_BUTTONS: dict[str, tuple[Action, str]] = {
    "note": (Action.UPDATE_DRAFT, "btn.add_note"),
    "date": (Action.UPDATE_DRAFT, "btn.pick_date"),
    "preview": (Action.EDIT, "btn.preview"),
}
# Which buttons each kind of card carries, in order (shown only while possible).
CARD_BUTTONS: dict[str, tuple[str, ...]] = {
    "draft": (Action.SUBMIT, "note", "date", Action.CANCEL),
    "claim": (Action.CLAIM,),
    "editing": ("preview", Action.FORWARD, Action.RETURN_TO_OFFICER),
    "decision": (Action.APPROVE, Action.REJECT, Action.REQUEST_REVISION),
    "failed": (Action.RETRY_PUBLISH,),
}
# Names that cards and questions already in chats carry from before each step had one
# name; a press or an answer made with them still finds its step.
EARLIER_NAMES: dict[str, Action] = {
    "return": Action.RETURN_TO_OFFICER,
    "revise": Action.REQUEST_REVISION,
    "retry": Action.RETRY_PUBLISH,
}


def button_action(verb: str) -> Action:
    """The action a button stands for, and must be allowed for it to show."""
    return VIEW_BUTTONS[verb][0] if verb in VIEW_BUTTONS else Action(verb)


def button_label(verb: str) -> str:
    return VIEW_BUTTONS[verb][1] if verb in VIEW_BUTTONS else f"btn.{verb}"


def keyboard(
    card: str, item: Item, lang: str, person: Person | None
) -> InlineKeyboardMarkup | None:
    """Buttons for `card`: for a person, what they may do now; for a shared chat, what
    the item's state allows (the press is checked again, against the presser's roles)."""
    allowed = set(allowed_actions(item, person) if person is not None else open_actions(item))
    verbs = [verb for verb in CARD_BUTTONS[card] if button_action(verb) in allowed]
    if not verbs:
        return None
    buttons = [InlineKeyboardButton(t(button_label(verb), lang),
                                    callback_data=f"{verb}:{item.id}")
               for verb in verbs]
    rows = [buttons[i:i + 2] for i in range(0, len(buttons), 2)]
    return InlineKeyboardMarkup(rows)


def when(moment: datetime | None, zone: ZoneInfo, lang: str) -> str:
    return "-" if moment is None else day_month_time(moment, zone, lang)


def duration(minutes: float, lang: str) -> str:
    minutes = max(0, int(minutes))
    if minutes < 60:
        return t("time.minutes", lang, n=number(minutes, lang))
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return t("time.hours", lang, h=number(hours, lang), m=number(rest, lang))
    return t("time.days", lang, d=number(hours // 24, lang), h=number(hours % 24, lang))


def state_label(state: Status | str, lang: str) -> str:
    return t(f"state.{Status(state).value}", lang)


def media_counts(item: Item, lang: str) -> str:
    kinds = [m.kind for m in item.media]
    return t("item.media_counts", lang, photos=kinds.count(MediaKind.PHOTO),
             documents=kinds.count(MediaKind.DOCUMENT), videos=kinds.count(MediaKind.VIDEO))


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def shown_length(markup: str) -> int:
    """How long Telegram counts an HTML message: its text without tags, in UTF-16 units."""
    return utf16_length(markupsafe.Markup(_TAG.sub("", markup)).unescape())


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-16 code units, ending in "…" when cut."""
    if utf16_length(text) <= limit:
        return text
    kept, used = [], 1  # the ellipsis
    for char in text:
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            break
        kept.append(char)
    return "".join(kept) + "…" if limit > 0 else ""


MESSAGE_BUDGET = 3500  # UTF-16 units of lines per message; Telegram takes 4096 in all


def fit_lines(lines: Sequence[str], lang: str, *, hidden: int = 0, more: str = "lines.more",
              budget: int = MESSAGE_BUDGET) -> Safe:
    """The first lines that fit one message, then how many more there are (plus `hidden`
    that were left out before)."""
    shown: list[str] = []
    used = 0
    for line in lines:
        size = utf16_length(line) + 1
        if used + size > budget:
            break
        shown.append(line)
        used += size
    left_out = len(lines) - len(shown) + hidden
    if left_out:
        shown.append(t(more, lang, n=left_out))
    return Safe("\n".join(shown))


def draft_summary(item: Item, lang: str, zone: ZoneInfo) -> str:
    """What the officer sees after each thing they send."""
    return t(
        "draft.summary", lang, id=item.id, state=Safe(state_label(item.status, lang)),
        media=Safe(media_counts(item, lang)),
        description=clip(item.description, SUMMARY_TEXT_LIMIT)
        or t("draft.no_description", lang),
        section=clip(item.section, SUMMARY_FIELD_LIMIT) or "-",
        date=numeric_date(item.activity_date, lang) if item.activity_date else "-",
    )


def item_card(item: Item, lang: str, zone: ZoneInfo) -> str:
    """The card editors and officials see: the item as it will appear, and where it is.

    It fits one message with CARD_RESERVE to spare: the body gets the room the rest
    leaves (at most CARD_TEXT_LIMIT), and when long names, tags or a long reason would
    leave it too little, those are shortened first."""
    budget = TELEGRAM_TEXT_LIMIT - CARD_RESERVE
    short = shown_length(_card(item, lang, zone, "", None)) > budget - CARD_MIN_BODY
    room = budget - shown_length(_card(item, lang, zone, "", short))
    body = item.body or item.description
    return _card(item, lang, zone, clip(body, min(room, CARD_TEXT_LIMIT)), short)


def _card(item: Item, lang: str, zone: ZoneInfo, body: str, short: bool | None) -> str:
    def fit(text: str, limit: int = CARD_FIELD_LIMIT) -> str:
        return clip(text, limit) if short else text

    title = item.title or t("item.untitled", lang)
    tags = ", ".join(item.tags)
    text: str = t(
        "item.card", lang, id=item.id, title=fit(title), body=body,
        officer=fit(item.officer.name), section=fit(item.section) or "-",
        editor=fit(item.editor.name) if item.editor else "-",
        category=fit(item.category) or "-", tags=fit(tags) or "-",
        media=Safe(media_counts(item, lang)), state=Safe(state_label(item.status, lang)),
        date=numeric_date(item.activity_date, lang) if item.activity_date else "-",
    )
    if item.forwarded_from:
        text += "\n" + t("item.forwarded_from", lang, source=fit(item.forwarded_from))
    if item.status is Status.PUBLISHED and item.remote_url:
        text += "\n" + t("item.published_at", lang, url=item.remote_url)
    elif item.status in (Status.REJECTED, Status.RETURNED_TO_OFFICER) and item.last_note:
        text += "\n" + t("item.last_note", lang, note=fit(item.last_note, CARD_NOTE_LIMIT))
    if item.decided_by is not None and item.decided_at is not None:
        text += "\n" + t("item.decided", lang, by=fit(item.decided_by.name),
                         at=when(item.decided_at, zone, lang))
    return text


def error_text(error: WorkflowError, lang: str, zone: ZoneInfo) -> str:
    """One short sentence in the person's language for every refusal of the workflow."""
    facts = error.facts
    if isinstance(error, Conflict):
        return t("error.conflict", lang, action=Safe(t(f"passive.{error.action}", lang)),
                 by=clip(error.by, CONFLICT_NAME_LIMIT) or t("system", lang),
                 at=when(error.at, zone, lang))
    if isinstance(error, WrongState) and facts.get("reason") == "edited_late":
        return t("error.edited_late", lang, id=str(facts.get("item_id", "")))
    if isinstance(error, WrongState):
        return t("error.wrong_state", lang,
                 state=Safe(state_label(str(facts.get("state", "draft")), lang)))
    if isinstance(error, NotAllowed):
        key = "error.not_yours" if facts.get("reason") == "owner" else "error.not_allowed"
        return t(key, lang)
    if isinstance(error, MissingNote):
        if facts.get("reason") == "too_short":
            return t("error.short_note", lang, words=str(facts.get("min_words", "")),
                     chars=str(facts.get("min_chars", "")))
        return t("error.missing_note", lang)
    if isinstance(error, Incomplete):
        return t(f"error.incomplete.{facts.get('missing', 'content')}", lang)
    if isinstance(error, NotFound):
        return t("error.not_found", lang)
    if isinstance(error, NotRegistered):
        return t("error.not_registered", lang)
    if isinstance(error, InvalidValue):
        return t(f"error.invalid.{facts.get('field', 'value')}", lang)
    return t("error.generic", lang)
