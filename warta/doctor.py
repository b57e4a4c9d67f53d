"""`warta doctor`: checks the configuration, database, media, Telegram and website, a line each.

One line per check, ``OK``, ``WARN``, ``SKIP`` or ``FAIL``, and for each problem the fix
after a dash. Secrets are never printed: database URLs are shown with the password masked,
and every line goes through the same redaction as the logs (`workflow.logs`).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy import text as sql_text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from warta.database import database_kind, known_revision, shown_url, sqlite_path
from workflow import db
from workflow.config import SECRET_ENVIRONMENT, ConfigError, Settings, working_calendar
from workflow.logs import RedactSecrets, secrets_of

if TYPE_CHECKING:  # telegram is imported only when its check runs
    from telegram import User

__all__ = ["Check", "doctor"]

TELEGRAM_TIMEOUT = 15.0
PG_CONNECT_TIMEOUT = 10
LOW_DISK_BYTES = 1 << 30


@dataclass(frozen=True)
class Check:
    status: str  # OK, WARN, SKIP or FAIL
    name: str
    detail: str
    fix: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "FAIL"

    def line(self) -> str:
        fix = f" — {self.fix}" if self.fix else ""
        return f"{self.status:<4} {self.name}: {self.detail}{fix}"


def doctor(settings: Settings, now: datetime | None = None,
           environ: Mapping[str, str] | None = None) -> Iterator[Check]:
    """Runs every check in turn; each yields one line, redacted."""
    environ = os.environ if environ is None else environ
    moment = now or datetime.now(UTC)
    redactor = RedactSecrets(secrets_of(settings))
    checks: list[tuple[str, Callable[[], Check]]] = [
        ("config", lambda: check_config(settings, environ)),
        ("database", lambda: check_database(settings)),
        ("media", lambda: check_media(settings)),
        ("telegram", lambda: check_telegram(settings)),
        ("telegram mode", lambda: check_telegram_mode(settings)),
        ("website", lambda: check_website(settings)),
        ("calendar", lambda: check_calendar(settings, moment)),
    ]
    if database_kind(settings.database.url) == "postgresql":
        checks.append(("backup tools", lambda: check_backup_tools(settings)))
    for name, run in checks:
        try:
            result = run()
        except Exception as error:  # a check must never stop the others
            result = Check("FAIL", name, f"unexpected {type(error).__name__}: {error}",
                           "report this with the output of `warta doctor`")
        yield Check(result.status, result.name, redactor.redact(result.detail),
                    redactor.redact(result.fix))


def check_config(settings: Settings, environ: Mapping[str, str]) -> Check:
    if not settings.source:
        return Check("WARN", "config", "no configuration file: built-in defaults",
                     "copy config.example.toml to config.toml or pass --config FILE")
    path = Path(settings.source).resolve()
    detail = f"{path} (office {settings.office.name!r})"
    in_file = [f"{section}.{key}" for variable, (section, key) in SECRET_ENVIRONMENT.items()
               if section != "database" and not environ.get(variable)
               and getattr(getattr(settings, section), key)]
    if in_file and path.stat().st_mode & stat.S_IROTH:
        return Check("WARN", "config", f"{detail}; it holds {', '.join(in_file)} and anyone "
                     "on this machine can read it",
                     f"chmod o-r {path}, or move the secrets to the environment file")
    return Check("OK", "config", detail)


def _engine_for_check(url: str) -> Engine:
    if database_kind(url) == "postgresql":
        return db.make_engine(url, poolclass=NullPool,
                              connect_args={"connect_timeout": PG_CONNECT_TIMEOUT})
    return db.make_engine(url, poolclass=NullPool)


def check_database(settings: Settings) -> Check:
    url = settings.database.url
    shown = shown_url(url)
    fix_url = "check [database] url (or WARTA_DATABASE_URL) and that the server runs"
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return Check("FAIL", "database", f"{shown}: no database file {path}",
                     "run `warta db upgrade` to create it (or fix [database] url)")
    engine = _engine_for_check(url)
    try:
        try:
            current = db.current_revision(engine)
        except SQLAlchemyError as error:
            reason = str(getattr(error, "orig", None) or error)
            return Check("FAIL", "database", f"cannot connect to {shown}: "
                         f"{reason.strip().splitlines()[0] if reason.strip() else error}", fix_url)
        head = db.head_revision(engine)
        if not db.is_up_to_date(engine):
            if current is not None and not known_revision(engine, current):
                return Check("FAIL", "database", f"{shown} is at revision {current}, which "
                             f"this Warta does not know (it expects {head})",
                             "install the Warta version that made this database")
            return Check("FAIL", "database", f"{shown} at revision {current or 'none'}, "
                         f"expected {head}", "run `warta db upgrade`")
    finally:
        engine.dispose()
    if path is not None and not _writable_dir(path.parent):
        return Check("FAIL", "database", f"{shown} at revision {current}, but its folder "
                     f"{path.parent} is not writable (SQLite writes its journal there)",
                     f"let the service user write {path.parent}")
    return Check("OK", "database", f"{shown} at revision {current} (head)")


def _writable_dir(path: Path) -> bool:
    """True when a file can really be created in `path` (os.access is always true for root)."""
    try:
        fd, name = tempfile.mkstemp(prefix=".warta-doctor-", dir=path)
    except OSError:
        return False
    os.close(fd)
    os.unlink(name)
    return True


def _existing_ancestor(path: Path) -> Path:
    current = path
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def check_media(settings: Settings) -> Check:
    root = Path(settings.media.dir).resolve()
    fix = f"create {root} and let the service user write it, or set [media] dir"
    if root.exists():
        if not root.is_dir():
            return Check("FAIL", "media", f"{root} is not a directory", fix)
        for folder in (root, root / "tmp"):
            if folder.exists() and not folder.is_dir():
                return Check("FAIL", "media", f"{folder} is not a directory",
                             f"remove {folder}; Warta makes it")
            if folder.exists() and not _writable_dir(folder):
                return Check("FAIL", "media", f"{folder} is not writable", fix)
        state, base = "writable (and tmp/)", root
    else:
        base = _existing_ancestor(root)
        if not base.is_dir():
            return Check("FAIL", "media", f"{root} cannot be created: {base} is not a "
                         "directory", fix)
        if not _writable_dir(base):
            return Check("FAIL", "media", f"{root} cannot be created: {base} is not "
                         "writable", fix)
        state = "does not exist yet; will be created at start"
    free = shutil.disk_usage(base).free
    detail = f"{root} {state}; {free / 1e9:.1f} GB free"
    if free < LOW_DISK_BYTES:
        return Check("WARN", "media", detail, "free disk space: photos and videos need it")
    return Check("OK", "media", detail)


def check_telegram(settings: Settings) -> Check:
    telegram = settings.telegram
    fix = "set WARTA_TELEGRAM_TOKEN or [telegram] token (the token from @BotFather)"
    if not telegram.token.strip():
        return Check("FAIL", "telegram", "no bot token", fix)
    from telegram.error import InvalidToken, NetworkError, TelegramError

    try:
        me = asyncio.run(get_me(settings))
    except InvalidToken:
        return Check("FAIL", "telegram", "getMe refused the token", fix)
    except NetworkError as error:
        return Check("FAIL", "telegram", f"cannot reach {telegram.api_base_url} "
                     f"({type(error).__name__}: {error})",
                     "check the network or proxy (HTTPS_PROXY), or [telegram] api_base_url")
    except TelegramError as error:
        return Check("FAIL", "telegram", f"getMe failed: {type(error).__name__}: {error}",
                     "check [telegram] api_base_url and the token")
    return Check("OK", "telegram", f"@{me.username} (id {me.id}) via {telegram.api_base_url}")


async def get_me(settings: Settings) -> User:
    from telegram import Bot
    from telegram.request import HTTPXRequest

    telegram = settings.telegram
    request = HTTPXRequest(connect_timeout=TELEGRAM_TIMEOUT, read_timeout=TELEGRAM_TIMEOUT)
    # Not Bot.initialize(): its InvalidToken message quotes the token.
    bot = Bot(telegram.token, base_url=telegram.api_base_url,
              base_file_url=telegram.api_file_url, request=request,
              local_mode=telegram.local_mode)
    await request.initialize()
    try:
        return await bot.get_me()
    finally:
        await request.shutdown()


def check_telegram_mode(settings: Settings) -> Check:
    from bot.inbox import HEALTH_PATH, webhook_options

    telegram = settings.telegram
    options = webhook_options(telegram)
    if options is None:
        return Check("OK", "telegram mode", "long polling")
    where = (f"webhook {options.url}, served on http://{options.listen}:{options.port}"
             f"{options.path} (health check on {HEALTH_PATH})")
    if not options.url.startswith("https://"):
        return Check("FAIL", "telegram mode", where, "Telegram only calls https:// webhooks; "
                     "put TLS on the reverse proxy and give its https:// URL")
    secret = ("secret set" if telegram.webhook_secret
              else "secret derived from the token (WARTA_WEBHOOK_SECRET sets one)")
    return Check("OK", "telegram mode", f"{where}, {secret}")


def check_website(settings: Settings) -> Check:
    from publisher.base import PublishError
    from publisher.factory import make_adapter

    website = settings.website
    if website.adapter == "none":
        return Check("SKIP", "website", 'adapter "none": Warta does not publish')
    try:
        adapter = make_adapter(settings)
    except ConfigError as error:
        secret = error.key in ("website.password", "website.webhook_secret")
        variable = ("WARTA_WEBSITE_PASSWORD" if error.key == "website.password"
                    else "WARTA_WEBSITE_WEBHOOK_SECRET")
        fix = f"set {variable} or [{error.key.replace('.', '] ')}" if secret else \
            f"set [{error.key.replace('.', '] ')}"
        return Check("FAIL", "website", str(error), fix)
    assert adapter is not None
    target = website.base_url if website.adapter == "wordpress" else website.webhook_url
    try:
        adapter.check()
    except PublishError as error:
        if error.config_problem:
            fix = ("check [website] username and the Application Password "
                   "(WARTA_WEBSITE_PASSWORD)" if website.adapter == "wordpress"
                   else "check [website] webhook_url and WARTA_WEBSITE_WEBHOOK_SECRET")
        else:
            fix = "is the site up? check [website] " + (
                "base_url" if website.adapter == "wordpress" else "webhook_url")
        return Check("FAIL", "website", f"{website.adapter} {target}: {error.reason}", fix)
    who = f" as {website.username!r}" if website.adapter == "wordpress" else ""
    return Check("OK", "website", f"{website.adapter} {target}{who}: authenticated GET answered")


def check_calendar(settings: Settings, now: datetime) -> Check:
    import holidays as holiday_data

    calendar = working_calendar(settings)
    local = now.astimezone(calendar.tz)
    today = local.date()
    state = "open" if calendar.is_working_time(now) else "closed"
    parts = [f"{settings.office.timezone}, now {local:%a %Y-%m-%d %H:%M %Z} (office {state})"]
    upcoming = next(((day, name) for day in (today + timedelta(days=n) for n in range(1, 400))
                     if (name := calendar.holiday_name(day))), None)
    parts.append(f"next holiday {upcoming[0]} {upcoming[1]}" if upcoming
                 else "no holiday in the next 400 days")
    country = settings.holidays.country
    if not country:
        parts.append("national holidays off ([holidays] country is empty)")
        return Check("OK", "calendar", "; ".join(parts))
    if country != "ID" or not settings.holidays.cuti_bersama:
        parts.append("cuti bersama not counted")
        return Check("OK", "calendar", "; ".join(parts))

    def cuti_days(year: int) -> int:
        data = holiday_data.country_holidays("ID", years=year, categories=("government",))
        return sum(1 for day in data if isinstance(day, date) and day.year == year)

    this_year = cuti_days(today.year)
    next_year = cuti_days(today.year + 1)
    extra = sum(1 for day in settings.holidays.extra if day.year == today.year)
    later = f"{next_year} days" if next_year else "not known yet"
    parts.append(f"cuti bersama {today.year}: {this_year} days, {today.year + 1}: {later}; "
                 f"{extra} extra closed days this year")
    if this_year == 0:
        return Check("WARN", "calendar", "; ".join(parts),
                     f"the holidays package has no cuti bersama for {today.year}: upgrade it "
                     "(pip install -U holidays) or list the days in [holidays] extra")
    return Check("OK", "calendar", "; ".join(parts))


def check_backup_tools(settings: Settings) -> Check:
    found = {name: shutil.which(name) for name in ("pg_dump", "pg_restore")}
    missing = [name for name, where in found.items() if where is None]
    if missing:
        return Check("WARN", "backup tools", f"{', '.join(missing)} not found",
                     "install postgresql-client (same major version as the server or newer)"
                     " for `warta backup`")
    versions = {name: _tool_version(str(where)) for name, where in found.items()}
    detail = ", ".join(f"{name} {version}" for name, version in versions.items())
    engine = _engine_for_check(settings.database.url)
    try:
        with engine.connect() as connection:
            server = str(connection.scalar(sql_text("SHOW server_version")) or "")
    except SQLAlchemyError:
        return Check("OK", "backup tools", detail)  # the database line says why
    finally:
        engine.dispose()
    detail += f" (server {server.split()[0] if server else 'unknown'})"
    older = [name for name, version in versions.items() if _major(version) < _major(server)]
    if older:
        return Check("WARN", "backup tools", detail, f"{', '.join(older)} older than the "
                     "server refuse to work: install the server's postgresql-client version")
    return Check("OK", "backup tools", detail)


def _tool_version(path: str) -> str:
    done = subprocess.run([path, "--version"], capture_output=True, text=True, check=False,
                          timeout=30)
    found = re.search(r"\(PostgreSQL\)\s+(\S+)", done.stdout)
    return found.group(1) if found else "unknown"


def _major(version: str) -> int:
    found = re.match(r"\s*(\d+)", version)
    return int(found.group(1)) if found else 0
