"""Web pages benchmark: the board and an item's editor with 1,000 open items.

Run by hand::

    .venv/bin/python -m bench.bench_web [--items 1000] [--runs 30] [--rounds 3]
                                        [--database postgres]   # needs WARTA_TEST_PG_URL

The office is made through the workflow (as the bot would): N items, each submitted by an
officer with three photos, a third of them claimed by the editor and a third forwarded to
the officials. The pages are served by the real aiohttp app on loopback; an editor signs in
with a one-time link, then each page is fetched `--runs` times, in `--rounds` rounds.
Printed per page: time to the whole answer (p50, p95 of each round: their median and range;
loopback, so this is the server's time) and the editor page's weight with its stylesheet and
script, against a budget of 150 KB. PostgreSQL runs in a private schema dropped afterwards.
Nothing asserts timings.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from bench.instruments import database_url, percentile, spread
from tests.flow import HARNESS_CHECKLIST
from web.app import make_app
from workflow import logins
from workflow.actions import Edit, NewMedia
from workflow.config import DatabaseSettings, MediaSettings, Settings, WebSettings
from workflow.context import Context
from workflow.models import MediaKind, Role
from workflow.people import add_person

WEIGHT_BUDGET = 150 * 1024


def photo(number: int) -> NewMedia:
    return NewMedia(kind=MediaKind.PHOTO, sha256=f"{number:064x}", stored_path=f"b/{number}.jpg",
                    mime="image/jpeg", size=200_000, width=1200, height=800)


def office(workdir: Path, items: int, url: str) -> tuple[Context, int]:
    """The database at `url` with `items` open items; returns it and an item the editor
    edits."""
    settings = dataclasses.replace(
        Settings(), database=DatabaseSettings(url=url),
        media=MediaSettings(dir=str(workdir / "media")), web=WebSettings(listen="127.0.0.1:0"),
        checklist=HARNESS_CHECKLIST)
    warta = Context(settings)
    warta.upgrade()
    now, wf = warta.now() - timedelta(hours=2), warta.workflow
    with warta.sessions() as session:
        officer = add_person(session, None, now, telegram_id=1, name="Sari", roles=[Role.PETUGAS],
                             section="Bidang Sosial")
        editor = add_person(session, None, now, telegram_id=2, name="Eko", roles=[Role.EDITOR])
        edited = 0
        for number in range(items):
            item = wf.create_draft(session, officer, now, description=f"Kegiatan {number}")
            for index in range(3):
                wf.add_media(session, officer, item.id, now, photo(number * 3 + index))
            wf.submit(session, officer, item.id, now)
            if number % 3:
                wf.claim(session, editor, item.id, now)
                wf.edit(session, editor, item.id, now,
                        Edit(title=f"Berita {number}", body="Isi berita kegiatan. " * 40))
            if number % 3 == 2:
                wf.forward(session, editor, item.id, now)
            elif number % 3 == 1:
                edited = item.id  # stays in editing: its page is the editor's form
    return warta, edited


async def measure(warta: Context, item_id: int, runs: int, rounds: int) -> None:
    with warta.sessions() as session:
        from workflow.people import find_by_telegram_id

        editor = find_by_telegram_id(session, 2)
        assert editor is not None
        token = logins.issue_link(session, editor, warta.now())
    async with TestClient(TestServer(make_app(warta, "bench-token"))) as client:
        signed = await client.get(f"/login/{token}")
        assert signed.status == 200, signed.status
        for name, path in (("board", "/"), ("editor", f"/items/{item_id}")):
            p50s, p95s = [], []
            for _ in range(rounds):
                seconds = []
                for _ in range(runs):
                    started = time.perf_counter()
                    answer = await client.get(path)
                    body = await answer.read()
                    seconds.append((time.perf_counter() - started) * 1000)
                    assert answer.status == 200, (path, answer.status)
                p50s.append(percentile(seconds, 0.5))
                p95s.append(percentile(seconds, 0.95))
            print(f"{name:7s} p50 {spread(p50s).show(1)} ms   p95 {spread(p95s).show(1)} ms   "
                  f"html {len(body):,} B")
        page = await (await client.get(f"/items/{item_id}")).read()
        css = await (await client.get("/static/warta.css")).read()
        js = await (await client.get("/static/warta.js")).read()
    weight = len(page) + len(css) + len(js)
    verdict = "within" if weight <= WEIGHT_BUDGET else "OVER"
    print(f"editor page weight: html {len(page):,} + css {len(css):,} + js {len(js):,} = "
          f"{weight:,} B ({verdict} the {WEIGHT_BUDGET // 1024} KB budget; photos load apart)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir, \
            database_url(args.database, Path(workdir)) as url:
        started = time.perf_counter()
        warta, item_id = office(Path(workdir), args.items, url)
        print(f"{args.items} open items made in {time.perf_counter() - started:.1f} s "
              f"({args.database})")
        try:
            asyncio.run(measure(warta, item_id, args.runs, args.rounds))
        finally:
            warta.close()


if __name__ == "__main__":
    main()
