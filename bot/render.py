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
from typing import Any
from zoneinfo import ZoneInfo

import markupsafe
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, WebAppInfo

from workflow.catalogue.formats import number, numeric_date
from workflow.catalogue.lookup import Safe, t

# Re-exported: the bot's modules take the shared wording helpers from here.
from workflow.catalogue.refusals import checklist_lines as checklist_lines
from workflow.catalogue.refusals import clip as clip
from workflow.catalogue.refusals import refusal_text as refusal_text
from workflow.catalogue.refusals import state_label as state_label
from workflow.catalogue.refusals import utf16_length as utf16_length
from workflow.catalogue.refusals import when as when
from workflow.checklist import Check, evaluate
from workflow.config import ChecklistSettings
from workflow.models import Item, JoinRequest, MediaKind, Person, Status
from workflow.transitions import Action, allowed_actions, open_actions

TELEGRAM_TEXT_LIMIT = 4096  # UTF-16 code units of the text as shown
CARD_RESERVE = 500  # room left in a card for lines callers append (the documents list)
CARD_TEXT_LIMIT = 3500  # the most of the body a card shows, when there is room
CARD_FIELD_LIMIT = 150  # each other field of a card that would not leave room for the body
CARD_NOTE_LIMIT = 600
CARD_MIN_BODY = 800
SUMMARY_TEXT_LIMIT = 1500
SUMMARY_FIELD_LIMIT = 200
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
    "editing": ("preview", Action.FORWARD, Action.RETURN_TO_OFFICER, Action.RELEASE,
                Action.OPEN_CORRECTION),
    "decision": (Action.APPROVE, Action.REJECT, Action.REQUEST_REVISION, Action.TAKE_DOWN,
                 Action.OPEN_CORRECTION),
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


# Cards that also open the item in Warta web (a Mini App), in private chats only:
# Telegram refuses web_app buttons in groups.
MINI_APP_CARDS = ("editing", "decision")


def mini_app_url(public_url: str, chat_id: int) -> str:
    """Where a card's Mini App button opens the pages; "" for none (no public HTTPS
    address, or a group chat, whose ids are negative)."""
    return public_url.rstrip("/") if public_url and chat_id > 0 else ""


def keyboard(
    card: str, item: Item, lang: str, person: Person | None, web_url: str = ""
) -> InlineKeyboardMarkup | None:
    """Buttons for `card`: for a person, what they may do now; for a shared chat, what
    the item's state allows (the press is checked again, against the presser's roles).
    With `web_url` (see `mini_app_url`), an editing or decision card still open also
    offers the item in Warta web."""
    allowed = set(allowed_actions(item, person) if person is not None else open_actions(item))
    verbs = [verb for verb in CARD_BUTTONS[card] if button_action(verb) in allowed]
    if not verbs:
        return None
    buttons = [InlineKeyboardButton(t(button_label(verb), lang),
                                    callback_data=f"{verb}:{item.id}")
               for verb in verbs]
    rows = [buttons[i:i + 2] for i in range(0, len(buttons), 2)]
    if web_url and card in MINI_APP_CARDS:
        rows.append([InlineKeyboardButton(t("web.open_app", lang), web_app=WebAppInfo(
            f"{web_url}/app?item={item.id}"))])
    return InlineKeyboardMarkup(rows)


# The two answers on a join request card: callback data "<verb>:<request id>", label
# "btn.<verb>", and whether the answer lets the person in.
JOIN_BUTTONS: dict[str, bool] = {"join_yes": True, "join_no": False}


def join_keyboard(request: JoinRequest, lang: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t(f"btn.{verb}", lang),
                                                       callback_data=f"{verb}:{request.id}")
                                  for verb in JOIN_BUTTONS]])


def section_suffix(section: str, lang: str) -> Safe:
    return t("section.suffix", lang, section=section) if section else Safe("")


def join_facts(request: JoinRequest, lang: str) -> dict[str, object]:
    """What the join.* messages say about a request: who asked, for what, who answered."""
    invitation = request.invitation
    facts: dict[str, object] = {
        "request_id": request.id, "name": request.name, "telegram_id": request.telegram_id,
        "username": f" @{request.username}" if request.username else "",
        "roles": ", ".join(invitation.roles),
        "section": section_suffix(invitation.section, lang),
        "decision": "", "by": request.decided_by.name if request.decided_by else t("system", lang),
    }
    if request.decided_at is not None:
        facts["decision"] = Safe(t(f"passive.join.{request.state}", lang))
    return facts


def join_card(request: JoinRequest, lang: str, zone: ZoneInfo) -> str:
    """The admins' card for a join request; once answered, it says by whom and when."""
    facts = join_facts(request, lang)
    text: str = t("notify.join.request", lang, **facts)
    if request.decided_at is not None:
        text += "\n" + t("join.card_decided", lang, decision=facts["decision"], by=facts["by"],
                         at=when(request.decided_at, zone, lang))
    return text


def duration(minutes: float, lang: str) -> str:
    minutes = max(0, int(minutes))
    if minutes < 60:
        return t("time.minutes", lang, n=number(minutes, lang))
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return t("time.hours", lang, h=number(hours, lang), m=number(rest, lang))
    return t("time.days", lang, d=number(hours // 24, lang), h=number(hours % 24, lang))


def media_counts(item: Item, lang: str) -> str:
    kinds = [m.kind for m in item.media]
    return t("item.media_counts", lang, photos=kinds.count(MediaKind.PHOTO),
             documents=kinds.count(MediaKind.DOCUMENT), videos=kinds.count(MediaKind.VIDEO))


def shown_length(markup: str) -> int:
    """How long Telegram counts an HTML message: its text without tags, in UTF-16 units."""
    return utf16_length(markupsafe.Markup(_TAG.sub("", markup)).unescape())


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


OFF_THE_SITE = (Status.WITHDRAWING, Status.WITHDRAWN)
# States whose card says why the item is there (the reason given for the step).
NOTE_SHOWN = (Status.REJECTED, Status.RETURNED_TO_OFFICER, *OFF_THE_SITE)
# The cards that show the forwarding checklist while it matters: the editor's panel and
# the official's card, from editing until the decision.
CHECKLIST_CARDS = ("editing", "decision")
CHECKLIST_STATES = (Status.IN_EDITING, Status.AWAITING_APPROVAL)


def card_checks(item: Item, card: str, rules: ChecklistSettings) -> list[Check]:
    """The checklist's verdicts a card of kind `card` shows for `item` (often none)."""
    if card not in CHECKLIST_CARDS or item.status not in CHECKLIST_STATES:
        return []
    return evaluate(item, rules)


def item_card(item: Item, lang: str, zone: ZoneInfo, checks: Sequence[Check] = ()) -> str:
    """The card editors and officials see: the item as it will appear, and where it is,
    with the checklist's verdicts `checks` at the end.

    It fits one message with CARD_RESERVE to spare: the body gets the room the rest
    leaves (at most CARD_TEXT_LIMIT), and when long names, tags or a long reason would
    leave it too little, those are shortened first."""
    budget = TELEGRAM_TEXT_LIMIT - CARD_RESERVE
    short = shown_length(_card(item, lang, zone, "", None, checks)) > budget - CARD_MIN_BODY
    room = budget - shown_length(_card(item, lang, zone, "", short, checks))
    body = item.body or item.description
    return _card(item, lang, zone, clip(body, min(room, CARD_TEXT_LIMIT)), short, checks)


def _card(item: Item, lang: str, zone: ZoneInfo, body: str, short: bool | None,
          checks: Sequence[Check]) -> str:
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
    if item.remote_url and item.status not in OFF_THE_SITE:  # also while being corrected
        text += "\n" + t("item.published_at", lang, url=item.remote_url)
    if item.status in NOTE_SHOWN and item.last_note:
        text += "\n" + t("item.last_note", lang, note=fit(item.last_note, CARD_NOTE_LIMIT))
    if item.decided_by is not None and item.decided_at is not None:
        facts = item.decisions[-1].data if item.decisions else {}
        text += "\n" + t("item.decided", lang,
                         by=acting_name(fit(item.decided_by.name), facts, lang),
                         at=when(item.decided_at, zone, lang))
    if checks:
        text += "\n\n" + "\n".join([t("checklist.header", lang), *checklist_lines(checks, lang)])
    return text


def acting_name(name: str, facts: dict[str, Any], lang: str) -> Safe:
    """A person as an audit row records them: "Nama (Plt. untuk X)" when they acted for
    an official (see workflow.acting.Acting.facts), else their name."""
    if not facts.get("acting_title"):
        return Safe(markupsafe.escape(name))
    return t("acting.label", lang, name=name, title=str(facts["acting_title"]),
             principal=str(facts.get("acting_for_name", "")))
