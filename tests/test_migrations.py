"""Migrations build the schema from empty on both databases, and match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from workflow import db
from workflow.models import Base


def test_head_matches_models(engine: Engine) -> None:
    assert db.is_up_to_date(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_every_table_exists(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_upgrade_from_empty_twice_is_harmless(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "fresh.db"
    engine = db.make_engine(f"sqlite:///{path}")
    assert db.current_revision(engine) is None
    db.upgrade(engine)
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision(engine)
    engine.dispose()
