"""The message catalogues: complete in both languages, and safe with hostile values."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.commands import COMMANDS
from bot.render import CARD_BUTTONS, button_label
from workflow.audience import Audience
from workflow.catalogue.formats import plural_forms
from workflow.catalogue.lookup import MESSAGES, PLURALS, Safe, escape, placeholders, t, t_text
from workflow.media.refusals import REASON_CODES
from workflow.models import Role, Status
from workflow.transitions import TRANSITIONS

ROOT = Path(__file__).resolve().parent.parent
BOT = ROOT / "bot"


def test_both_languages_have_the_same_keys_and_placeholders() -> None:
    assert set(MESSAGES["id"]) == set(MESSAGES["en"])
    for key, text in MESSAGES["id"].items():
        assert placeholders(text) == placeholders(MESSAGES["en"][key]), key


def test_plural_messages_have_each_form_of_their_language_and_the_same_placeholders() -> None:
    assert set(PLURALS["id"]) == set(PLURALS["en"])
    assert not set(PLURALS["id"]) & set(MESSAGES["id"])
    for key in PLURALS["id"]:
        names = {frozenset(placeholders(form)) for table in PLURALS.values()
                 for form in table[key].values()}
        assert len(names) == 1 and "count" in next(iter(names)), key
    for language, table in PLURALS.items():
        for key, forms in table.items():
            assert set(forms) == plural_forms(language), (language, key)


@pytest.mark.parametrize(("count", "english", "indonesian"), [
    (1, "1 working day", "1 hari kerja"), (2, "2 working days", "2 hari kerja"),
    (1.5, "1.5 working days", "1,5 hari kerja"), (0, "0 working days", "0 hari kerja")])
def test_plural_forms_and_numbers_follow_the_language(count: float, english: str,
                                                      indonesian: str) -> None:
    assert t_text("report.allowance.working_days", "en", count=count) == english
    assert t_text("report.allowance.working_days", "id", count=count) == indonesian


def literal_keys() -> set[str]:
    source = "\n".join(p.read_text() for p in BOT.glob("*.py"))
    return set(re.findall(r'\bt\("([a-z_.,]+)", ', source))


def sources(*folders: str) -> str:
    return "\n".join(p.read_text() for folder in folders for p in (ROOT / folder).rglob("*.py"))


def test_every_key_the_reports_and_the_command_line_use_exists() -> None:
    reports, cli = sources("workflow/reports"), sources("warta")
    keys = set(re.findall(r'\bt_text\(f?"([a-z_.]+)"', reports + cli))
    keys |= {f"report.{k}" for k in re.findall(r'\b(?:word|label)\("([a-z_]+)"', reports)}
    keys |= {f"cli.{k}" for k in re.findall(r'\bsay\([\w.]+, "([a-z_]+)"', cli)}
    assert len(keys) > 40  # the scan itself found the keys
    missing = keys - set(MESSAGES["id"]) - set(PLURALS["id"])
    assert not missing, sorted(missing)


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
    text = t("notify.item.reject", lang, id=1, title="<script>x</script>", actor="A & B",
             note="<b>bold</b>")
    assert "<script>" not in text and "&lt;script&gt;" in text and "A &amp; B" in text
    inner = t("state.draft", lang)
    assert isinstance(inner, Safe)
    assert t("error.wrong_state", lang, state=inner).count("&") == 0


def test_escaping_keeps_quotes_as_typed() -> None:
    assert escape("<a href=\"x\">'&'</a>") == "&lt;a href=\"x\"&gt;'&amp;'&lt;/a&gt;"
    assert escape(Safe("<b>&#34;</b>")) == "<b>&#34;</b>"
