"""Structured logs: one line per event, secrets redacted.

Format: logfmt (``key=value`` pairs, values quoted when they hold spaces or quotes, newlines
escaped) by default, because it reads well in ``journalctl`` and greps easily::

    ts=2026-11-25T08:06:40.123Z level=info logger=warta.bot item=12 actor=1001 msg="..."

``WARTA_LOG_FORMAT=json`` writes the same fields as JSON lines instead (for a log shipper);
``WARTA_LOG_LEVEL`` sets the level (default INFO). A traceback stays on its event's line
(``exc="Traceback ...\\n..."``).

Item and actor: pass them with the event (``log.info("approved", extra={"item": 12,
"actor": 1001})``) or bind them for everything logged inside a block, which follows the
asyncio task (a context variable)::

    with bind(item=12, actor=1001):
        ...

Never secrets: :class:`RedactSecrets` (a ``logging.Filter`` on the handler, so it sees every
record, whichever logger it came from) replaces the bot token, the webhook secrets, the
website password and the database password with ``***`` in the message, its arguments,
the traceback and every extra field; the formatter redacts its output line once more. The
``httpx`` logger stays at WARNING: its INFO lines are request URLs, and Bot API URLs hold
the token.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TextIO
from urllib.parse import quote

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from workflow.config import Settings, derived_secret

__all__ = [
    "FORMAT_ENV",
    "LEVEL_ENV",
    "REDACTED",
    "RedactSecrets",
    "StructuredFormatter",
    "bind",
    "remove_logging",
    "secrets_of",
    "setup_logging",
]

FORMAT_ENV = "WARTA_LOG_FORMAT"
LEVEL_ENV = "WARTA_LOG_LEVEL"
REDACTED = "***"
MIN_SECRET_LENGTH = 4  # shorter strings would blank out ordinary words

# Loggers that say too much at INFO: httpx logs every request URL (Bot API URLs contain the
# token); the job queue logs every run of every job (the notifier runs every 2 seconds).
QUIET_LOGGERS = ("httpx", "httpcore", "apscheduler")

_bound: ContextVar[Mapping[str, object]] = ContextVar(
    "warta_log_fields", default=MappingProxyType({})
)

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName",
}  # fmt: skip
_FIRST = ("ts", "level", "logger", "item", "actor")


@contextlib.contextmanager
def bind(**fields: object) -> Iterator[None]:
    """Adds `fields` (e.g. item=12, actor=1001) to every event logged inside the block."""
    token = _bound.set({**_bound.get(), **fields})
    try:
        yield
    finally:
        _bound.reset(token)


def secrets_of(settings: Settings) -> list[str]:
    """Every secret in `settings`, with the forms it may take in a log line."""
    telegram, website = settings.telegram, settings.website
    found = [telegram.token, telegram.webhook_secret, website.password, website.webhook_secret]
    if ":" in telegram.token:  # "123456:AAE...": the part after the bot id is the secret
        found.append(telegram.token.split(":", 1)[1])
    if website.password:
        # WordPress Application Passwords are shown with spaces and accepted without, and
        # an Authorization header carries them base64-encoded with the user name.
        found.append(website.password.replace(" ", ""))
        for password in {website.password, website.password.replace(" ", "")}:
            pair = f"{website.username}:{password}".encode()
            found.append(base64.b64encode(pair).decode())
    if telegram.token and not telegram.webhook_secret:
        found.append(derived_secret(telegram.token))  # the webhook secret made from the token
    try:
        found.append(make_url(settings.database.url).password or "")
    except ArgumentError:
        pass
    variants = [quote(secret, safe="") for secret in found] + found
    return [secret for secret in variants if len(secret) >= MIN_SECRET_LENGTH]


class RedactSecrets(logging.Filter):
    """Replaces the given secrets with ``***`` everywhere in a record (see the module doc)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is replaced whole.
        self.secrets = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH},
                              key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep what can be kept, safely
            message = f"{record.msg!s} {record.args!r}"
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = _FORMATTER.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
            # The exception object itself may hold the secret; no handler may render it
            # again from exc_info now that the redacted text is cached.
            record.exc_info = None
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, self.redact(value))
        return True


_FORMATTER = logging.Formatter()


class StructuredFormatter(logging.Formatter):
    """One line per record: logfmt (``key=value``) or, with ``json_lines``, a JSON object."""

    def __init__(self, json_lines: bool = False, redactor: RedactSecrets | None = None) -> None:
        super().__init__()
        self.json_lines = json_lines
        self.redactor = redactor

    def fields(self, record: logging.LogRecord) -> dict[str, object]:
        moment = datetime.fromtimestamp(record.created, UTC)
        fields: dict[str, object] = {
            "ts": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        fields.update(_bound.get())
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                fields["item" if key == "item_id" else key] = value
        fields["msg"] = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            fields["exc"] = record.exc_text
        if record.stack_info:
            fields["stack"] = record.stack_info
        ordered = {key: fields[key] for key in _FIRST if key in fields}
        ordered.update((key, value) for key, value in fields.items() if key not in ordered)
        return ordered

    def format(self, record: logging.LogRecord) -> str:
        fields = self.fields(record)
        if self.json_lines:
            line = json.dumps(fields, ensure_ascii=False, default=str)
        else:
            line = " ".join(f"{key}={_logfmt_value(value)}" for key, value in fields.items())
        return self.redactor.redact(line) if self.redactor else line


def _logfmt_value(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    if text and all(c.isprintable() and c not in ' ="\\' for c in text):
        return text
    escaped = (text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
               .replace("\r", "\\r").replace("\t", "\\t"))
    escaped = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped)
    return f'"{escaped}"'


_INSTALLED = "_warta_structured"


def setup_logging(
    settings: Settings,
    *,
    stream: TextIO | None = None,
    level: int | str | None = None,
    json_lines: bool | None = None,
) -> logging.Handler:
    """Sends every log record to `stream` (stderr) as one structured line, secrets redacted.

    Calling it again replaces the handler it installed before. The redacting filter is
    also put on any other handler already on the root logger. Returns the new handler.
    """
    if json_lines is None:
        json_lines = os.environ.get(FORMAT_ENV, "logfmt").strip().lower() == "json"
    unknown_level = ""
    if level is None:
        level = os.environ.get(LEVEL_ENV, "INFO").strip().upper() or "INFO"
        if not isinstance(logging.getLevelName(level), int):
            unknown_level, level = level, "INFO"
    redactor = RedactSecrets(secrets_of(settings))
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(StructuredFormatter(json_lines, redactor))
    handler.addFilter(redactor)
    root = logging.getLogger()
    setattr(handler, _INSTALLED, root.level)  # the level to go back to in remove_logging
    for old in list(root.handlers):
        if hasattr(old, _INSTALLED):
            root.removeHandler(old)
            old.close()
        else:
            for existing in [f for f in old.filters if isinstance(f, RedactSecrets)]:
                old.removeFilter(existing)
            old.addFilter(redactor)
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    if unknown_level:
        logging.getLogger("warta").warning("%s=%r is not a log level; using INFO", LEVEL_ENV,
                                           unknown_level)
    return handler


def remove_logging(handler: logging.Handler) -> None:
    """Takes a handler from `setup_logging` off the root logger again, and puts the root
    level back to what it was before."""
    root = logging.getLogger()
    if handler in root.handlers:
        root.removeHandler(handler)
        root.setLevel(getattr(handler, _INSTALLED, root.level))
    handler.close()
