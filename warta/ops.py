"""What an administrator runs: `warta doctor`, `warta backup DIR`, `warta restore DIR`.

Doctor
------
One line per check, ``OK``, ``WARN``, ``SKIP`` or ``FAIL``, and for each problem the fix
after a dash. Secrets are never printed: database URLs are shown with the password masked,
and every line goes through the same redaction as the logs (`workflow.logs`).

Backup
------
A backup is a directory::

    DIR/warta.db        SQLite: a copy made with SQLite's online backup API
    DIR/warta.pgdump    PostgreSQL: ``pg_dump --format=custom``
    DIR/media/...       the content-addressed media tree, without ``tmp/``
    DIR/manifest.json   written last: what is in the backup and the sha256 of every file

It is consistent while the bot runs: the database copy is one snapshot (SQLite: one
backup step under a read transaction, which WAL lets writers run beside; PostgreSQL: an
exported REPEATABLE READ snapshot that ``pg_dump --snapshot`` shares, and that the
manifest's revision and row counts are read from too). Media is copied after the
database: files are written before any row names them and are never changed, so every
file the copied rows name is in the copy (the manifest lists any that were already
missing from the media directory).

Restore
-------
Verifies the whole backup against its manifest first (nothing is touched if a file is
missing, changed or added), refuses a database or media directory that holds data unless
``--force``, copies the media, then the database, and checks the restored revision and
row counts. The database is left at the backup's revision: `warta db upgrade` brings an
older one to the current schema. Stop the bot before restoring.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, MetaData, create_engine, func, inspect, select, table
from sqlalchemy import text as sql_text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from workflow import db
from workflow.config import SECRET_ENVIRONMENT, ConfigError, Settings, working_calendar
from workflow.errors import WorkflowError
from workflow.logs import RedactSecrets, secrets_of
from workflow.media.storage import sha256_of
from workflow.models import Base

__all__ = [
    "Check",
    "Manifest",
    "OpsRefused",
    "backup",
    "doctor",
    "restore",
    "verify_backup",
]

MANIFEST = "manifest.json"
SQLITE_FILE = "warta.db"
PG_FILE = "warta.pgdump"
MEDIA = "media"
FORMAT = 1
TELEGRAM_TIMEOUT = 15.0
PG_CONNECT_TIMEOUT = 10
LOW_DISK_BYTES = 1 << 30
_CHUNK = 1 << 20
# Tables a freshly migrated database already fills; they do not make it "in use".
_SEEDED_TABLES = frozenset({"alembic_version", "installation"})
_CONTENT_NAME = re.compile(r"[0-9a-f]{2}/([0-9a-f]{64})\.[a-z0-9]{1,5}")


class OpsRefused(WorkflowError):
    """A backup or restore that would lose or mix data; the message says why and what to do."""

    code = "refused"


# --------------------------------------------------------------------------- doctor


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
    if _kind(settings.database.url) == "postgresql":
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


def _kind(url: str) -> str:
    return make_url(url).get_backend_name()


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_path(url: str | URL) -> Path | None:
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(str(parsed.database)).resolve()


def _engine_for_check(url: str) -> Engine:
    if _kind(url) == "postgresql":
        return db.make_engine(url, poolclass=NullPool,
                              connect_args={"connect_timeout": PG_CONNECT_TIMEOUT})
    return db.make_engine(url, poolclass=NullPool)


def check_database(settings: Settings) -> Check:
    url = settings.database.url
    shown = _shown(url)
    fix_url = "check [database] url (or WARTA_DATABASE_URL) and that the server runs"
    path = _sqlite_path(url)
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
            if current is not None and not _known_revision(engine, current):
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


def _known_revision(engine: Engine, revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(db.alembic_config(engine)).get_revision(
            revision) is not None
    except CommandError:
        return False


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
        me = asyncio.run(_get_me(settings))
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


async def _get_me(settings: Settings) -> Any:
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


# --------------------------------------------------------------------------- manifest


@dataclass
class Manifest:
    created_at: str
    database_kind: str
    alembic_revision: str | None
    database_file: str
    database_sha256: str
    database_bytes: int
    rows: dict[str, int]
    files: dict[str, str]  # media path (relative, "/"-separated) -> sha256 of its bytes
    sizes: dict[str, int]
    missing_media: list[str] = field(default_factory=list)
    warta_version: str = ""
    format: int = FORMAT

    @property
    def file_count(self) -> int:
        return len(self.files)

    @property
    def total_bytes(self) -> int:
        return sum(self.sizes.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "created_at": self.created_at,
            "warta_version": self.warta_version,
            "database_kind": self.database_kind,
            "alembic_revision": self.alembic_revision,
            "database": {"file": self.database_file, "bytes": self.database_bytes,
                         "sha256": self.database_sha256, "rows": self.rows},
            "file_count": self.file_count,
            "total_bytes": self.total_bytes,
            "files": {path: {"sha256": self.files[path], "bytes": self.sizes[path]}
                      for path in sorted(self.files)},
            "missing_media": self.missing_media,
        }

    @classmethod
    def from_json(cls, data: Any) -> Manifest:
        try:
            if data["format"] != FORMAT:
                raise ValueError(f"format {data['format']!r}, this Warta reads {FORMAT}")
            database = data["database"]
            files = {str(path): str(entry["sha256"]) for path, entry in data["files"].items()}
            sizes = {str(path): int(entry["bytes"]) for path, entry in data["files"].items()}
            manifest = cls(
                created_at=str(data["created_at"]),
                database_kind=str(data["database_kind"]),
                alembic_revision=data["alembic_revision"],
                database_file=str(database["file"]),
                database_sha256=str(database["sha256"]),
                database_bytes=int(database["bytes"]),
                rows={str(k): int(v) for k, v in database["rows"].items()},
                files=files,
                sizes=sizes,
                missing_media=[str(p) for p in data.get("missing_media", [])],
                warta_version=str(data.get("warta_version", "")),
            )
            if int(data["file_count"]) != manifest.file_count:
                raise ValueError(f"file_count {data['file_count']} but {manifest.file_count} "
                                 "files listed")
            if int(data["total_bytes"]) != manifest.total_bytes:
                raise ValueError(f"total_bytes {data['total_bytes']} but the files listed "
                                 f"add up to {manifest.total_bytes}")
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise OpsRefused(f"{MANIFEST} is not a valid Warta manifest: {error}") from None
        return manifest


def _version() -> str:
    try:
        return metadata.version("warta")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return ""


def _sha256_file(path: Path) -> tuple[str, int]:
    with path.open("rb") as handle:
        return sha256_of(handle)


def _copy_hashing(source: Path, target: Path, mode: int = 0o600) -> tuple[str, int]:
    """Copies `source` to the new file `target` (fsync'd); returns its sha256 and size."""
    digest = hashlib.sha256()
    size = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with source.open("rb") as reader, os.fdopen(fd, "wb") as writer:
        while chunk := reader.read(_CHUNK):
            digest.update(chunk)
            writer.write(chunk)
            size += len(chunk)
        writer.flush()
        os.fsync(writer.fileno())
    return digest.hexdigest(), size


def _media_files(root: Path) -> Iterator[tuple[str, Path]]:
    """Regular files under `root` except tmp/, as (relative "/" path, path), sorted."""
    if not root.is_dir():
        return
    for folder, folders, names in os.walk(root):
        here = Path(folder)
        if here == root:
            folders[:] = [name for name in folders if name != "tmp"]
        folders.sort()
        for name in sorted(names):
            path = here / name
            if stat.S_ISREG(path.lstat().st_mode):  # symlinks and the like are not media
                yield path.relative_to(root).as_posix(), path


def _safe_relative(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return (bool(parts) and not PurePosixPath(path).is_absolute() and ".." not in parts
            and parts[0] != "tmp" and "\\" not in path)


def _write_json(path: Path, data: Any) -> None:
    temporary = path.with_name(f".{path.name}.part")
    with temporary.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, ensure_ascii=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- backup


@dataclass(frozen=True)
class _Snapshot:
    revision: str | None
    rows: dict[str, int]
    references: set[str]


def _snapshot_facts(connection: Connection) -> _Snapshot:
    """Revision, row count per table and media paths named, as `connection` sees them."""
    revision = MigrationContext.configure(connection).get_current_revision()
    names = sorted(inspect(connection).get_table_names())
    rows = {name: int(connection.scalar(select(func.count()).select_from(table(name))) or 0)
            for name in names}
    references: set[str] = set()
    if "media" in names:
        for stored, thumbnail in connection.execute(
            sql_text("SELECT stored_path, thumbnail_path FROM media")
        ):
            references.update(p for p in (stored, thumbnail) if p)
    return _Snapshot(revision, rows, references)


def backup(settings: Settings, directory: Path,
           progress: Callable[[str], None] = lambda _line: None) -> Manifest:
    """Copies the database and the media into the new or empty `directory`."""
    directory = directory.resolve()
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise OpsRefused(f"{directory} exists and is not empty: back up into a new directory "
                         "(for example one named after the date)")
    if _kind(settings.database.url) == "postgresql":
        _pg_tool("pg_dump")
    created = not directory.exists()
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(directory, 0o700)  # the copy holds personal data
    except OSError as error:
        raise OpsRefused(f"cannot create {directory}: {error}") from None
    try:
        with _plainly(settings, "backup"):
            return _backup_into(settings, directory, progress)
    except BaseException:
        # Leave no half backup that looks whole (there is no manifest yet anyway).
        if created:
            shutil.rmtree(directory, ignore_errors=True)
        else:
            for entry in directory.iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _plainly(settings: Settings, what: str) -> Iterator[None]:
    """Database and file errors become one clear, redacted refusal instead of a traceback."""
    try:
        yield
    except (SQLAlchemyError, sqlite3.Error, OSError) as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()
        detail = reason[0] if reason else type(error).__name__
        redactor = RedactSecrets(secrets_of(settings))
        raise OpsRefused(redactor.redact(f"{what} failed: {type(error).__name__}: {detail}")
                         ) from None


def _backup_into(settings: Settings, directory: Path,
                 progress: Callable[[str], None]) -> Manifest:
    url = settings.database.url
    kind = _kind(url)
    created_at = datetime.now(UTC).isoformat(timespec="seconds")
    if kind == "sqlite":
        database_file = SQLITE_FILE
        snapshot = _backup_sqlite(url, directory / SQLITE_FILE)
    elif kind == "postgresql":
        database_file = PG_FILE
        snapshot = _backup_postgres(settings, directory / PG_FILE)
    else:
        raise OpsRefused(f"cannot back up a {kind} database: SQLite and PostgreSQL only")
    database_sha, database_bytes = _sha256_file(directory / database_file)
    progress(f"database  {kind} at revision {snapshot.revision}: {database_file} "
             f"({database_bytes / 1e6:.1f} MB; "
             + ", ".join(f"{name} {count}" for name, count in snapshot.rows.items()
                         if name in ("people", "items", "audit_events", "media")) + ")")

    media_root = Path(settings.media.dir).resolve()
    files: dict[str, str] = {}
    sizes: dict[str, int] = {}
    target_root = directory / MEDIA
    target_root.mkdir(mode=0o700)
    for relative, source in _media_files(media_root):
        target = target_root / relative
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        files[relative], sizes[relative] = _copy_hashing(source, target)
    missing = sorted(snapshot.references - files.keys())
    manifest = Manifest(
        created_at=created_at, database_kind=kind, alembic_revision=snapshot.revision,
        database_file=database_file, database_sha256=database_sha,
        database_bytes=database_bytes, rows=snapshot.rows, files=files, sizes=sizes,
        missing_media=missing, warta_version=_version(),
    )
    progress(f"media     {manifest.file_count} files, {manifest.total_bytes / 1e6:.1f} MB "
             f"from {media_root} (tmp/ skipped)")
    if missing:
        progress(f"warning   {len(missing)} file(s) the database names are not in the media "
                 f"directory: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    _write_json(directory / MANIFEST, manifest.to_json())
    _fsync_dir(directory)
    progress(f"manifest  {directory / MANIFEST}")
    return manifest


def _backup_sqlite(url: str, target: Path) -> _Snapshot:
    source_path = _sqlite_path(url)
    if source_path is None or not source_path.exists():
        raise OpsRefused(f"no SQLite database file at {_shown(url)}: nothing to back up")
    source = sqlite3.connect(source_path, timeout=db.SQLITE_BUSY_TIMEOUT_MS / 1000)
    try:
        copy = sqlite3.connect(target)
        try:
            # One step (pages=-1): the whole database under one read transaction, so the
            # copy is a single snapshot; in WAL mode the bot keeps writing meanwhile.
            source.backup(copy, pages=-1)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            checked = copy.execute("PRAGMA integrity_check").fetchone()
        finally:
            copy.close()
    finally:
        source.close()
    os.chmod(target, 0o600)
    if not checked or checked[0] != "ok":
        raise OpsRefused(f"the copy failed SQLite's integrity check: {checked}")
    engine = create_engine(f"sqlite:///{target}", poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return _snapshot_facts(connection)
    finally:
        engine.dispose()


def _libpq(url: str) -> tuple[str, dict[str, str], str | None]:
    """(conninfo without the password, environment with PGPASSWORD, schema in search_path)."""
    from psycopg.conninfo import make_conninfo

    parsed = make_url(url)
    params: dict[str, str] = {}
    for key, value in (("host", parsed.host), ("port", parsed.port),
                       ("user", parsed.username), ("dbname", parsed.database)):
        if value not in (None, ""):
            params[key] = str(value)
    for key, given in parsed.query.items():
        params[key] = given if isinstance(given, str) else given[-1]
    environment = dict(os.environ)
    environment.pop("PGPASSWORD", None)
    if parsed.password:
        environment["PGPASSWORD"] = str(parsed.password)
    match = re.search(r"-c\s*search_path\s*=\s*([A-Za-z0-9_]+)", params.get("options", ""))
    return make_conninfo("", **params), environment, match.group(1) if match else None


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise OpsRefused(f"{name} is not installed: install postgresql-client (the same major "
                         "version as the server, or newer) and try again")
    return found


def _run_tool(command: list[str], environment: dict[str, str], settings: Settings) -> None:
    done = subprocess.run(command, env=environment, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        redactor = RedactSecrets(secrets_of(settings))
        message = redactor.redact((done.stderr or done.stdout).strip())
        raise OpsRefused(f"{Path(command[0]).name} failed ({done.returncode}): {message}")


def _backup_postgres(settings: Settings, target: Path) -> _Snapshot:
    pg_dump = _pg_tool("pg_dump")
    conninfo, environment, schema = _libpq(settings.database.url)
    engine = db.make_engine(settings.database.url, poolclass=NullPool)
    try:
        with engine.connect().execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        ) as connection, connection.begin():
            # pg_dump works in this transaction's snapshot, and so do the manifest's facts.
            snapshot_id = connection.scalar(sql_text("SELECT pg_export_snapshot()"))
            facts = _snapshot_facts(connection)
            command = [pg_dump, "--format=custom", f"--file={target}",
                       f"--snapshot={snapshot_id}", "--no-password", f"--dbname={conninfo}"]
            if schema:
                command.append(f"--schema={schema}")
            _run_tool(command, environment, settings)
    finally:
        engine.dispose()
    os.chmod(target, 0o600)
    return facts


# --------------------------------------------------------------------------- restore


def read_manifest(directory: Path) -> Manifest:
    path = directory / MANIFEST
    if not path.is_file():
        raise OpsRefused(f"no {MANIFEST} in {directory}: not a Warta backup, or an "
                         "unfinished one")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise OpsRefused(f"cannot read {path}: {error}") from None
    return Manifest.from_json(data)


def verify_backup(directory: Path) -> tuple[Manifest, list[str]]:
    """The manifest and every way the backup's files differ from it (empty: intact)."""
    directory = directory.resolve()
    manifest = read_manifest(directory)
    problems: list[str] = []
    expected_file = {"sqlite": SQLITE_FILE, "postgresql": PG_FILE}.get(manifest.database_kind)
    if manifest.database_file != expected_file:
        problems.append(f"database file {manifest.database_file!r} for a "
                        f"{manifest.database_kind} backup")
    else:
        database = directory / manifest.database_file
        if not database.is_file():
            problems.append(f"{manifest.database_file}: missing")
        else:
            sha, size = _sha256_file(database)
            if (sha, size) != (manifest.database_sha256, manifest.database_bytes):
                problems.append(f"{manifest.database_file}: contents differ from the manifest")
    media_root = directory / MEDIA
    present = dict(_media_files(media_root))
    for relative in sorted(manifest.files):
        if not _safe_relative(relative):
            problems.append(f"{MEDIA}/{relative}: not a path inside the media directory")
            continue
        named = _CONTENT_NAME.fullmatch(relative)
        if named and manifest.files[relative] != named.group(1):
            problems.append(f"{MEDIA}/{relative}: the manifest's sha256 is not its name")
        path = present.pop(relative, None)
        if path is None:
            problems.append(f"{MEDIA}/{relative}: missing")
            continue
        sha, size = _sha256_file(path)
        if sha != manifest.files[relative] or size != manifest.sizes[relative]:
            problems.append(f"{MEDIA}/{relative}: sha256 differs from the manifest")
    problems.extend(f"{MEDIA}/{relative}: not in the manifest" for relative in sorted(present))
    return manifest, problems


def _refuse_problems(directory: Path, problems: list[str]) -> None:
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise OpsRefused(f"backup {directory} failed verification: "
                         + "; ".join(problems[:5]) + more)


def _rows_in_use(engine: Engine) -> dict[str, int]:
    """Tables with rows other than what a fresh migration writes."""
    with engine.connect() as connection:
        names = inspect(connection).get_table_names()
        counts = {name: int(connection.scalar(select(func.count()).select_from(table(name)))
                            or 0)
                  for name in names if name not in _SEEDED_TABLES}
    return {name: count for name, count in counts.items() if count}


def _media_in_use(root: Path) -> int:
    return sum(1 for _ in _media_files(root))


def restore(settings: Settings, directory: Path, *, force: bool = False,
            progress: Callable[[str], None] = lambda _line: None) -> Manifest:
    """Restores the backup in `directory` into the configured database and media dir."""
    directory = directory.resolve()
    manifest, problems = verify_backup(directory)
    _refuse_problems(directory, problems)
    progress(f"verified  {directory}: {manifest.database_file}, {manifest.file_count} media "
             f"files, {manifest.total_bytes / 1e6:.1f} MB (made {manifest.created_at})")
    url = settings.database.url
    kind = _kind(url)
    if kind != manifest.database_kind:
        raise OpsRefused(f"the backup is of a {manifest.database_kind} database but "
                         f"[database] url is {kind} ({_shown(url)})")
    if kind == "postgresql":
        _pg_tool("pg_restore")
    with _plainly(settings, "restore"):
        return _restore_checked(settings, directory, manifest, force, progress)


def _restore_checked(settings: Settings, directory: Path, manifest: Manifest, force: bool,
                     progress: Callable[[str], None]) -> Manifest:
    url = settings.database.url
    kind = _kind(url)
    engine = db.make_engine(url, poolclass=NullPool)
    try:
        revision = manifest.alembic_revision
        if revision is not None and not _known_revision(engine, revision):
            raise OpsRefused(f"the backup is at revision {revision}, which this Warta does "
                             "not know: install the Warta version that made it")
        media_root = Path(settings.media.dir).resolve()
        target_path = _sqlite_path(url)
        if not force:
            in_use = ({} if target_path is not None and not target_path.exists()
                      else _rows_in_use(engine))
            if in_use:
                listed = ", ".join(f"{name} {count}" for name, count in sorted(in_use.items()))
                raise OpsRefused(f"the database {_shown(url)} holds data ({listed}): restore "
                                 "into an empty one, or add --force to replace it")
            if _media_in_use(media_root):
                raise OpsRefused(f"the media directory {media_root} is not empty: restore "
                                 "into an empty one, or add --force to add the backup's files")
        _restore_media(directory / MEDIA, media_root, manifest)
        progress(f"media     {manifest.file_count} files into {media_root}")
        if kind == "sqlite":
            assert target_path is not None
            _restore_sqlite(directory / SQLITE_FILE, target_path)
        else:
            _restore_postgres(settings, engine, directory / PG_FILE)
        engine.dispose()
        with engine.connect() as connection:
            restored = _snapshot_facts(connection)
        head = db.head_revision(engine)
    finally:
        engine.dispose()
    if restored.revision != manifest.alembic_revision:
        raise OpsRefused(f"restored database is at revision {restored.revision}, the backup "
                         f"at {manifest.alembic_revision}")
    differing = sorted(name for name in set(manifest.rows) | set(restored.rows)
                       if manifest.rows.get(name) != restored.rows.get(name))
    if differing:
        raise OpsRefused("restored row counts differ from the backup's: " + ", ".join(
            f"{name} {restored.rows.get(name)} (backup {manifest.rows.get(name)})"
            for name in differing))
    progress(f"database  {_shown(url)} at revision {restored.revision}; rows as in the backup")
    if restored.revision != head:
        progress(f"next      run `warta db upgrade` to bring it from {restored.revision} to "
                 f"{head}")
    return manifest


def _restore_media(source_root: Path, media_root: Path, manifest: Manifest) -> None:
    media_root.mkdir(parents=True, exist_ok=True, mode=0o750)
    staging = media_root / "tmp"
    staging.mkdir(exist_ok=True, mode=0o750)
    for relative in sorted(manifest.files):
        final = media_root / relative
        fd, name = tempfile.mkstemp(prefix="restore-", suffix=".part", dir=staging)
        os.close(fd)
        os.unlink(name)
        temporary = Path(name)
        try:
            sha, _size = _copy_hashing(source_root / relative, temporary, 0o640)
            if sha != manifest.files[relative]:  # changed since verification
                raise OpsRefused(f"{MEDIA}/{relative} changed during the restore")
            final.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
            os.replace(temporary, final)
        finally:
            temporary.unlink(missing_ok=True)
    for folder in {(media_root / relative).parent for relative in manifest.files}:
        _fsync_dir(folder)


def _restore_sqlite(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    reader = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        writer = sqlite3.connect(target, timeout=db.SQLITE_BUSY_TIMEOUT_MS / 1000)
        try:
            # The backup API replaces the target's pages under its write lock, WAL or not;
            # copying the file over a live WAL database would corrupt it.
            reader.backup(writer, pages=-1)
            checked = writer.execute("PRAGMA integrity_check").fetchone()
        finally:
            writer.close()
    finally:
        reader.close()
    if not checked or checked[0] != "ok":
        raise OpsRefused(f"the restored database failed SQLite's integrity check: {checked}")


def _restore_postgres(settings: Settings, engine: Engine, dump: Path) -> None:
    pg_restore = _pg_tool("pg_restore")
    conninfo, environment, _schema = _libpq(settings.database.url)
    _drop_warta_tables(engine)
    _run_tool([pg_restore, "--clean", "--if-exists", "--no-owner", "--no-privileges",
               "--single-transaction", "--exit-on-error", "--no-password",
               f"--dbname={conninfo}", str(dump)], environment, settings)


def _drop_warta_tables(engine: Engine) -> None:
    """Drops Warta's tables (empty ones, or with --force) so the dump's schema stands alone:
    a table a newer migration made would otherwise outlive an older backup's restore."""
    ours = set(Base.metadata.tables) | {"alembic_version"}
    with engine.begin() as connection:
        present = [name for name in inspect(connection).get_table_names() if name in ours]
        if not present:
            return
        metadata_ = MetaData()
        metadata_.reflect(connection, only=present)
        metadata_.drop_all(connection)
