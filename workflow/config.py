"""Configuration: one TOML file read once into frozen, validated settings.

Every key is declared here with its type and default; `config.example.toml` documents them.
A malformed file, an unknown key, a wrong type or a missing required key raises
`ConfigError` naming the key, and the command line turns that into exit code 2.
Secrets may come from the environment instead of the file (see `SECRET_ENVIRONMENT`), so
the file can stay readable by more people than the token.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from workflow.calendar import Deadline, WorkingCalendar

LANGUAGES = ("id", "en")
POST_STATUSES = ("publish", "pending", "draft")
WITHDRAWN_STATUSES = ("draft", "private")
ADAPTERS = ("wordpress", "webhook", "none")


class ConfigError(Exception):
    """The configuration cannot be used; `key` names the offending setting."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


@dataclass(frozen=True)
class OfficeSettings:
    name: str = "Kantor"
    timezone: str = "Asia/Jakarta"
    language: str = "id"


@dataclass(frozen=True)
class TelegramSettings:
    token: str = field(default="", repr=False)
    api_base_url: str = "https://api.telegram.org/bot"
    api_file_url: str = "https://api.telegram.org/file/bot"
    local_mode: bool = False
    it_team_chat_id: int = 0
    alert_chat_id: int = 0
    webhook_url: str = ""
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8443
    webhook_secret: str = field(default="", repr=False)
    album_wait_seconds: float = 1.5
    rate_limit: bool = True
    max_download_mb: float = 20.0
    bot_username: str = ""  # for invitation links made offline; else asked of getMe


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = field(default="sqlite:///warta.db", repr=False)


@dataclass(frozen=True)
class MediaSettings:
    dir: str = "media"
    max_photo_mb: float = 10.0
    max_document_mb: float = 20.0
    max_video_mb: float = 50.0
    photo_max_edge: int = 2048
    jpeg_quality: int = 85
    thumbnail_edge: int = 320
    max_image_megapixels: float = 40.0
    max_archive_inflated_mb: float = 200.0
    max_archive_ratio: float = 100.0


@dataclass(frozen=True)
class WebsiteSettings:
    adapter: str = "wordpress"
    base_url: str = "https://example.go.id"
    username: str = ""
    password: str = field(default="", repr=False)
    post_status: str = "publish"
    withdrawn_status: str = "draft"  # what a taken-down post becomes: draft or private
    rest_route_form: bool = False
    create_missing_terms: bool = True
    timeout_seconds: float = 20.0
    webhook_url: str = ""
    webhook_secret: str = field(default="", repr=False)


@dataclass(frozen=True)
class PublisherSettings:
    interval_seconds: float = 5.0
    max_attempts: int = 8
    backoff_base_seconds: float = 10.0
    backoff_max_seconds: float = 900.0


@dataclass(frozen=True)
class HoursSettings:
    """Office hours per weekday, "HH:MM-HH:MM" intervals separated by commas; "" is closed."""

    mon: str = "07:30-16:00"
    tue: str = "07:30-16:00"
    wed: str = "07:30-16:00"
    thu: str = "07:30-16:00"
    fri: str = "07:30-16:30"
    sat: str = ""
    sun: str = ""


@dataclass(frozen=True)
class HolidaySettings:
    country: str = "ID"
    extra: tuple[date, ...] = ()
    extra_working_days: tuple[date, ...] = ()
    cuti_bersama: bool = True


@dataclass(frozen=True)
class DeadlineSettings:
    """How long each stage may take: "1d" (working days), "3h", "30m" (working time), or
    "1h clock" (plain clock time, for stages that run outside office hours)."""

    draft: str = "1d"
    submitted: str = "3h"
    in_editing: str = "3h"
    awaiting_approval: str = "1h"
    approved: str = "1h clock"
    rejected: str = "30m clock"
    returned_to_officer: str = "1d"
    publish_failed: str = "1h clock"

    def allowances(self) -> dict[str, Deadline]:
        """Stage name → its parsed allowance; a value that is no duration is refused
        naming its key."""
        parsed = {}
        for item in dataclasses.fields(self):
            try:
                parsed[item.name] = Deadline.parse(getattr(self, item.name))
            except ValueError as error:
                raise ConfigError(f"deadlines.{item.name}", str(error)) from None
        return parsed


@dataclass(frozen=True)
class AlertSettings:
    reminder_factor: float = 2.0
    escalation_factor: float = 3.0
    sweep_seconds: float = 60.0
    digest_time: time = time(7, 30)


@dataclass(frozen=True)
class WebSettings:
    """The web pages: served by `warta run` (and `warta web`) when `listen` is set."""

    listen: str = ""  # "address:port", e.g. "0.0.0.0:8080"; "" serves no pages
    public_url: str = ""  # HTTPS address Telegram opens Mini Apps at; "" shows no buttons
    init_data_max_age_seconds: int = 3600

    @property
    def address(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host or "127.0.0.1", int(port)

    @property
    def base_url(self) -> str:
        """Where people open the pages: the public address, else the listening one; ""
        when no pages are served."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{self.listen}" if self.listen else ""


@dataclass(frozen=True)
class ChecklistSettings:
    """What an item needs before the editor may forward it (false or 0: not checked).

    The defaults are the SOP's spirit for a news post: a cover, some substance, a title
    that fits a headline, when and where it happened, a category, and alt text for
    readers who cannot see the photos."""

    cover_photo: bool = True
    min_body_words: int = 30
    max_title_chars: int = 120
    activity_date: bool = True
    section: bool = True
    category: bool = True
    photo_alt_text: bool = True


@dataclass(frozen=True)
class NoteSettings:
    """How much an official must write to reject or to ask for a revision: at least
    `min_words` words or `min_chars` characters, so that "ok" or "x" is asked again."""

    min_words: int = 3
    min_chars: int = 15

    def long_enough(self, text: str) -> bool:
        words = text.split()
        return len(words) >= self.min_words or len(text.strip()) >= self.min_chars


@dataclass(frozen=True)
class Settings:
    office: OfficeSettings = OfficeSettings()
    telegram: TelegramSettings = TelegramSettings()
    database: DatabaseSettings = DatabaseSettings()
    media: MediaSettings = MediaSettings()
    website: WebsiteSettings = WebsiteSettings()
    publisher: PublisherSettings = PublisherSettings()
    hours: HoursSettings = HoursSettings()
    holidays: HolidaySettings = HolidaySettings()
    deadlines: DeadlineSettings = DeadlineSettings()
    alerts: AlertSettings = AlertSettings()
    checklist: ChecklistSettings = ChecklistSettings()
    notes: NoteSettings = NoteSettings()
    web: WebSettings = WebSettings()
    source: str = ""

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.office.timezone)


# Secrets read from the environment when set; the environment wins over the file.
SECRET_ENVIRONMENT: Mapping[str, tuple[str, str]] = {
    "WARTA_TELEGRAM_TOKEN": ("telegram", "token"),
    "WARTA_WEBHOOK_SECRET": ("telegram", "webhook_secret"),
    "WARTA_WEBSITE_PASSWORD": ("website", "password"),
    "WARTA_WEBSITE_WEBHOOK_SECRET": ("website", "webhook_secret"),
    "WARTA_DATABASE_URL": ("database", "url"),
}

REQUIRED_KEYS = ("office.name",)

def load_settings(path: Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    """Reads the file at `path` (None: built-in defaults), applies secrets from `environ`."""
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            with path.open("rb") as handle:
                raw = tomllib.load(handle)
        except FileNotFoundError:
            raise ConfigError(str(path), "file not found") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(str(path), f"not valid TOML ({error})") from None
        for key in REQUIRED_KEYS:
            section, name = key.split(".")
            table = raw.get(section, {})
            if not isinstance(table, dict):
                raise ConfigError(section, "must be a table")
            if name not in table:
                raise ConfigError(key, "required key is missing")
    for variable, (section, name) in SECRET_ENVIRONMENT.items():
        if environ.get(variable):
            raw.setdefault(section, {})
            if not isinstance(raw[section], dict):
                raise ConfigError(section, "must be a table")
            raw[section][name] = environ[variable]
    settings: Settings = _build(Settings, raw, "")
    settings = dataclasses.replace(settings, source=str(path) if path else "")
    _check_values(settings)
    return settings


def _build(cls: type[Any], raw: Any, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(prefix.rstrip("."), "must be a table")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls) if f.name != "source"}
    for key in raw:
        if key not in known:
            raise ConfigError(f"{prefix}{key}", "unknown key")
    values: dict[str, Any] = {}
    for name in known:
        if name in raw:
            values[name] = _convert(hints[name], raw[name], f"{prefix}{name}")
    return cls(**values)


def _convert(hint: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return _build(typing.cast(type[Any], hint), value, f"{key}.")
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(key, f"must be true or false, not {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(key, f"must be a whole number, not {value!r}")
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(key, f"must be a number, not {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(key, f"must be a string, not {value!r}")
    if hint is time:
        return _to_time(value, key)
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(key, "must be a list")
        return tuple(_to_date(item, key) for item in value)
    if isinstance(hint, types.UnionType):  # pragma: no cover - no optional keys yet
        raise ConfigError(key, "unsupported type")
    raise ConfigError(key, f"unsupported type {hint!r}")  # pragma: no cover


def _to_date(value: Any, key: str) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ConfigError(key, f"must list dates like 2026-12-24, not {value!r}")


def _to_time(value: Any, key: str) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, str):
        try:
            return time.fromisoformat(value)
        except ValueError:
            pass
    raise ConfigError(key, f"must be a time like 07:30, not {value!r}")


def _check_values(settings: Settings) -> None:
    try:
        ZoneInfo(settings.office.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            "office.timezone", f"unknown time zone {settings.office.timezone!r}"
        ) from None
    _check_choice("office.language", settings.office.language, LANGUAGES)
    _check_choice("website.adapter", settings.website.adapter, ADAPTERS)
    _check_choice("website.post_status", settings.website.post_status, POST_STATUSES)
    _check_choice("website.withdrawn_status", settings.website.withdrawn_status,
                  WITHDRAWN_STATUSES)
    if not settings.database.url.strip():
        raise ConfigError("database.url", "must not be empty")
    for section_name in ("media", "publisher"):
        section = getattr(settings, section_name)
        for item in dataclasses.fields(section):
            value = getattr(section, item.name)
            if isinstance(value, int | float) and not isinstance(value, bool) and value <= 0:
                raise ConfigError(f"{section_name}.{item.name}", "must be greater than zero")
    _check_web(settings.web)
    for name in ("min_body_words", "max_title_chars"):
        if getattr(settings.checklist, name) < 0:
            raise ConfigError(f"checklist.{name}", "must be 0 (not checked) or more")
    for name in ("min_words", "min_chars"):
        if getattr(settings.notes, name) < 0:
            raise ConfigError(f"notes.{name}", "must be 0 (not checked) or more")
    if not 1 <= settings.media.jpeg_quality <= 95:
        raise ConfigError("media.jpeg_quality", "must be between 1 and 95")
    settings.deadlines.allowances()
    try:
        working_calendar(settings)
    except ValueError as error:
        key, _, problem = str(error).partition(": ")
        raise ConfigError(_CALENDAR_KEYS.get(key, key), problem or str(error)) from None


def _check_web(web: WebSettings) -> None:
    if web.listen:
        port = web.listen.rpartition(":")[2]
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError("web.listen", f"must be address:port, not {web.listen!r}")
    if web.public_url and not web.public_url.startswith("https://"):
        raise ConfigError("web.public_url", "must start with https:// (Telegram requires it)")
    if web.init_data_max_age_seconds <= 0:
        raise ConfigError("web.init_data_max_age_seconds", "must be greater than zero")


# How the calendar's own key names map onto this file's sections.
_CALENDAR_KEYS = {
    "timezone": "office.timezone",
    "country": "holidays.country",
    "extra_holidays": "holidays.extra",
    "extra_working_days": "holidays.extra_working_days",
}


def working_calendar(settings: Settings) -> WorkingCalendar:
    """The office's working-time calendar, as configured."""
    return WorkingCalendar.from_settings(
        settings.office.timezone,
        dataclasses.asdict(settings.hours),
        settings.holidays.extra,
        settings.holidays.extra_working_days,
        country=settings.holidays.country or None,
        include_cuti_bersama=settings.holidays.cuti_bersama,
    )


def _check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(key, f"must be one of {', '.join(choices)}, not {value!r}")


def derived_secret(token: str) -> str:
    """A webhook secret when none is configured: without one anybody who finds the URL
    could post updates in an official's name. Stable across restarts, unknown without
    the token."""
    return hmac.new(token.encode(), b"warta webhook secret", hashlib.sha256).hexdigest()
