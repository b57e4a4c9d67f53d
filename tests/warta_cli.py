"""Running the `warta` command line in a test, against a config file written for the test."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from tests.flow import harness_checklist_toml
from warta.cli import main
from workflow import db

HEAD = db.head_revision(db.make_engine("sqlite://"))
WEBSITE_PASSWORD = "abcd EFGH ijkl MNOP qrst UVWX"  # WordPress Application Password shape


class Double(NamedTuple):
    url: str
    token: str


def write_config(path: Path, *, database: str, media: Path, double: Double | None = None,
                 timezone: str = "Asia/Jakarta", adapter: str = "none") -> Path:
    api = double.url if double else "http://127.0.0.1:9"
    path.write_text(
        "[office]\n"
        'name = "Kantor Uji"\n'
        f'timezone = "{timezone}"\n'
        # Tests append keys of the last table ([website]); this one goes before it.
        + harness_checklist_toml() +
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
