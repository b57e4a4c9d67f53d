"""Configuration: the example loads and documents every key; bad files stop with exit 2."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from warta.cli import main
from workflow.config import ConfigError, Settings, load_settings

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


def test_example_loads_and_matches_spec_names() -> None:
    settings = load_settings(EXAMPLE, environ={})
    assert settings.office.timezone == "Asia/Jakarta"
    assert settings.database.url == "sqlite:///warta.db"
    assert settings.website.post_status == "publish"


def test_example_documents_every_key() -> None:
    documented = tomllib.loads(EXAMPLE.read_text())
    for section in dataclasses.fields(Settings):
        if section.name == "source":
            continue
        keys = {f.name for f in dataclasses.fields(getattr(Settings(), section.name))}
        assert set(documented[section.name]) == keys, section.name


def test_secrets_come_from_environment_and_stay_out_of_repr(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[office]\nname = "Kantor"\n[telegram]\ntoken = "from-file"\n')
    env = {"WARTA_TELEGRAM_TOKEN": "123:SECRET", "WARTA_WEBSITE_PASSWORD": "abcd efgh"}
    settings = load_settings(path, environ=env)
    assert settings.telegram.token == "123:SECRET"
    assert settings.website.password == "abcd efgh"
    assert "SECRET" not in repr(settings) and "abcd" not in repr(settings)


BAD = {
    "not toml": ("[office\nname=1", "c.toml"),
    "missing required": ("[telegram]\ntoken='x'\n", "office.name"),
    "unknown section": ("[office]\nname='K'\n[kantor]\nx=1\n", "kantor"),
    "unknown key": ("[office]\nname='K'\ncolour='red'\n", "office.colour"),
    "wrong type str": ("[office]\nname=5\n", "office.name"),
    "wrong type int": ("[office]\nname='K'\n[telegram]\nit_team_chat_id='abc'\n",
                       "telegram.it_team_chat_id"),
    "wrong type bool": ("[office]\nname='K'\n[telegram]\nlocal_mode='yes'\n",
                        "telegram.local_mode"),
    "section not table": ("office = 3\n", "office"),
    "bad timezone": ("[office]\nname='K'\ntimezone='Mars/Base'\n", "office.timezone"),
    "bad language": ("[office]\nname='K'\nlanguage='fr'\n", "office.language"),
    "bad adapter": ("[office]\nname='K'\n[website]\nadapter='ftp'\n", "website.adapter"),
    "bad status": ("[office]\nname='K'\n[website]\npost_status='live'\n",
                   "website.post_status"),
    "negative size": ("[office]\nname='K'\n[media]\nmax_photo_mb=-1\n", "media.max_photo_mb"),
    "bad quality": ("[office]\nname='K'\n[media]\njpeg_quality=100\n", "media.jpeg_quality"),
    "bad deadline": ("[office]\nname='K'\n[deadlines]\nsubmitted='soon'\n",
                     "deadlines.submitted"),
    "bad hours": ("[office]\nname='K'\n[hours]\nfri='07:30-25:00'\n", "hours.fri"),
    "bad holiday": ("[office]\nname='K'\n[holidays]\nextra=['17 Agustus']\n", "holidays.extra"),
    "bad digest time": ("[office]\nname='K'\n[alerts]\ndigest_time='pagi'\n",
                        "alerts.digest_time"),
    "empty database": ("[office]\nname='K'\n[database]\nurl=''\n", "database.url"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_config_names_the_key(case: str, tmp_path: Path) -> None:
    text, key = BAD[case]
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert caught.value.key.endswith(key)


@pytest.mark.parametrize("case", ["unknown key", "bad hours", "missing required"])
def test_bad_config_exits_2_with_one_line(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, key = BAD[case]
    path = tmp_path / "c.toml"
    path.write_text(text)
    assert main(["--config", str(path), "user", "list"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and key in err


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(tmp_path / "nope.toml"), "user", "list"]) == 2
    assert "file not found" in capsys.readouterr().err
