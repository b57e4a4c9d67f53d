"""`warta doctor`: every check's line and fix, with secrets masked.

Doctor runs against the Telegram Bot API double (a subprocess, `python -m telesim`).
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from telesim import DEFAULT_TOKEN
from tests.warta_cli import HEAD, WEBSITE_PASSWORD, Double, run, write_config
from tests.wordpress_site import (  # noqa: F401  (fixtures)
    WordPressSite,
    _loopback_without_proxy,
    wordpress_server,
    wordpress_site,
)

# --------------------------------------------------------------------------- fixtures


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

