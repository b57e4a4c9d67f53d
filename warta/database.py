"""The configured database as the admin commands describe it: kind, safe URL, file, revisions."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine
from sqlalchemy.engine import URL, make_url

from workflow import db


def database_kind(url: str) -> str:
    return make_url(url).get_backend_name()


def shown_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def sqlite_path(url: str | URL) -> Path | None:
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(str(parsed.database)).resolve()


def known_revision(engine: Engine, revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(db.alembic_config(engine)).get_revision(
            revision) is not None
    except CommandError:
        return False
