"""Dates, numbers and plural forms in a language, by Babel's locale data (CLDR)."""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import Final

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal

from workflow.config import LANGUAGES

DEFAULT_LANGUAGE: Final = LANGUAGES[0]  # Bahasa Indonesia first
_LOCALES: Final = {language: Locale.parse(language) for language in LANGUAGES}


def locale(language: str) -> Locale:
    """Babel's locale for `language`, the default language's for one we do not speak."""
    return _LOCALES.get(language, _LOCALES[DEFAULT_LANGUAGE])


def number(value: float, language: str) -> str:
    """3 → "3", 1.5 → "1,5" in Bahasa Indonesia and "1.5" in English."""
    return format_decimal(value, locale=locale(language))


def plural_form(count: float, language: str) -> str:
    """The CLDR plural category of `count`: English "one" for 1, else "other"."""
    return str(locale(language).plural_form(count))


def plural_forms(language: str) -> frozenset[str]:
    """Every plural category `language` distinguishes (Bahasa Indonesia: only "other")."""
    return locale(language).plural_form.tags | {"other"}


def day_month_year(day: date | datetime, language: str) -> str:
    """5 Nov 2026 (Bahasa Indonesia: 5 Agu 2026 for August)."""
    return format_date(day, "d MMM y", locale=locale(language))


def numeric_date(day: date, language: str) -> str:
    """05/11/2026."""
    return format_date(day, "dd/MM/y", locale=locale(language))


def day_month(day: date, language: str) -> str:
    """05/11."""
    return format_date(day, "dd/MM", locale=locale(language))


def day_month_time(moment: datetime, zone: tzinfo, language: str) -> str:
    """05/11 14:30, in `zone` (a naive `moment` is taken as the machine's local time)."""
    local = moment.astimezone(zone)
    return format_datetime(local, "dd/MM HH:mm", tzinfo=zone, locale=locale(language))


def clock_time(moment: datetime, language: str) -> str:
    """14:30, in `moment`'s own zone."""
    return format_datetime(moment, "HH:mm", tzinfo=moment.tzinfo, locale=locale(language))
