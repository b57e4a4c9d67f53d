"""The forwarding checklist: each configured rule passes or fails on facts of the item."""

from __future__ import annotations

import dataclasses
from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest

from workflow import checklist
from workflow.config import ChecklistSettings
from workflow.errors import Incomplete

RULES = ChecklistSettings()


def _photo(position: int, alt: str = "Warga bergotong royong") -> Any:
    return SimpleNamespace(kind="photo", position=position, alt_text=alt, is_cover=False)


def _item(**changes: Any) -> Any:
    fields: dict[str, Any] = {
        "title": "Gotong royong membersihkan saluran air di Desa Tampa",
        "body": " ".join(["kata"] * 30), "activity_date": date(2026, 12, 4),
        "section": "Bidang PMD", "category": "Berita", "media": [_photo(1), _photo(2)],
    }
    fields.update(changes)
    item = SimpleNamespace(**fields)
    photos = [m for m in item.media if m.kind == "photo"]
    item.cover = photos[0] if photos else None
    return item


def _failed(item: Any, rules: ChecklistSettings = RULES) -> dict[str, dict[str, Any]]:
    return {c.key: c.facts for c in checklist.evaluate(item, rules) if not c.passed}


def test_a_complete_item_passes_every_rule() -> None:
    verdicts = checklist.evaluate(_item(), RULES)
    assert [c.key for c in verdicts] == ["cover", "title_length", "body_words",
                                         "activity_date", "section", "category", "alt_text"]
    assert all(c.passed for c in verdicts)
    checklist.require(_item(), RULES)


def test_each_missing_thing_is_named_with_its_figures() -> None:
    item = _item(title="x" * 121, body="terlalu pendek", activity_date=None, section=" ",
                 category="", media=[_photo(1), _photo(2, alt=""), _photo(3, alt=" ")])
    failed = _failed(item)
    assert set(failed) == {"title_length", "body_words", "activity_date", "section",
                           "category", "alt_text"}
    assert failed["body_words"] == {"words": 2, "minimum": 30}
    assert failed["title_length"] == {"length": 121, "maximum": 120}
    assert failed["alt_text"] == {"photos": "2, 3", "count": 2}
    assert "cover" in _failed(_item(media=[]))
    with pytest.raises(Incomplete) as refused:
        checklist.require(item, RULES)
    assert refused.value.code == "incomplete"
    assert refused.value.facts["missing"] == \
        "title_length,body_words,activity_date,section,category,alt_text"


def test_rules_turned_off_are_neither_checked_nor_shown() -> None:
    off = ChecklistSettings(cover_photo=False, min_body_words=0, max_title_chars=0,
                            activity_date=False, section=False, category=False,
                            photo_alt_text=False)
    assert checklist.evaluate(_item(media=[], body="", category=""), off) == []
    fewer = dataclasses.replace(off, min_body_words=5)
    assert [c.key for c in checklist.evaluate(_item(), fewer)] == ["body_words"]
