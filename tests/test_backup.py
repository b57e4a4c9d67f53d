"""`warta backup` / `warta restore`: consistent copies while the bot writes, careful restores.

Backups run against SQLite while a writer keeps writing, and against PostgreSQL in private
databases made for the test.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from tests.conftest import REQUIRE_SERVERS, START, Office, postgres_url_or_skip
from tests.flow import item_in
from tests.warta_cli import HEAD, run, write_config
from warta.backup import MANIFEST
from workflow import db
from workflow.actions import NewMedia
from workflow.config import Settings, load_settings
from workflow.context import Context
from workflow.media.storage import MediaStore
from workflow.models import Status

# --------------------------------------------------------------------------- backup/restore

DATA_TABLES = ("people", "person_roles", "items", "media", "audit_events", "stage_deadlines",
               "installation")


def jpeg(seed: int) -> bytes:
    image = Image.effect_noise((160, 120), 40 + seed).convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def store_photo(store: MediaStore, data: bytes) -> NewMedia:
    temp = store.new_temp_path()
    temp.write_bytes(data)
    stored = store.store(temp, "photo", "foto.jpg")
    return NewMedia(kind=stored.kind, sha256=stored.sha256, stored_path=stored.relative_path,
                    mime=stored.mime, size=stored.size, width=stored.width,
                    height=stored.height, thumbnail_path=stored.thumbnail_path or "")


def fill(context: Context) -> Office:
    """People, items in several states (with item_in's placeholder photo), two real JPEGs."""
    with context.sessions() as session:
        office = Office(session, START)
        for state in (Status.PUBLISHED, Status.REJECTED, Status.AWAITING_APPROVAL):
            item_in(context.workflow, session, office, state, START)
        item = context.workflow.create_draft(session, office.officer, START,
                                             description="Posyandu Desa Ampah")
        for seed in (1, 2):
            context.workflow.add_media(session, office.officer, item.id, START,
                                       store_photo(context.media, jpeg(seed)))
    (context.media.tmp_dir / "in-left-by-a-crash.part").write_bytes(b"partial")
    return office


class Writer(threading.Thread):
    """Keeps creating drafts (an item and its audit row per transaction) until stopped."""

    def __init__(self, settings: Settings, office: Office) -> None:
        super().__init__(daemon=True)
        self.context = Context(settings)
        self.officer = office.officer
        self.written = 0
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with self.context.sessions() as session:
                while not self.stop.is_set():
                    self.context.workflow.create_draft(session, self.officer, START,
                                                       description=f"tulisan {self.written}")
                    self.written += 1
        except BaseException as error:  # pragma: no cover - reported by the test
            self.error = error
        finally:
            self.context.close()

    def wait_for(self, count: int) -> None:
        deadline = 200
        while self.written < count and deadline:
            self.stop.wait(0.05)
            deadline -= 1
        assert self.written >= count, self.error


def table_rows(engine: Engine, name: str) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(f"SELECT * FROM {name} ORDER BY 1"))]


def assert_consistent_copy(source: Engine, restored: Engine, manifest: dict[str, Any]) -> None:
    """The restored rows are the source's rows up to one moment (ids are given in commit
    order by the single writer): a prefix of every table, and counts as in the manifest."""
    for name in DATA_TABLES:
        got = table_rows(restored, name)
        assert len(got) == manifest["database"]["rows"][name], name
        if name == "person_roles":
            assert got == table_rows(source, name)
            continue
        last = max((row[0] for row in got), default=0)
        assert got == [row for row in table_rows(source, name) if row[0] <= last], name
    # Every restored item has its audit row: the copy did not cut a transaction in half.
    with restored.connect() as connection:
        orphans = connection.scalar(text(
            "SELECT count(*) FROM items WHERE id NOT IN "
            "(SELECT item_id FROM audit_events WHERE action = 'workflow.create')"))
    assert orphans == 0


def media_bytes(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes()
            for path in sorted(root.rglob("*")) if path.is_file()
            and path.relative_to(root).parts[0] != "tmp"}


def backup_while_writing(config: Path, settings: Settings, office: Office,
                         target: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    writer = Writer(settings, office)
    writer.start()
    try:
        writer.wait_for(5)
        before = writer.written
        assert run(config, "backup", str(target)) == 0
        writer.wait_for(before + 5)  # the writer was never blocked for long
    finally:
        writer.stop.set()
        writer.join(30)
    assert writer.error is None
    out = capsys.readouterr().out
    print(out, file=sys.stderr)
    return writer.written, out


def test_sqlite_backup_while_writing_then_restore_into_an_empty_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source_db = tmp_path / "src" / "warta.db"
    source_db.parent.mkdir()
    config = write_config(tmp_path / "src.toml", database=f"sqlite:///{source_db}",
                          media=tmp_path / "src" / "media")
    assert run(config, "db", "upgrade") == 0
    settings = load_settings(config)
    context = Context(settings)
    office = fill(context)
    context.close()

    backup_dir = tmp_path / "backups" / "2026-11-25"
    written, out = backup_while_writing(config, settings, office, backup_dir, capsys)
    assert f"database  sqlite at revision {HEAD}: warta.db" in out
    assert "media     4 files" in out  # two photos and their thumbnails, not tmp/
    assert "warning   1 file(s) the database names are not in the media directory: aa/a.jpg" in out

    manifest = json.loads((backup_dir / MANIFEST).read_text())
    assert manifest["database_kind"] == "sqlite" and manifest["alembic_revision"] == HEAD
    assert manifest["file_count"] == 4 and manifest["missing_media"] == ["aa/a.jpg"]
    assert manifest["total_bytes"] == sum(e["bytes"] for e in manifest["files"].values())
    for relative, entry in manifest["files"].items():
        if ".thumb." not in relative:
            assert relative.split("/")[1].split(".")[0] == entry["sha256"]
    assert not any(name.startswith("tmp") for name in manifest["files"])
    assert oct(backup_dir.stat().st_mode & 0o777) == "0o700"

    target_db = tmp_path / "dst" / "data" / "warta.db"
    restored_config = write_config(tmp_path / "dst.toml", database=f"sqlite:///{target_db}",
                                   media=tmp_path / "dst" / "media")
    assert run(restored_config, "restore", str(backup_dir)) == 0
    out = capsys.readouterr().out
    print(out, file=sys.stderr)
    assert f"at revision {HEAD}; rows as in the backup" in out

    source = create_engine(f"sqlite:///{source_db}", poolclass=NullPool)
    restored = create_engine(f"sqlite:///{target_db}", poolclass=NullPool)
    try:
        assert_consistent_copy(source, restored, manifest)
        items = len(table_rows(restored, "items"))
        assert 4 < items < 4 + written  # some, not all, of the writer's items
    finally:
        source.dispose()
        restored.dispose()
    assert media_bytes(tmp_path / "dst" / "media") == media_bytes(tmp_path / "src" / "media")

    # The restored installation works.
    assert run(restored_config, "item", "show", "4") == 0
    shown = capsys.readouterr().out
    assert "Item #4: draft" in shown and shown.count("workflow.add_media  Sari Petugas") == 2

    # Restoring again over data is refused, and --force replaces it.
    assert run(restored_config, "restore", str(backup_dir)) == 1
    assert "holds data" in capsys.readouterr().err
    assert run(restored_config, "restore", "--force", str(backup_dir)) == 0


def test_backup_refusals_and_a_tampered_file(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path / "src.toml", database=f"sqlite:///{tmp_path}/src.db",
                          media=tmp_path / "src-media")
    assert run(config, "db", "upgrade") == 0
    context = Context(load_settings(config))
    fill(context)
    context.close()
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "x").write_text("x")
    capsys.readouterr()
    assert run(config, "backup", str(occupied)) == 1
    assert "exists and is not empty" in capsys.readouterr().err

    good = tmp_path / "good"
    assert run(config, "backup", str(good)) == 0
    assert run(config, "restore", "--verify-only", str(good)) == 0
    capsys.readouterr()

    tampered = tmp_path / "tampered"
    shutil.copytree(good, tampered)
    victim = sorted((tampered / "media").rglob("*.jpg"))[0]
    data = bytearray(victim.read_bytes())
    data[-10] ^= 0xFF
    victim.write_bytes(bytes(data))
    target = write_config(tmp_path / "dst.toml", database=f"sqlite:///{tmp_path}/dst.db",
                          media=tmp_path / "dst-media")
    assert run(target, "restore", str(tampered)) == 1
    err = capsys.readouterr().err
    relative = victim.relative_to(tampered).as_posix()
    assert f"failed verification: {relative}: sha256 differs from the manifest" in err
    assert not (tmp_path / "dst.db").exists() and not (tmp_path / "dst-media").exists()
    assert run(target, "restore", "--verify-only", str(tampered)) == 1
    assert f"FAIL {relative}: sha256 differs" in capsys.readouterr().out

    extra = tmp_path / "extra"
    shutil.copytree(good, extra)
    (extra / "media" / "ab").mkdir(exist_ok=True)
    (extra / "media" / "ab" / "planted.sh").write_text("#!/bin/sh\n")
    (extra / "warta.db").write_bytes((extra / "warta.db").read_bytes() + b"\0")
    assert run(target, "restore", str(extra)) == 1
    err = capsys.readouterr().err
    assert "warta.db: contents differ from the manifest" in err
    assert "media/ab/planted.sh: not in the manifest" in err

    (good / MANIFEST).unlink()
    assert run(target, "restore", str(good)) == 1
    assert f"no {MANIFEST} in {good}: not a Warta backup" in capsys.readouterr().err

    # A non-empty media directory is refused too, even with an empty database.
    (tmp_path / "dst-media" / "ff").mkdir(parents=True)
    (tmp_path / "dst-media" / "ff" / "old.jpg").write_bytes(b"old")
    fresh = tmp_path / "fresh"
    assert run(config, "backup", str(fresh)) == 0
    capsys.readouterr()
    assert run(target, "restore", str(fresh)) == 1
    assert "media directory" in capsys.readouterr().err and not (tmp_path / "dst.db").exists()


def test_restore_leaves_an_older_backup_at_its_revision(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path}/old.db")
    db.upgrade(engine, "0001")
    engine.dispose()
    old = write_config(tmp_path / "old.toml", database=f"sqlite:///{tmp_path}/old.db",
                       media=tmp_path / "old-media")
    assert run(old, "backup", str(tmp_path / "bk")) == 0
    assert json.loads((tmp_path / "bk" / MANIFEST).read_text())["alembic_revision"] == "0001"
    new = write_config(tmp_path / "new.toml", database=f"sqlite:///{tmp_path}/new.db",
                       media=tmp_path / "new-media")
    capsys.readouterr()
    assert run(new, "restore", str(tmp_path / "bk")) == 0
    out = capsys.readouterr().out
    assert "at revision 0001; rows as in the backup" in out
    assert f"run `warta db upgrade` to bring it from 0001 to {HEAD}" in out
    assert run(new, "db", "upgrade") == 0
    assert f"basis data pada revisi {HEAD}" in capsys.readouterr().out


# --------------------------------------------------------------------------- PostgreSQL


@pytest.fixture
def private_databases() -> Iterator[tuple[str, str]]:
    """Two new, empty databases on the test server: a source and a restore target."""
    base = postgres_url_or_skip()
    missing = [tool for tool in ("pg_dump", "pg_restore") if shutil.which(tool) is None]
    if missing:
        reason = f"{', '.join(missing)} not installed (apt install postgresql-client)"
        if REQUIRE_SERVERS:
            pytest.fail(f"{reason}, and WARTA_REQUIRE_SERVERS=1")
        pytest.skip(reason)
    names = [f"warta_ops_{uuid.uuid4().hex[:10]}_{role}" for role in ("src", "dst")]
    admin = create_engine(base, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        for name in names:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(base)
        yield (url.set(database=names[0]).render_as_string(hide_password=False),
               url.set(database=names[1]).render_as_string(hide_password=False))
    finally:
        with admin.connect() as connection:
            for name in names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.postgres
def test_postgres_backup_while_writing_then_restore(
    tmp_path: Path, private_databases: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    source_url, target_url = private_databases
    config = write_config(tmp_path / "src.toml", database=source_url,
                          media=tmp_path / "src-media")
    assert run(config, "db", "upgrade") == 0
    settings = load_settings(config)
    context = Context(settings)
    office = fill(context)
    context.close()

    backup_dir = tmp_path / "bk"
    written, out = backup_while_writing(config, settings, office, backup_dir, capsys)
    assert f"database  postgresql at revision {HEAD}: warta.pgdump" in out
    manifest = json.loads((backup_dir / MANIFEST).read_text())
    assert manifest["database_kind"] == "postgresql" and manifest["file_count"] == 4

    target = write_config(tmp_path / "dst.toml", database=target_url,
                          media=tmp_path / "dst-media")
    assert run(target, "db", "upgrade") == 0  # a migrated but unused database is "empty"
    assert run(target, "restore", str(backup_dir)) == 0
    assert f"at revision {HEAD}; rows as in the backup" in capsys.readouterr().out

    source = db.make_engine(source_url, poolclass=NullPool)
    restored = db.make_engine(target_url, poolclass=NullPool)
    try:
        assert_consistent_copy(source, restored, manifest)
        assert 4 < len(table_rows(restored, "items")) < 4 + written
    finally:
        source.dispose()
        restored.dispose()
    assert media_bytes(tmp_path / "dst-media") == media_bytes(tmp_path / "src-media")

    # Sequences came along (pg_dump reads them outside the snapshot, so they may be ahead,
    # never behind): the restored office goes on numbering after the copy.
    restored_context = Context(load_settings(target))
    try:
        last = max(row[0] for row in table_rows(restored_context.engine, "items"))
        with restored_context.session() as session:
            created = restored_context.workflow.create_draft(
                session, office.officer, START, description="setelah pemulihan")
            assert created.id > last
    finally:
        restored_context.close()

    assert run(target, "restore", str(backup_dir)) == 1
    assert "holds data" in capsys.readouterr().err
    assert run(target, "restore", "--force", str(backup_dir)) == 0


def test_pg_dump_missing_is_refused_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    config = write_config(tmp_path / "c.toml",
                          database="postgresql+psycopg://warta:pw-secret-1@127.0.0.1:9/warta",
                          media=tmp_path / "media")
    assert run(config, "backup", str(tmp_path / "bk")) == 1
    err = capsys.readouterr().err
    assert "pg_dump is not installed: install postgresql-client" in err
    assert not (tmp_path / "bk").exists()
    assert os.environ["PATH"] == str(tmp_path / "empty-bin")


def test_an_unreachable_database_is_a_clear_refusal(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path / "c.toml",
                          database="postgresql+psycopg://warta:pw-secret-2@127.0.0.1:9/warta",
                          media=tmp_path / "media")
    assert run(config, "backup", str(tmp_path / "bk")) == 1
    err = capsys.readouterr().err
    assert "pw-secret-2" not in err and "Traceback" not in err
    if shutil.which("pg_dump"):
        assert err.startswith("warta: backup failed: OperationalError: connection failed:")
    assert not (tmp_path / "bk").exists()
