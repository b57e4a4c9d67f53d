"""One sentence for every refusal of the workflow, in the person's language (bot and web)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from workflow.catalogue.formats import day_month_time
from workflow.catalogue.lookup import Safe, t
from workflow.checklist import Check
from workflow.errors import (
    Conflict,
    DelegationRefused,
    Incomplete,
    InvalidValue,
    InvitationUnusable,
    MissingNote,
    NotAllowed,
    NotFound,
    NotRegistered,
    OwnItem,
    WorkflowError,
    WrongState,
)
from workflow.models import Status

CONFLICT_NAME_LIMIT = 60  # Telegram's answers to buttons hold 200 characters


def when(moment: datetime | None, zone: ZoneInfo, lang: str) -> str:
    return "-" if moment is None else day_month_time(moment, zone, lang)


def state_label(state: Status | str, lang: str) -> str:
    return t(f"state.{Status(state).value}", lang)


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


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


def checklist_lines(checks: Sequence[Check], lang: str) -> list[str]:
    """One ✅/❌ line per rule, with its figures."""
    return [t("checklist.passed" if check.passed else "checklist.failed", lang,
              rule=t(f"checklist.{check.key}", lang, **check.facts)) for check in checks]


def refusal_text(error: WorkflowError, lang: str, zone: ZoneInfo) -> str:
    """One short sentence in the person's language for every refusal of the workflow: the
    bot's answer and the web's refusal page say the same."""
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
    if isinstance(error, OwnItem):
        return t("error.own_item", lang)
    if isinstance(error, DelegationRefused):
        return t(f"error.delegation.{error.reason}", lang,
                 **{key: str(value) for key, value in facts.items() if key != "reason"})
    if isinstance(error, NotAllowed):
        key = "error.not_yours" if facts.get("reason") == "owner" else "error.not_allowed"
        return t(key, lang)
    if isinstance(error, MissingNote):
        if facts.get("reason") == "too_short":
            return t("error.short_note", lang, words=str(facts.get("min_words", "")),
                     chars=str(facts.get("min_chars", "")))
        return t("error.missing_note", lang)
    if isinstance(error, Incomplete):
        failed = facts.get("failed")
        if facts.get("checklist") and isinstance(failed, tuple):
            return t("error.checklist", lang, lines=Safe("\n".join(checklist_lines(failed, lang))))
        return t(f"error.incomplete.{facts.get('missing', 'content')}", lang)
    if isinstance(error, NotFound):
        return t("error.not_found", lang)
    if isinstance(error, NotRegistered):
        return t("error.not_registered", lang)
    if isinstance(error, InvitationUnusable):
        return t(f"error.invitation.{error.reason}", lang)
    if isinstance(error, InvalidValue):
        return t(f"error.invalid.{facts.get('field', 'value')}", lang)
    return t("error.generic", lang)
