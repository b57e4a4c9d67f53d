"""Operating Warta: `warta doctor`, `warta backup` / `warta restore`, structured logs.

Doctor runs against the Telegram Bot API double (a subprocess, `python -m telesim`),
backups against SQLite while a writer keeps writing, and against PostgreSQL in private
databases made for the test.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from PIL import Image
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from telesim import DEFAULT_TOKEN
from tests.conftest import REQUIRE_SERVERS, START, Office, postgres_url_or_skip
from tests.flow import item_in
from tests.wordpress_site import (  # noqa: F401  (fixtures)
    WordPressSite,
    _loopback_without_proxy,
    wordpress_server,
    wordpress_site,
)
from warta.cli import main
from warta.ops import MANIFEST
from workflow import db, logs
from workflow.actions import NewMedia
from workflow.config import Settings, TelegramSettings, WebsiteSettings, load_settings
from workflow.context import Context
from workflow.media import MediaStore
from workflow.models import Status

HEAD = db.head_revision(db.make_engine("sqlite://"))
WEBSITE_PASSWORD = "abcd EFGH ijkl MNOP qrst UVWX"  # WordPress Application Password shape


# --------------------------------------------------------------------------- fixtures


class Double(NamedTuple):
    url: str
    token: str


@pytest.fixture(scope="module")
def double() -> Iterator[Double]:
    """The Bot API double as its own process (doctor runs its own event loop)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "telesim", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        assert match, f"the double did not start: {line!r}"
        yield Double(match.group(1), DEFAULT_TOKEN)
    finally:
        process.terminate()
        process.wait(timeout=10)


def write_config(path: Path, *, database: str, media: Path, double: Double | None = None,
                 timezone: str = "Asia/Jakarta", adapter: str = "none") -> Path:
    api = double.url if double else "http://127.0.0.1:9"
    path.write_text(
        "[office]\n"
        'name = "Kantor Uji"\n'
        f'timezone = "{timezone}"\n'
        "[telegram]\n"
        f'api_base_url = "{api}/bot"\n'
        f'api_file_url = "{api}/file/bot"\n'
        "[database]\n"
        f'url = "{database}"\n'
        "[media]\n"
        f'dir = "{media}"\n'
        "[website]\n"
        f'adapter = "{adapter}"\n'
    )
    return path


def run(config: Path, *args: str) -> int:
    return main(["--config", str(config), *args])


@pytest.fixture
def token_env(monkeypatch: pytest.MonkeyPatch, double: Double) -> str:
    monkeypatch.setenv("WARTA_TELEGRAM_TOKEN", double.token)
    monkeypatch.setenv("WARTA_WEBSITE_PASSWORD", WEBSITE_PASSWORD)
    return double.token


# --------------------------------------------------------------------------- doctor


def test_doctor_all_ok(tmp_path: Path, double: Double, token_env: str,
                       capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path / "config.toml", database=f"sqlite:///{tmp_path}/w.db",
                          media=tmp_path / "media", double=double)
    assert run(config, "db", "upgrade") == 0
    capsys.readouterr()
    assert run(config, "doctor") == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "OK   config", "OK   database", "OK   media", "OK   telegram",
        "OK   telegram mode", "SKIP website", "OK   calendar",
    ]
    assert f"OK   config: {config}" in out
    assert f"OK   database: sqlite:///{tmp_path}/w.db at revision {HEAD} (head)" in out
    assert f"OK   media: {tmp_path}/media does not exist yet" in out
    assert f"OK   telegram: @warta_test_bot (id 123456789) via {double.url}/bot" in out
    assert "OK   calendar: Asia/Jakarta, now " in out
    assert re.search(r"next holiday \d{4}-\d\d-\d\d \S", out)
    assert "cuti bersama 2026: " in out  # the machine's clock; the data covers 2026-2027
    assert token_env not in out and token_env.split(":")[1] not in out
    print(out, file=sys.stderr)  # the sample in the test log


def test_doctor_failures_each_with_a_fix(tmp_path: Path, double: Double,
                                         monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    wrong = "123456789:WRONG-token-that-the-double-refuses"
    monkeypatch.setenv("WARTA_TELEGRAM_TOKEN", wrong)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    sqlite3.connect(tmp_path / "w.db").close()  # exists, never migrated
    config = write_config(tmp_path / "config.toml", database=f"sqlite:///{tmp_path}/w.db",
                          media=blocker / "media", double=double)
    assert run(config, "doctor") == 1
    out = capsys.readouterr().out
    print(out, file=sys.stderr)
    assert (f"FAIL database: sqlite:///{tmp_path}/w.db at revision none, expected {HEAD} "
            "— run `warta db upgrade`") in out
    assert (f"FAIL media: {blocker}/media cannot be created: {blocker} is not a directory "
            "— create") in out
    assert ("FAIL telegram: getMe refused the token — set WARTA_TELEGRAM_TOKEN or "
            "[telegram] token") in out
    assert wrong not in out and wrong.split(":")[1] not in out
    assert all(" — " in line for line in out.splitlines() if line.startswith("FAIL"))

    monkeypatch.setenv("WARTA_TELEGRAM_TOKEN", "")
    (tmp_path / "w.db").unlink()
    assert run(config, "doctor") == 1
    out = capsys.readouterr().out
    assert ("FAIL telegram: no bot token — set WARTA_TELEGRAM_TOKEN or [telegram] token"
            in out)
    assert "FAIL database: " in out and "no database file" in out


def test_doctor_unknown_time_zone_is_a_config_error(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path / "config.toml", database=f"sqlite:///{tmp_path}/w.db",
                          media=tmp_path / "media", timezone="Asia/Atlantis")
    assert run(config, "doctor") == 2
    assert "office.timezone: unknown time zone 'Asia/Atlantis'" in capsys.readouterr().err


def test_doctor_masks_the_database_password_and_website_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "hunter2-database-secret"
    monkeypatch.setenv("WARTA_TELEGRAM_TOKEN", "")
    monkeypatch.setenv("WARTA_WEBSITE_PASSWORD", WEBSITE_PASSWORD)
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    config = write_config(tmp_path / "config.toml",
                          database=f"postgresql+psycopg://warta:{secret}@127.0.0.1:9/warta",
                          media=tmp_path / "media", adapter="wordpress")
    assert run(config, "doctor") == 1
    out = capsys.readouterr().out
    print(out, file=sys.stderr)
    assert ("FAIL database: cannot connect to postgresql+psycopg://warta:***@127.0.0.1:9/warta"
            in out)
    assert "FAIL website: website.username: required for the wordpress adapter" in out
    assert secret not in out and WEBSITE_PASSWORD not in out


def test_doctor_warns_about_secrets_in_a_world_readable_file(
    tmp_path: Path, double: Double, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("WARTA_TELEGRAM_TOKEN", raising=False)
    config = write_config(tmp_path / "config.toml", database=f"sqlite:///{tmp_path}/w.db",
                          media=tmp_path / "media", double=double)
    config.write_text(config.read_text().replace(
        "[telegram]\n", f'[telegram]\ntoken = "{double.token}"\n'))
    config.chmod(0o644)
    assert run(config, "db", "upgrade") == 0
    capsys.readouterr()
    assert run(config, "doctor") == 0  # a warning is not a failure
    out = capsys.readouterr().out
    assert (f"WARN config: {config} (office 'Kantor Uji'); it holds telegram.token and anyone "
            f"on this machine can read it — chmod o-r {config}") in out
    assert "OK   telegram: @warta_test_bot" in out
    assert double.token not in out


def test_doctor_describes_webhook_mode(tmp_path: Path, double: Double, token_env: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path / "config.toml", database=f"sqlite:///{tmp_path}/w.db",
                          media=tmp_path / "media", double=double)
    text = config.read_text()
    config.write_text(text.replace(
        "[telegram]\n", '[telegram]\nwebhook_url = "https://warta.example.go.id/telegram"\n'))
    assert run(config, "db", "upgrade") == 0
    capsys.readouterr()
    assert run(config, "doctor") == 0
    assert ("OK   telegram mode: webhook https://warta.example.go.id/telegram, served on "
            "http://127.0.0.1:8443/telegram (health check on /healthz), secret derived from "
            "the token") in capsys.readouterr().out
    config.write_text(text.replace(
        "[telegram]\n", '[telegram]\nwebhook_url = "http://warta.example.go.id/telegram"\n'))
    assert run(config, "doctor") == 1
    assert "— Telegram only calls https:// webhooks" in capsys.readouterr().out


# --------------------------------------------------------------------------- logs


def log_settings() -> Settings:
    return Settings(
        telegram=TelegramSettings(token=DEFAULT_TOKEN, webhook_secret="hook-secret-123"),
        website=WebsiteSettings(username="editor", password=WEBSITE_PASSWORD),
    )


@pytest.fixture
def log_stream() -> Iterator[Callable[..., io.StringIO]]:
    handlers: list[logging.Handler] = []

    def install(**options: Any) -> io.StringIO:
        stream = io.StringIO()
        handlers.append(logs.setup_logging(log_settings(), stream=stream, **options))
        return stream

    yield install
    for handler in handlers:
        logs.remove_logging(handler)


def test_logs_never_show_secrets(log_stream: Callable[..., io.StringIO]) -> None:
    from telegram.error import InvalidToken

    stream = log_stream(json_lines=False)
    token, secret_part = DEFAULT_TOKEN, DEFAULT_TOKEN.split(":")[1]
    log = logging.getLogger("warta.bot")
    url = f"http://127.0.0.1:1/bot{token}/getUpdates"
    logging.getLogger("httpx").info('HTTP Request: POST %s "HTTP/1.1 200 OK"', url)
    try:
        try:
            raise ConnectionError(f"cannot reach {url}")
        except ConnectionError as error:
            # What PTB's Bot.initialize raises: the token inside the message.
            raise InvalidToken(f"The token `{token}` was rejected by the server.") from error
    except InvalidToken:
        log.exception("update failed for %s", secret_part, extra={"item": 12, "actor": 1001})
    log.warning("wordpress answered for %s", WEBSITE_PASSWORD.replace(" ", ""))
    log.info("webhook secret %s", "hook-secret-123", extra={"header": f"Bearer {token}"})
    with logs.bind(item=7, actor=2001):
        log.info("approved")
    out = stream.getvalue()
    print(out, file=sys.stderr)
    lines = out.splitlines()
    assert len(lines) == 4  # one line per event (httpx INFO is not written at all)
    for secret in (token, secret_part, WEBSITE_PASSWORD, WEBSITE_PASSWORD.replace(" ", ""),
                   "hook-secret-123"):
        assert secret not in out
    first = lines[0]
    assert first.startswith("ts=") and " level=error logger=warta.bot item=12 actor=1001 " in first
    assert 'msg="update failed for ***"' in first
    assert "The token `***` was rejected" in first
    assert "cannot reach http://127.0.0.1:1/bot***/getUpdates" in first
    assert "Traceback" in first and "\\n" in first
    assert 'header="Bearer ***"' in lines[2]
    assert " item=7 actor=2001 msg=approved" in lines[3]


def test_the_derived_webhook_secret_is_redacted_too() -> None:
    from workflow.config import derived_secret

    settings = Settings(telegram=TelegramSettings(token=DEFAULT_TOKEN))
    redactor = logs.RedactSecrets(logs.secrets_of(settings))
    assert redactor.redact(f"X-Telegram-Bot-Api-Secret-Token: {derived_secret(DEFAULT_TOKEN)}") \
        == "X-Telegram-Bot-Api-Secret-Token: ***"


def test_logs_as_json_lines(log_stream: Callable[..., io.StringIO]) -> None:
    stream = log_stream(json_lines=True)
    with logs.bind(actor=1001):
        logging.getLogger("publisher.worker").error(
            "publish %s failed: %s", "warta-3", f"401 for {WEBSITE_PASSWORD}", extra={"item_id": 3})
    event = json.loads(stream.getvalue())
    assert event["level"] == "error" and event["logger"] == "publisher.worker"
    assert event["item"] == 3 and event["actor"] == 1001
    assert event["msg"] == "publish warta-3 failed: 401 for ***"


def test_run_sets_up_structured_logging(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path / "config.toml", database=f"sqlite:///{tmp_path}/w.db",
                          media=tmp_path / "media")
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        assert run(config, "run") == 1  # not migrated: refused before the bot starts
        ours = [h for h in root.handlers if h not in before]
        assert len(ours) == 1 and isinstance(ours[0].formatter, logs.StructuredFormatter)
        assert any(isinstance(f, logs.RedactSecrets) for f in ours[0].filters)
        assert logging.getLogger("httpx").level == logging.WARNING
    finally:
        for handler in [h for h in root.handlers if h not in before]:
            logs.remove_logging(handler)
    assert "warta db upgrade" in capsys.readouterr().err


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
    assert f"database is at revision {HEAD}" in capsys.readouterr().out


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


# --------------------------------------------------------------------------- website


@pytest.mark.wordpress
def test_doctor_checks_the_website_credentials(
    tmp_path: Path, double: Double, token_env: str, monkeypatch: pytest.MonkeyPatch,
    wordpress_site: WordPressSite,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, user, password = wordpress_site
    config = write_config(tmp_path / "config.toml", database=f"sqlite:///{tmp_path}/w.db",
                          media=tmp_path / "media", double=double, adapter="wordpress")
    config.write_text(config.read_text() + f'base_url = "{url}"\nusername = "{user}"\n')
    assert run(config, "db", "upgrade") == 0
    monkeypatch.setenv("WARTA_WEBSITE_PASSWORD", password)
    capsys.readouterr()
    assert run(config, "doctor") == 0
    out = capsys.readouterr().out
    assert f"OK   website: wordpress {url} as {user!r}: authenticated GET answered" in out
    assert password not in out and password.replace(" ", "") not in out

    wrong = "wxyz WXYZ wxyz WXYZ wxyz WXYZ"
    monkeypatch.setenv("WARTA_WEBSITE_PASSWORD", wrong)
    assert run(config, "doctor") == 1
    out = capsys.readouterr().out
    print(out, file=sys.stderr)
    line = next(line for line in out.splitlines() if line.startswith("FAIL website"))
    assert line.startswith(f"FAIL website: wordpress {url}: ")
    assert line.endswith("— check [website] username and the Application Password "
                         "(WARTA_WEBSITE_PASSWORD)")
    assert wrong not in out and wrong.replace(" ", "") not in out


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
