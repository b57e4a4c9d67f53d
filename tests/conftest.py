"""Shared fixtures: a migrated database on SQLite and on a real PostgreSQL, people, a clock.

PostgreSQL tests take the server from WARTA_TEST_PG_URL (for example
postgresql+psycopg://postgres@127.0.0.1:5432/test). Without it they are skipped, unless
WARTA_REQUIRE_SERVERS=1 (CI sets it), in which case they fail: CI never skips them silently.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from tests.flow import HARNESS_CHECKLIST
from workflow import db
from workflow.actions import Workflow
from workflow.config import Settings, working_calendar
from workflow.deadlines import StageDeadlines
from workflow.models import Base, Person, Role
from workflow.people import add_person, set_active

pytest_plugins = ["tests.botkit"]

os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
os.environ.setdefault("no_proxy", "127.0.0.1,localhost")
# PTB 22 warns when its time attributes are read as numbers; ask for timedeltas instead.
os.environ.setdefault("PTB_TIMEDELTA", "true")

PG_URL = os.environ.get("WARTA_TEST_PG_URL", "")
REQUIRE_SERVERS = os.environ.get("WARTA_REQUIRE_SERVERS") == "1"

# Every test database gets this installation token, so tests can name website keys.
TEST_TOKEN = "t3st"

# Wednesday 2026-11-25 09:00 in Jakarta: inside office hours.
START = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def postgres_url_or_skip() -> str:
    if PG_URL:
        return PG_URL
    if REQUIRE_SERVERS:
        pytest.fail("WARTA_TEST_PG_URL is not set but WARTA_REQUIRE_SERVERS=1")
    pytest.skip("PostgreSQL tests need WARTA_TEST_PG_URL (see README)")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "warta.db"
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    pin_token(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_schema_url() -> Iterator[str]:
    """A private schema on the PostgreSQL server, migrated once per test session."""
    base = postgres_url_or_skip()
    schema = f"warta_test_{uuid.uuid4().hex[:10]}"
    admin = db.make_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = schema_url(base, schema)
    engine = db.make_engine(url)
    db.upgrade(engine)
    pin_token(engine)
    engine.dispose()
    yield url
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def pin_token(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("UPDATE installation SET token = :t"), {"t": TEST_TOKEN})


def schema_url(base: str, schema: str) -> str:
    """`base` with every connection in `schema`. A commit does not wait for the server's
    disk (synchronous_commit=off): what other sessions see, locks and isolation are the
    same, only a crash of the server itself could lose the last commits, which no test
    does; each of the thousands of commits of a run saves a flush."""
    separator = "&" if "?" in base else "?"
    return (f"{base}{separator}options=-csearch_path%3D{schema}"
            "%20-csynchronous_commit%3Doff")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "warta.db"
        shutil.copy(template, path)
        created = db.make_engine(f"sqlite:///{path}")
    else:
        created = db.make_engine(request.getfixturevalue("postgres_schema_url"))
        truncate_all(created)
    yield created
    created.dispose()


# The installation row is made once by the migration, like on a real server.
EMPTIED_TABLES = [table.name for table in reversed(Base.metadata.sorted_tables)
                  if table.name != "installation"]
# The id sequences of those tables (owned by their columns).
_OWNED_SEQUENCES = text("""
    SELECT sequence.relname FROM pg_class sequence
    JOIN pg_depend link ON link.objid = sequence.oid AND link.deptype IN ('a', 'i')
    JOIN pg_class owner ON owner.oid = link.refobjid
    WHERE sequence.relkind = 'S' AND owner.relname = ANY(:tables)
      AND owner.relnamespace = to_regnamespace(current_schema())""")


def truncate_all(engine: Engine) -> None:
    """Every table empty and every id counting from 1 again, as after the migration.

    DELETE, children first, then restarting the sequences: what TRUNCATE ... RESTART
    IDENTITY does, at a few milliseconds instead of a quarter second (TRUNCATE makes new
    files for every table, a cost for big tables, not for a test's handful of rows)."""
    with engine.begin() as connection:
        sequences = connection.execute(_OWNED_SEQUENCES, {"tables": EMPTIED_TABLES}).scalars()
        connection.exec_driver_sql("; ".join(
            [f'DELETE FROM "{name}"' for name in EMPTIED_TABLES]
            + [f'ALTER SEQUENCE "{name}" RESTART' for name in sequences]))


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return db.session_factory(engine)


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with sessions() as opened:
        yield opened


class Clock:
    """A pinned clock that tests move by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def workflow() -> Workflow:
    settings = Settings()
    return Workflow(StageDeadlines.from_settings(settings.deadlines, working_calendar(settings)),
                    checklist=HARNESS_CHECKLIST)


class Office:
    """A small office: one of each role, plus a second officer, editor and official."""

    def __init__(self, session: Session, now: datetime) -> None:
        self.now = now
        def person(telegram_id: int, name: str, *roles: Role, section: str = "") -> Person:
            return add_person(session, None, now, telegram_id=telegram_id, name=name,
                              roles=roles, section=section)

        self.officer = person(1001, "Sari Petugas", Role.PETUGAS, section="Bidang Sosial")
        self.officer2 = person(1002, "Budi Petugas", Role.PETUGAS, section="Bidang PMD")
        self.editor = person(2001, "Eko Editor", Role.EDITOR)
        self.editor2 = person(2002, "Rina Editor", Role.EDITOR)
        self.official = person(3001, "Pak Joko Pejabat", Role.PEJABAT)
        self.official2 = person(3002, "Bu Wati Pejabat", Role.PEJABAT)
        self.admin = person(4001, "Ani Admin", Role.ADMIN)
        self.head = person(5001, "Kepala Dinas", Role.KEPALA, Role.PEJABAT)
        self.inactive = person(6001, "Mantan Petugas", Role.PETUGAS, Role.EDITOR, Role.PEJABAT)
        set_active(session, None, now, 6001, False)

    def everyone(self) -> list[Person]:
        return [self.officer, self.officer2, self.editor, self.editor2, self.official,
                self.official2, self.admin, self.head, self.inactive]


@pytest.fixture
def office(session: Session, clock: Clock) -> Office:
    return Office(session, clock.now)


@pytest.fixture
def office_factory(clock: Clock) -> object:
    """Builds the office in a database of the test's choosing."""
    return lambda session: Office(session, clock.now)
