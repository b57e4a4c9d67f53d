"""Turning items, errors and events into Telegram messages (HTML parse mode).

Every piece of text from people (captions, titles, names, reasons) passes through
`bot.i18n.t`, which escapes it, so nothing a user types can change the formatting.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import Safe, t
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
from workflow.transitions import allowed_actions

CARD_TEXT_LIMIT = 3500
# Button verb in callback data -> (workflow action that must be allowed, label key).
BUTTONS: dict[str, tuple[str, str]] = {
    "submit": ("submit", "btn.submit"),
    "note": ("update_draft", "btn.add_note"),
    "date": ("update_draft", "btn.pick_date"),
    "cancel": ("cancel", "btn.cancel"),
    "claim": ("claim", "btn.claim"),
    "preview": ("edit", "btn.preview"),
    "forward": ("forward", "btn.forward"),
    "return": ("return_to_officer", "btn.return"),
    "approve": ("approve", "btn.approve"),
    "reject": ("reject", "btn.reject"),
    "revise": ("request_revision", "btn.revise"),
    "retry": ("retry_publish", "btn.retry"),
}
# Which buttons each kind of card carries (shown only while the action is possible).
CARD_BUTTONS: dict[str, tuple[str, ...]] = {
    "draft": ("submit", "note", "date", "cancel"),
    "claim": ("claim",),
    "editing": ("preview", "forward", "return"),
    "decision": ("approve", "reject", "revise"),
    "failed": ("retry",),
}
# For cards in shared chats, what must be true of the item for the button to show.
CARD_STATES: dict[str, frozenset[Status]] = {
    "claim": frozenset({Status.SUBMITTED}),
    "decision": frozenset({Status.AWAITING_APPROVAL}),
    "failed": frozenset({Status.PUBLISH_FAILED}),
}


def keyboard(
    card: str, item: Item, lang: str, person: Person | None
) -> InlineKeyboardMarkup | None:
    """Buttons for `card`: for a person, what they may do now; for a shared chat, what
    the item's state allows (the press is checked again, against the presser's roles)."""
    if person is not None:
        allowed = set(allowed_actions(item, person))
        verbs = [v for v in CARD_BUTTONS[card] if BUTTONS[v][0] in allowed]
    elif item.status in CARD_STATES.get(card, frozenset()):
        verbs = list(CARD_BUTTONS[card])
    else:
        verbs = []
    if not verbs:
        return None
    buttons = [InlineKeyboardButton(t(lang, BUTTONS[v][1]), callback_data=f"{v}:{item.id}")
               for v in verbs]
    rows = [buttons[i:i + 2] for i in range(0, len(buttons), 2)]
    return InlineKeyboardMarkup(rows)


def when(moment: datetime | None, zone: ZoneInfo) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(zone).strftime("%d/%m %H:%M")


def duration(minutes: float, lang: str) -> str:
    minutes = max(0, int(minutes))
    if minutes < 60:
        return t(lang, "time.minutes", n=minutes)
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return t(lang, "time.hours", h=hours, m=rest)
    return t(lang, "time.days", d=hours // 24, h=hours % 24)


def state_label(state: Status | str, lang: str) -> str:
    return t(lang, f"state.{Status(state).value}")


def media_counts(item: Item, lang: str) -> str:
    kinds = [m.kind for m in item.media]
    return t(lang, "item.media_counts", photos=kinds.count(MediaKind.PHOTO),
             documents=kinds.count(MediaKind.DOCUMENT), videos=kinds.count(MediaKind.VIDEO))


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def draft_summary(item: Item, lang: str, zone: ZoneInfo) -> str:
    """What the officer sees after each thing they send."""
    return t(
        lang, "draft.summary", id=item.id, state=Safe(state_label(item.status, lang)),
        media=Safe(media_counts(item, lang)),
        description=clip(item.description, 1500) or t(lang, "draft.no_description"),
        section=item.section or "-",
        date=item.activity_date.strftime("%d/%m/%Y") if item.activity_date else "-",
    )


def item_card(item: Item, lang: str, zone: ZoneInfo) -> str:
    """The card editors and officials see: the item as it will appear, and where it is."""
    title = item.title or t(lang, "item.untitled")
    body = item.body or item.description
    tags = ", ".join(item.tags)
    text: str = t(
        lang, "item.card", id=item.id, title=title, body=clip(body, CARD_TEXT_LIMIT),
        officer=item.officer.name, section=item.section or "-",
        editor=item.editor.name if item.editor else "-",
        category=item.category or "-", tags=tags or "-",
        media=Safe(media_counts(item, lang)), state=Safe(state_label(item.status, lang)),
        date=item.activity_date.strftime("%d/%m/%Y") if item.activity_date else "-",
    )
    if item.status is Status.PUBLISHED and item.remote_url:
        text += "\n" + t(lang, "item.published_at", url=item.remote_url)
    elif item.status in (Status.REJECTED, Status.RETURNED_TO_OFFICER) and item.last_note:
        text += "\n" + t(lang, "item.last_note", note=item.last_note)
    if item.decided_by is not None and item.decided_at is not None:
        text += "\n" + t(lang, "item.decided", by=item.decided_by.name,
                         at=when(item.decided_at, zone))
    return text


def error_text(error: WorkflowError, lang: str, zone: ZoneInfo) -> str:
    """One short sentence in the person's language for every refusal of the workflow."""
    facts = error.facts
    if isinstance(error, Conflict):
        return t(lang, "error.conflict", action=Safe(t(lang, f"passive.{error.action}")),
                 by=error.by or t(lang, "system"), at=when(error.at, zone))
    if isinstance(error, WrongState):
        return t(lang, "error.wrong_state",
                 state=Safe(state_label(str(facts.get("state", "draft")), lang)))
    if isinstance(error, NotAllowed):
        key = "error.not_yours" if facts.get("reason") == "owner" else "error.not_allowed"
        return t(lang, key)
    if isinstance(error, MissingNote):
        return t(lang, "error.missing_note")
    if isinstance(error, Incomplete):
        return t(lang, f"error.incomplete.{facts.get('missing', 'content')}")
    if isinstance(error, NotFound):
        return t(lang, "error.not_found")
    if isinstance(error, NotRegistered):
        return t(lang, "error.not_registered")
    if isinstance(error, InvalidValue):
        return t(lang, f"error.invalid.{facts.get('field', 'value')}")
    return t(lang, "error.generic")
