"""Approve → post live: the publish worker against bare REST calls, on the same WordPress.

Run by hand: ``.venv/bin/python -m bench.bench_publish [--runs N] [--photos 5]``.

The site comes from ``WARTA_TEST_WP_URL``/``_USER``/``_PASSWORD`` when set; otherwise
``scripts/wordpress-test-server.sh`` starts a throwaway one (stopped at the end).

Each round, in alternating order so drift hits both alike:

* **warta**: an item with N stored photos (phone-sized JPEGs normalised by ``MediaStore``)
  waiting for approval; the clock runs from the official's ``approve`` call through
  ``PublishWorker.run_once`` (read item, look the post up by key, resolve terms, look up
  media, upload each file with its alt text and caption, create the post) to a 200 from
  the post's public URL; its request count is the adapter's (the public GET not included);
* **bare**: plain ``requests`` doing the minimum for the same result: upload the same N files
  (alt text and caption as query parameters), create the post with the gallery, featured
  image, category and tag (ids known in advance), then GET the public URL (counted).

In the bot the worker polls every ``publisher.interval_seconds`` (default 5 s), which adds
0 to that interval on top of the figures here. One warm-up round of each is not counted.
Nothing is asserted; the figures are printed.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "wordpress-test-server.sh"
TITLE = "Posyandu balita di Desa Sukamaju"
BODY = (
    "Kegiatan posyandu bulanan di Desa Sukamaju: penimbangan balita, imunisasi dan "
    "penyuluhan gizi bersama kader dan bidan desa.\n\nWarga menyambut baik kegiatan ini."
)
CATEGORY = "Kesehatan"
TAG = "posyandu"


@dataclass(frozen=True)
class Site:
    url: str
    user: str
    password: str


class Counting(requests.Session):
    """A session that counts its requests."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        self.count += 1
        return super().request(method, url, *args, **kwargs)


# --- the site ----------------------------------------------------------------------------------


def site_from_env() -> Site | None:
    values = [os.environ.get(f"WARTA_TEST_WP_{name}", "") for name in ("URL", "USER", "PASSWORD")]
    return Site(*values) if all(values) else None


def start_site(data_dir: Path) -> Site:
    done = subprocess.run(
        ["bash", str(SCRIPT), str(data_dir)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"cannot start WordPress: {done.stderr[-2000:]}")
    values = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    return Site(values["WP_URL"], values["WP_USER"], values["WP_PASSWORD"])


def stop_site(data_dir: Path) -> None:
    subprocess.run(["bash", str(SCRIPT), "stop", str(data_dir)], capture_output=True, check=False)


# --- photos and items --------------------------------------------------------------------------


def phone_photo(seed: int) -> bytes:
    """A 4000x3000 JPEG with camera-like noise, as a phone sends it."""
    from PIL import Image, ImageFilter

    size = (4000, 3000)
    noise = Image.effect_noise(size, 30 + seed).filter(ImageFilter.GaussianBlur(1))
    gradient = Image.linear_gradient("L").resize(size)
    image = Image.merge("RGB", (noise, Image.blend(gradient, noise, 0.5), gradient))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


@dataclass
class Bench:
    """A database with an office and N stored photos, and the worker under test."""

    root: Path
    site: Site
    photos: int

    def __post_init__(self) -> None:
        from publisher.wordpress import WordPressAdapter
        from publisher.worker import PublishWorker
        from tests.flow import HARNESS_CHECKLIST
        from workflow import db
        from workflow.actions import Workflow
        from workflow.clock import utc_now
        from workflow.config import PublisherSettings, Settings, working_calendar
        from workflow.deadlines import StageDeadlines
        from workflow.media.storage import MediaStore
        from workflow.models import Role
        from workflow.people import add_person

        engine = db.make_engine(f"sqlite:///{self.root / 'warta.db'}")
        db.upgrade(engine)
        self.sessions = db.session_factory(engine)
        settings = Settings()
        calendar = working_calendar(settings)
        self.workflow = Workflow(StageDeadlines.from_settings(settings.deadlines, calendar),
                                 checklist=HARNESS_CHECKLIST)
        self.store = MediaStore(self.root / "media")
        self.files = [self._store_photo(seed) for seed in range(self.photos)]
        now = utc_now()
        with self.sessions() as session:
            run = uuid.uuid4().int % 10**6 * 10

            def person(offset: int, name: str, role: Role) -> Any:
                return add_person(
                    session,
                    None,
                    now,
                    telegram_id=run + offset,
                    name=name,
                    roles=(role,),
                    section="Bidang Sosial",
                )

            self.officer = person(1, "Petugas", Role.PETUGAS)
            self.editor = person(2, "Editor", Role.EDITOR)
            self.official = person(3, "Pejabat", Role.PEJABAT)
        self.http = Counting()
        site = self.site
        adapter = WordPressAdapter(site.url, site.user, site.password, session=self.http)
        self.worker = PublishWorker(
            self.sessions, self.workflow, adapter, self.store.root, PublisherSettings()
        )

    def _store_photo(self, seed: int) -> Any:
        temp = self.store.new_temp_path()
        temp.write_bytes(phone_photo(seed))
        return self.store.store(temp, "photo", None)

    def item_awaiting_approval(self) -> int:
        """A new item (a fresh id, so a fresh post key) ready for the official."""
        from workflow.actions import Edit, NewMedia
        from workflow.clock import utc_now
        from workflow.models import MediaKind

        wf, now = self.workflow, utc_now()
        with self.sessions() as session:
            item = wf.create_draft(session, self.officer, now, description=BODY)
            for stored in self.files:
                new = NewMedia(
                    MediaKind.PHOTO,
                    stored.sha256,
                    stored.relative_path,
                    stored.mime,
                    stored.size,
                    stored.width,
                    stored.height,
                )
                wf.add_media(session, self.officer, item.id, now, new)
            wf.submit(session, self.officer, item.id, now)
            wf.claim(session, self.editor, item.id, now)
            edit = Edit(title=TITLE, body=BODY, category=CATEGORY, tags=(TAG,))
            wf.edit(session, self.editor, item.id, now, edit)
            wf.forward(session, self.editor, item.id, now)
            return item.id

    def publish_through_warta(self, item_id: int) -> tuple[float, int]:
        """Seconds from approval to the live page, and HTTP requests the worker made."""
        from workflow.clock import utc_now
        from workflow.queries import get_item_unchecked

        self.http.count = 0
        started = time.perf_counter()
        with self.sessions() as session:
            self.workflow.approve(session, self.official, item_id, utc_now())
        result = self.worker.run_once()
        if result.published != 1:
            raise RuntimeError(f"worker did not publish: {result}")
        with self.sessions() as session:
            url = get_item_unchecked(session, item_id).remote_url
        requests.get(url, timeout=60).raise_for_status()
        return time.perf_counter() - started, self.http.count


# --- the bare REST baseline --------------------------------------------------------------------


def term_id(http: requests.Session, site: Site, taxonomy: str, name: str) -> int:
    found = http.get(f"{site.url}/wp-json/wp/v2/{taxonomy}", params={"search": name}, timeout=30)
    for term in found.json():
        if term["name"] == name:
            return int(term["id"])
    created = http.post(f"{site.url}/wp-json/wp/v2/{taxonomy}", json={"name": name}, timeout=30)
    return int(created.json()["id"])


def publish_bare(site: Site, files: list[Path], category: int, tag: int) -> tuple[float, int]:
    """Upload the files, create the post, GET it: seconds and requests."""
    http = Counting()
    http.auth = (site.user, site.password)
    api = f"{site.url}/wp-json/wp/v2"
    started = time.perf_counter()
    uploaded = []
    for index, path in enumerate(files, 1):
        with path.open("rb") as stream:
            response = http.post(
                f"{api}/media",
                params={"alt_text": TITLE, "caption": "Bidang Sosial"},
                data=stream,
                headers={
                    "Content-Type": "image/jpeg",
                    "Content-Disposition": f'attachment; filename="foto-{index}.jpg"',
                },
                timeout=300,
            )
        response.raise_for_status()
        uploaded.append(response.json())
    images = "".join(
        f'<figure class="wp-block-image"><img src="{m["source_url"]}" alt="{TITLE}" '
        f'class="wp-image-{m["id"]}"/></figure>'
        for m in uploaded
    )
    paragraphs = "".join(f"<p>{p}</p>" for p in BODY.split("\n\n"))
    post = http.post(
        f"{api}/posts",
        json={
            "title": TITLE,
            "content": f'{paragraphs}<figure class="wp-block-gallery">{images}</figure>',
            "excerpt": BODY[:150],
            "status": "publish",
            "featured_media": uploaded[0]["id"],
            "categories": [category],
            "tags": [tag],
            "slug": f"bare-{uuid.uuid4().hex[:12]}",
        },
        timeout=60,
    )
    post.raise_for_status()
    http.get(post.json()["link"], timeout=60).raise_for_status()
    return time.perf_counter() - started, http.count


# --- running -----------------------------------------------------------------------------------


def summary(name: str, times: list[float], calls: list[int]) -> str:
    return (
        f"{name:6} median {statistics.median(times):6.3f} s  mean {statistics.mean(times):6.3f}"
        f"  min {min(times):6.3f}  max {max(times):6.3f}  requests {statistics.median(calls):.0f}"
    )


def measure(bench: Bench, site: Site, runs: int) -> None:
    files = [bench.store.open_stored(f.relative_path) for f in bench.files]
    sizes = [path.stat().st_size // 1024 for path in files]
    print(f"site {site.url}; {len(files)} photos, stored sizes {sizes} KiB")
    http = requests.Session()
    http.auth = (site.user, site.password)
    category, tag = term_id(http, site, "categories", CATEGORY), term_id(http, site, "tags", TAG)

    rounds: dict[str, list[tuple[float, int]]] = {"warta": [], "bare": []}
    paths: dict[str, Callable[[], tuple[float, int]]] = {
        "warta": lambda: bench.publish_through_warta(bench.item_awaiting_approval()),
        "bare": lambda: publish_bare(site, files, category, tag),
    }
    for path in paths.values():  # warm-up, not counted
        path()
    for index in range(runs):
        order = ["warta", "bare"] if index % 2 == 0 else ["bare", "warta"]
        for name in order:
            seconds, calls = paths[name]()
            rounds[name].append((seconds, calls))
            print(f"  round {index + 1} {name:5} {seconds:6.3f} s  {calls} requests")
    warta = [s for s, _ in rounds["warta"]]
    bare = [s for s, _ in rounds["bare"]]
    print(summary("warta", warta, [c for _, c in rounds["warta"]]))
    print(summary("bare", bare, [c for _, c in rounds["bare"]]))
    print(
        f"ratio warta/bare (medians): {statistics.median(warta) / statistics.median(bare):.2f}x"
        "  (target <= 1.3x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--photos", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    random.seed(1)
    with tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp:
        root = Path(tmp)
        site = site_from_env()
        started_here = site is None
        if site is None:
            site = start_site(root / "wordpress")
        try:
            measure(Bench(root, site, args.photos), site, args.runs)
        finally:
            if started_here:
                stop_site(root / "wordpress")


if __name__ == "__main__":
    main()
