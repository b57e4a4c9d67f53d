"""The `warta` command as an operator uses it: schema, people, items."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import pytest

from telesim import DEFAULT_TOKEN, BotApiDouble
from tests.flow import harness_checklist_toml, item_in
from warta.cli import main
from workflow import invitations
from workflow.config import load_settings
from workflow.context import Context
from workflow.models import JoinRequest, Status


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[office]\nname = "Kantor Uji"\n[database]\nurl = "sqlite:///{tmp_path}/w.db"\n'
                    + harness_checklist_toml())
    return path


def run(config: Path, *args: str) -> int:
    return main(["--config", str(config), *args])


def test_people_lifecycle(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, "user", "list") == 1
    assert "warta db upgrade" in capsys.readouterr().err
    assert run(config, "db", "upgrade") == 0
    assert run(config, "user", "add", "--telegram-id", "111", "--name", "Sari",
               "--role", "petugas", "--section", "Bidang Sosial") == 0
    assert run(config, "user", "add", "--telegram-id", "222", "--name", "Eko",
               "--role", "editor,admin", "--language", "en") == 0
    capsys.readouterr()
    assert run(config, "user", "add", "--telegram-id", "111", "--name", "Lagi",
               "--role", "editor") == 1
    assert "already registered" in capsys.readouterr().err
    assert run(config, "user", "add", "--telegram-id", "333", "--name", "X",
               "--role", "raja") == 1
    assert "unknown role 'raja'" in capsys.readouterr().err
    assert run(config, "user", "set-role", "--telegram-id", "111", "--role", "petugas",
               "--role", "pejabat") == 0
    assert run(config, "user", "deactivate", "--telegram-id", "222") == 0
    assert run(config, "user", "deactivate", "--telegram-id", "999") == 1
    capsys.readouterr()
    assert run(config, "user", "list") == 0
    listing = capsys.readouterr().out
    assert "Sari [Bidang Sosial]  roles=pejabat,petugas  aktif" in listing
    assert "Eko  roles=admin,editor  nonaktif" in listing


def test_item_list_and_show(config: Path, capsys: pytest.CaptureFixture[str],
                            office_factory: object) -> None:
    assert run(config, "db", "upgrade") == 0
    context = Context(load_settings(config))
    with context.sessions() as session:
        office = office_factory(session)  # type: ignore[operator]
        item = item_in(context.workflow, session, office, Status.REJECTED, office.now)
    context.close()
    capsys.readouterr()
    assert run(config, "item", "list", "--state", "rejected") == 0
    assert f"#{item.id}" in capsys.readouterr().out
    assert run(config, "item", "show", str(item.id)) == 0
    shown = capsys.readouterr().out
    assert "workflow.reject awaiting_approval -> rejected  Pak Joko Pejabat (Tidak layak" in shown
    assert run(config, "item", "show", "999") == 1
    assert "no item 999" in capsys.readouterr().err


def test_console_script_runs(config: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "warta.cli", "--config", str(config), "db",
                           "upgrade"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "basis data pada revisi 0" in done.stdout


def test_the_command_line_speaks_the_office_language(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f'[office]\nname = "Kantor Uji"\nlanguage = "en"\n'
                    f'[database]\nurl = "sqlite:///{tmp_path}/w.db"\n')
    assert run(path, "db", "upgrade") == 0
    assert run(path, "user", "list") == 0
    revision, empty = capsys.readouterr().out.splitlines()
    assert revision.startswith("database is at revision 0")
    assert empty == "no people registered yet: warta user add --telegram-id N --name ... --role ..."


def test_demo_plays_an_office_day(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "bot → Pak Joko: ✅ #1 disetujui" in out
    assert "workflow.mark_published approved -> published  sistem" in out
    assert "workflow.reject awaiting_approval -> rejected" in out
    assert "Di situs uji: 1 berita terbit" in out


def invite_config(tmp_path: Path, telegram: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[office]\nname = "Kantor Uji"\n[telegram]\n{telegram}\n'
                    f'[database]\nurl = "sqlite:///{tmp_path}/w.db"\n')
    assert run(path, "db", "upgrade") == 0
    return path


def test_invite_prints_a_link_that_lets_a_newcomer_ask(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = invite_config(tmp_path, 'bot_username = "@kantor_bot"')
    capsys.readouterr()
    assert run(config, "invite", "--role", "petugas", "--section", "Bidang Sosial",
               "--uses", "3", "--valid", "2d") == 0
    out = capsys.readouterr().out
    assert "undangan untuk petugas · bidang Bidang Sosial" in out and "untuk 3 orang" in out
    match = re.search(r"https://t\.me/kantor_bot\?start=([A-Za-z0-9_-]+)", out)
    assert match, out
    context = Context(load_settings(config))
    with context.sessions() as session:
        arrival = invitations.arrive(session, context.now(), token=match.group(1),
                                     telegram_id=7001, name="Dewi")
        assert session.get(JoinRequest, arrival.request.id) is not None
        assert arrival.request.invitation.uses_left == 2
    context.close()
    assert run(config, "invite", "--role", "raja") == 1
    assert "unknown role 'raja'" in capsys.readouterr().err
    assert run(config, "invite", "--role", "editor", "--valid", "100d") == 1
    assert "5 minutes to 90 days" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run(config, "invite", "--role", "editor", "--valid", "soon")
    assert "not a duration" in capsys.readouterr().err


async def test_invite_asks_telegram_for_the_bot_username(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async with BotApiDouble(bot_username="dinsos_bot") as double:
        config = invite_config(tmp_path, f'token = "{DEFAULT_TOKEN}"\n'
                                         f'api_base_url = "{double.base_url}"')
        capsys.readouterr()
        # The command line runs its own event loop, so it runs beside the double's.
        assert await asyncio.to_thread(run, config, "invite", "--role", "editor") == 0
    assert "https://t.me/dinsos_bot?start=" in capsys.readouterr().out


def test_invite_without_a_username_prints_the_start_token(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = invite_config(tmp_path, 'api_base_url = "http://127.0.0.1:9/bot"')
    capsys.readouterr()
    assert run(config, "invite", "--role", "editor") == 0
    out = capsys.readouterr().out
    assert "t.me/" not in out and "bot_username" in out
    assert re.search(r"/start [A-Za-z0-9_-]{20,}", out), out


def test_delegate_list_and_revoke(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, "db", "upgrade") == 0
    assert run(config, "user", "add", "--telegram-id", "333", "--name", "Pak Joko",
               "--role", "pejabat") == 0
    assert run(config, "user", "add", "--telegram-id", "444", "--name", "Bu Rini",
               "--role", "editor") == 0
    capsys.readouterr()
    assert run(config, "delegate", "--for", "333", "--to-person", "444") == 2
    assert "--to-person" in capsys.readouterr().err
    assert run(config, "delegate", "--for", "333", "--to-person", "333",
               "--from", "2030-01-01", "--to", "2030-01-05") == 1
    assert run(config, "delegate", "--for", "333", "--to-person", "444",
               "--from", "2030-01-01", "--to", "2030-01-05", "--title", "plh") == 0
    assert "Bu Rini Plh. untuk Pak Joko" in capsys.readouterr().out
    assert run(config, "delegate", "--for", "333", "--to-person", "444",
               "--from", "2030-01-04", "--to", "2030-01-09") == 1  # overlaps
    assert run(config, "delegate", "--list") == 0
    assert "2030-01-01" in capsys.readouterr().out
    assert run(config, "delegate", "--revoke", "1") == 0
    assert run(config, "delegate", "--list") == 0
    assert "tidak ada Plt/Plh" in capsys.readouterr().out
