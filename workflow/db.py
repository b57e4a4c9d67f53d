"""Engines, sessions and migrations for SQLite (the embedded default) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "warta_write"  # execution option: this transaction will write
READ_ALONE_OPTION = "warta_read_alone"  # execution option: one read, nothing after it


def make_engine(url: str, **options: Any) -> Engine:
    """Creates an engine; SQLite gets WAL, foreign keys and write-locking transactions."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, **options)
    engine = create_engine(
        url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **options
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling would BEGIN lazily and DEFERRED; we take it
        # over so every transaction starts with the write lock (see _begin_immediate).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if parsed.database and parsed.database != ":memory:":
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # A deferred transaction that read and then wants to write fails at once with
        # "database is locked" when another writer went first; a write transaction takes
        # the lock up front instead (IMMEDIATE), so two officials tapping at once are
        # serialised, not errored. Reads stay deferred and never block anyone (WAL).
        # A single read needs no transaction around it (one statement is its own snapshot),
        # so it is not given one: a statement less on every update that only asks who is
        # there. The COMMIT or ROLLBACK that ends it is then a no-op for pysqlite.
        options = connection.get_execution_options()
        if options.get(WRITE_OPTION):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif not options.get(READ_ALONE_OPTION):
            connection.exec_driver_sql("BEGIN")

    return engine


def begin_write(session: Session) -> None:
    """Marks the session's new transaction as a writing one (see `_begin` above)."""
    session.connection(execution_options={WRITE_OPTION: True})


def read_alone(session: Session) -> None:
    """Marks the session's next transaction as a single read (see `_begin` above); the
    caller ends it before doing anything else."""
    if not session.in_transaction():
        session.connection(execution_options={READ_ALONE_OPTION: True})


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Brings the schema up to `revision` (creating it on an empty database)."""
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def is_up_to_date(engine: Engine) -> bool:
    return current_revision(engine) == head_revision(engine)
