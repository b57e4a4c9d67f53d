"""Notifications: those in the double's call log, and those the SOP owes for an item."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from tests.faults.driver import Track
from tests.faults.observers import CallLog
from tests.faults.office import IT_CHAT, Office


@dataclass(frozen=True)
class Notice:
    """One notification: a send to `chat` about `item`, of `kind`.

    Notifications are counted from the double's call log (`notification_counts`), e.g. the
    approval notice to the officer of item 12; "twice" means two successful sends with the
    same (chat, kind, item).
    """

    chat: int
    kind: str
    item: int


CARD = re.compile(r"^#(\d+) .*\nPetugas: ", re.DOTALL)  # bot.render.item_card, plain
NOTICE_PATTERNS = (
    ("claimed", re.compile(r"^✋ Kiriman #(\d+) sedang diedit oleh ")),
    ("approved", re.compile(r"^✅ #(\d+) .* disetujui oleh ")),
    ("rejected", re.compile(r"^❌ #(\d+) .* ditolak oleh ")),
    ("published", re.compile(r"^🌐 #(\d+) .* sudah terbit: ")),
    ("publish_failed", re.compile(r"^⚠️ #(\d+) .* gagal terbit: ")),
)


def notification_counts(log: CallLog, photos: dict[str, int],
                        card_chats: set[int]) -> Counter[Notice]:
    """Successful sends per notification, from the double's call log.

    Cards are recognised by their text (`item_card`) in the IT team chat (claim card) and
    in the officials' chats (decision card; its buttons depend on the item's state when it
    went out), notices by their text, a card's photo (sent just before it) by the sha256 of
    the uploaded file, which is the stored photo's. Cards and photos in other chats (the
    editor's own editing panel) are direct answers, not notifications."""
    counts: Counter[Notice] = Counter()
    for call in log.ok("sendMessage", "sendPhoto"):
        chat = int(call["params"]["chat_id"])
        message = call["result"]
        if call["method"] == "sendPhoto":
            sha = next(iter(call["files"].values()), {}).get("sha256")
            if chat in card_chats and sha in photos:
                counts[Notice(chat, "card_photo", photos[sha])] += 1
            continue
        text = message.get("text") or ""
        card = CARD.match(text)
        if card and chat in card_chats:
            kind = "claim_card" if chat == IT_CHAT else "decision_card"
            counts[Notice(chat, kind, int(card.group(1)))] += 1
        elif not card:
            for kind, pattern in NOTICE_PATTERNS:
                match = pattern.match(text)
                if match:
                    counts[Notice(chat, kind, int(match.group(1)))] += 1
                    break
    return counts


def expected_notifications(office: Office, track: Track, published: bool) -> set[Notice]:
    """Every notification the SOP sends for a tracked item that reached its final state."""
    plan, item = track.plan, track.item_id
    assert item is not None
    officials = [p.telegram_id for p in office.people.values() if p.role == "pejabat"]
    officer, editor = office.tid(plan.officer), office.tid(plan.editor)
    wanted = {Notice(IT_CHAT, "claim_card", item), Notice(officer, "claimed", item)}
    wanted |= {Notice(chat, "decision_card", item) for chat in officials}
    if plan.photo:
        wanted.add(Notice(IT_CHAT, "card_photo", item))
        wanted |= {Notice(chat, "card_photo", item) for chat in officials}
    verdict = "approved" if plan.approve else "rejected"
    wanted |= {Notice(officer, verdict, item), Notice(editor, verdict, item)}
    if plan.approve and published:
        decider = office.tid(plan.official)
        wanted |= {Notice(chat, "published", item) for chat in (officer, editor, decider)}
    return wanted
