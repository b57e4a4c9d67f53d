"""The message catalogues: complete in both languages, and safe with hostile values."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.commands import COMMANDS
from bot.i18n import MESSAGES, Safe, placeholders, t
from bot.render import CARD_BUTTONS, button_label
from workflow.audience import Audience
from workflow.media import REASON_CODES
from workflow.models import Role, Status
from workflow.transitions import TRANSITIONS

BOT = Path(__file__).resolve().parent.parent / "bot"


def test_both_languages_have_the_same_keys_and_placeholders() -> None:
    assert set(MESSAGES["id"]) == set(MESSAGES["en"])
    for key, text in MESSAGES["id"].items():
        assert placeholders(text) == placeholders(MESSAGES["en"][key]), key


def literal_keys() -> set[str]:
    source = "\n".join(p.read_text() for p in BOT.glob("*.py"))
    return set(re.findall(r'\bt\([\w.]+, "([a-z_.,]+)"', source))


def expected_keys() -> set[str]:
    keys = literal_keys()
    keys |= {f"state.{s.value}" for s in Status}
    actions = {*TRANSITIONS, "create", "add_media"}
    keys |= {f"done.{a}" for a in actions} | {f"passive.{a}" for a in actions}
    keys |= {button_label(verb) for verbs in CARD_BUTTONS.values() for verb in verbs}
    keys |= {f"help.{r.value}" for r in Role} | {c.help for c in COMMANDS.values()}
    keys |= {f"cmd.{name}" for name, c in COMMANDS.items() if c.in_menu}
    keys |= {f"media.{code}" for code in REASON_CODES}
    keys |= {"ask.note"} | {f"ask.{t.action}" for t in TRANSITIONS.values() if t.needs_note}
    for action, transition in TRANSITIONS.items():
        talks = set(transition.notify) - {Audience.CARDS, Audience.IT_TEAM}
        if talks and action != "forward":
            keys.add(f"notify.item.{action}")
    return keys


def test_every_key_the_bot_uses_exists() -> None:
    missing = expected_keys() - set(MESSAGES["id"])
    assert not missing, sorted(missing)
    assert len(literal_keys()) > 40  # the scan itself found the handlers' keys


@pytest.mark.parametrize("lang", ["id", "en"])
def test_values_are_escaped_unless_already_safe(lang: str) -> None:
    text = t(lang, "notify.item.reject", id=1, title="<script>x</script>", actor="A & B",
             note="<b>bold</b>")
    assert "<script>" not in text and "&lt;script&gt;" in text and "A &amp; B" in text
    inner = t(lang, "state.draft")
    assert isinstance(inner, Safe)
    assert t(lang, "error.wrong_state", state=inner).count("&") == 0
