"""`warta backup DIR` and `warta restore DIR`: a consistent copy of the database and media.

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, MetaData, create_engine, func, inspect, select, table
from sqlalchemy import text as sql_text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from warta.database import database_kind, known_revision, shown_url, sqlite_path
from workflow import db
from workflow.config import Settings
from workflow.durable import fsync_dir
from workflow.errors import WorkflowError
from workflow.logs import RedactSecrets, secrets_of
from workflow.media.storage import sha256_of
from workflow.models import Base

__all__ = [
    "BackupRefused",
    "Manifest",
    "backup",
    "restore",
    "verify_backup",
]

MANIFEST = "manifest.json"
SQLITE_FILE = "warta.db"
PG_FILE = "warta.pgdump"
MEDIA = "media"
FORMAT = 1
_CHUNK = 1 << 20
# Tables a freshly migrated database already fills; they do not make it "in use".
_SEEDED_TABLES = frozenset({"alembic_version", "installation"})
_CONTENT_NAME = re.compile(r"[0-9a-f]{2}/([0-9a-f]{64})\.[a-z0-9]{1,5}")


class BackupRefused(WorkflowError):
    """A backup or restore that would lose or mix data; the message says why and what to do."""

    code = "refused"


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

    def to_json(self) -> dict[str, object]:
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
    def from_json(cls, data: Any) -> Manifest:  # Any: what json.loads read, checked here
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
            raise BackupRefused(f"{MANIFEST} is not a valid Warta manifest: {error}") from None
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


def _write_json(path: Path, data: object) -> None:
    temporary = path.with_name(f".{path.name}.part")
    with temporary.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, ensure_ascii=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


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
        raise BackupRefused(f"{directory} exists and is not empty: back up into a new directory "
                         "(for example one named after the date)")
    if database_kind(settings.database.url) == "postgresql":
        _pg_tool("pg_dump")
    created = not directory.exists()
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(directory, 0o700)  # the copy holds personal data
    except OSError as error:
        raise BackupRefused(f"cannot create {directory}: {error}") from None
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
        raise BackupRefused(redactor.redact(f"{what} failed: {type(error).__name__}: {detail}")
                         ) from None


def _backup_into(settings: Settings, directory: Path,
                 progress: Callable[[str], None]) -> Manifest:
    url = settings.database.url
    kind = database_kind(url)
    created_at = datetime.now(UTC).isoformat(timespec="seconds")
    if kind == "sqlite":
        database_file = SQLITE_FILE
        snapshot = _backup_sqlite(url, directory / SQLITE_FILE)
    elif kind == "postgresql":
        database_file = PG_FILE
        snapshot = _backup_postgres(settings, directory / PG_FILE)
    else:
        raise BackupRefused(f"cannot back up a {kind} database: SQLite and PostgreSQL only")
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
    fsync_dir(directory)
    progress(f"manifest  {directory / MANIFEST}")
    return manifest


def _backup_sqlite(url: str, target: Path) -> _Snapshot:
    source_path = sqlite_path(url)
    if source_path is None or not source_path.exists():
        raise BackupRefused(f"no SQLite database file at {shown_url(url)}: nothing to back up")
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
        raise BackupRefused(f"the copy failed SQLite's integrity check: {checked}")
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
        raise BackupRefused(f"{name} is not installed: install postgresql-client (the same major "
                         "version as the server, or newer) and try again")
    return found


def _run_tool(command: list[str], environment: dict[str, str], settings: Settings) -> None:
    done = subprocess.run(command, env=environment, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        redactor = RedactSecrets(secrets_of(settings))
        message = redactor.redact((done.stderr or done.stdout).strip())
        raise BackupRefused(f"{Path(command[0]).name} failed ({done.returncode}): {message}")


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
        raise BackupRefused(f"no {MANIFEST} in {directory}: not a Warta backup, or an "
                         "unfinished one")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BackupRefused(f"cannot read {path}: {error}") from None
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
        raise BackupRefused(f"backup {directory} failed verification: "
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
    kind = database_kind(url)
    if kind != manifest.database_kind:
        raise BackupRefused(f"the backup is of a {manifest.database_kind} database but "
                         f"[database] url is {kind} ({shown_url(url)})")
    if kind == "postgresql":
        _pg_tool("pg_restore")
    with _plainly(settings, "restore"):
        return _restore_checked(settings, directory, manifest, force, progress)


def _restore_checked(settings: Settings, directory: Path, manifest: Manifest, force: bool,
                     progress: Callable[[str], None]) -> Manifest:
    url = settings.database.url
    kind = database_kind(url)
    engine = db.make_engine(url, poolclass=NullPool)
    try:
        revision = manifest.alembic_revision
        if revision is not None and not known_revision(engine, revision):
            raise BackupRefused(f"the backup is at revision {revision}, which this Warta does "
                             "not know: install the Warta version that made it")
        media_root = Path(settings.media.dir).resolve()
        target_path = sqlite_path(url)
        if not force:
            in_use = ({} if target_path is not None and not target_path.exists()
                      else _rows_in_use(engine))
            if in_use:
                listed = ", ".join(f"{name} {count}" for name, count in sorted(in_use.items()))
                raise BackupRefused(f"the database {shown_url(url)} holds data ({listed}): restore "
                                 "into an empty one, or add --force to replace it")
            if _media_in_use(media_root):
                raise BackupRefused(f"the media directory {media_root} is not empty: restore "
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
        raise BackupRefused(f"restored database is at revision {restored.revision}, the backup "
                         f"at {manifest.alembic_revision}")
    differing = sorted(name for name in set(manifest.rows) | set(restored.rows)
                       if manifest.rows.get(name) != restored.rows.get(name))
    if differing:
        raise BackupRefused("restored row counts differ from the backup's: " + ", ".join(
            f"{name} {restored.rows.get(name)} (backup {manifest.rows.get(name)})"
            for name in differing))
    progress(f"database  {shown_url(url)} at revision {restored.revision}; rows as in the backup")
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
                raise BackupRefused(f"{MEDIA}/{relative} changed during the restore")
            final.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
            os.replace(temporary, final)
        finally:
            temporary.unlink(missing_ok=True)
    for folder in {(media_root / relative).parent for relative in manifest.files}:
        fsync_dir(folder)


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
        raise BackupRefused(f"the restored database failed SQLite's integrity check: {checked}")


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
