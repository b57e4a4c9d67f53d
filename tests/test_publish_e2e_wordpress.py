"""Approve → live post, through the publish worker and the WordPress adapter, on a real
WordPress (tests/wordpress_site.py), with the workflow on SQLite and PostgreSQL.

Every check reads the site back over its REST API or the public page.

Item ids restart at 1 in each test database, while the WordPress (one per test session, or
a long-lived one from WARTA_TEST_WP_*) keeps every post it was given, and the adapter finds
posts by the key ``warta-<id>``. So each test starts its items at a random high id.
"""

from __future__ import annotations

import hashlib
import html
import random
import re
import socket
import uuid
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from publisher.factory import make_adapter
from publisher.wordpress import WordPressAdapter, media_slug, post_slug
from publisher.worker import DEFAULT_LEASE, PublishWorker, WorkerResult
from tests.conftest import TEST_TOKEN, Clock, Office
from tests.test_publisher_worker import (
    SETTINGS,
    alerts,
    approved_item,
    config_alerts,
    item_state,
    publish_row,
    worker_for,
)
from tests.wordpress_site import (  # noqa: F401  (fixtures)
    WordPressSite,
    _loopback_without_proxy,
    wordpress_server,
    wordpress_site,
)
from workflow.actions import Workflow, publish_key
from workflow.config import Settings, WebsiteSettings
from workflow.media.storage import MediaStore
from workflow.models import Item, Media, Status

pytestmark = pytest.mark.wordpress


def key(item_id: int) -> str:
    """The website key of an item in a test database (token pinned by conftest)."""
    return publish_key(TEST_TOKEN, item_id)


class WordPressReader:
    """Authenticated reads of what the site now holds."""

    def __init__(self, site: WordPressSite) -> None:
        self.site = site
        self.http = requests.Session()
        self.http.auth = (site.user, site.app_password)

    def get(self, route: str, **params: Any) -> Any:
        response = self.http.get(f"{self.site.url}/wp-json{route}", params=params, timeout=30)
        response.raise_for_status()
        return response.json()

    def post(self, post_id: str | int) -> dict[str, Any]:
        return dict(self.get(f"/wp/v2/posts/{post_id}", context="edit"))

    def posts_for(self, item_id: int) -> list[dict[str, Any]]:
        statuses = "publish,future,draft,pending,private"
        slug = post_slug(key(item_id))
        return list(self.get("/wp/v2/posts", slug=slug, status=statuses, context="edit"))

    def media_for(self, item_id: int, shas: list[str]) -> list[dict[str, Any]]:
        """The item's attachments, duplicates included (WordPress names a second upload
        with the same slug "<slug>-2")."""
        slugs = [
            media_slug(key(item_id), sha) + suffix for sha in shas for suffix in ("", "-2")
        ]
        return list(self.get("/wp/v2/media", slug=",".join(slugs), per_page=100, context="edit"))

    def term_names(self, taxonomy: str, ids: list[int]) -> set[str]:
        return {html.unescape(self.get(f"/wp/v2/{taxonomy}/{i}")["name"]) for i in ids}


@pytest.fixture
def reader(wordpress_site: WordPressSite) -> WordPressReader:  # noqa: F811
    return WordPressReader(wordpress_site)


@pytest.fixture
def store(tmp_path: Any) -> MediaStore:
    return MediaStore(tmp_path / "media")


@pytest.fixture
def fresh_ids(engine: Engine, session: Session, office: Office, clock: Clock) -> int:
    """Makes the next item id a random high number; returns it."""
    start = random.randrange(10**6, 10**9)
    with session.begin():
        if engine.dialect.name == "postgresql":
            session.execute(
                text("SELECT setval(pg_get_serial_sequence('items', 'id'), :n)"), {"n": start}
            )
        else:  # SQLite gives max(id) + 1: a placeholder holds the number
            session.add(
                Item(
                    id=start,
                    state=Status.CANCELLED,
                    officer_id=office.officer.id,
                    tags=[],
                    created_at=clock.now,
                    updated_at=clock.now,
                )
            )
    return start + 1


def wordpress_settings(site: WordPressSite, password: str | None = None) -> Settings:
    return Settings(
        website=WebsiteSettings(
            adapter="wordpress",
            base_url=site.url,
            username=site.user,
            password=password or site.app_password,
        )
    )


def adapter_for(site: WordPressSite, password: str | None = None) -> Any:
    adapter = make_adapter(wordpress_settings(site, password))
    assert isinstance(adapter, WordPressAdapter)
    return adapter


def media_shas(sessions: sessionmaker[Session], item_id: int) -> list[str]:
    with sessions() as session:
        rows = session.scalars(
            select(Media).where(Media.item_id == item_id).order_by(Media.position)
        )
        return [row.sha256 for row in rows]


# --- tests -----------------------------------------------------------------------------------


def test_approved_item_becomes_a_complete_live_post(
    wordpress_site: WordPressSite,  # noqa: F811
    reader: WordPressReader,
    fresh_ids: int,
    sessions: sessionmaker[Session],
    session: Session,
    workflow: Workflow,
    office: Office,
    clock: Clock,
    store: MediaStore,
) -> None:
    tag = f"posyandu-{uuid.uuid4().hex[:6]}"
    caption = (
        "Kegiatan posyandu bulanan di Desa Sukamaju: penimbangan balita, imunisasi dan "
        "penyuluhan gizi <bersama> kader & bidan desa."
    )
    item_id = approved_item(
        workflow,
        session,
        office,
        clock.now,
        store,
        photos=3,
        cover=1,
        documents=("Daftar hadir posyandu.pdf",),
        caption=caption,
        category="Kesehatan Masyarakat",
        tags=("balita", tag),
    )
    worker = worker_for(sessions, workflow, adapter_for(wordpress_site), store, clock)

    assert worker.run_once() == WorkerResult(published=1)

    item = item_state(sessions, item_id)
    assert item.status is Status.PUBLISHED
    post = reader.post(item.remote_id)
    assert post["link"] == item.remote_url and post["status"] == "publish"
    assert html.unescape(post["title"]["raw"]) == "Posyandu balita di Desa Sukamaju"
    content = post["content"]["rendered"]
    assert "&lt;bersama&gt; kader &amp; bidan desa." in content  # the caption, as text
    assert "penimbangan balita" in post["excerpt"]["rendered"]
    shas = media_shas(sessions, item_id)
    media = {m["slug"]: m for m in reader.media_for(item_id, shas)}
    assert len(media) == 4  # three photos and the PDF, each uploaded once
    remote = [media[media_slug(key(item_id), sha)] for sha in shas]
    # Featured image: the cover the editor chose (the second photo).
    assert post["featured_media"] == remote[1]["id"]
    # Gallery: the three photos in order, with the title as alt text.
    gallery = content[content.index("wp-block-gallery") :]
    assert [int(i) for i in re.findall(r'class="wp-image-(\d+)"', gallery)] == [
        m["id"] for m in remote[:3]
    ]
    assert remote[0]["alt_text"] == "Posyandu balita di Desa Sukamaju"
    assert "Bidang Sosial, 24/11/2026</figcaption>" in gallery
    # The document: linked under its name, the same bytes as stored.
    link = f'<a href="{remote[3]["source_url"]}">Daftar hadir posyandu.pdf</a>'
    assert link in content
    pdf_bytes = requests.get(remote[3]["source_url"], timeout=30).content
    assert hashlib.sha256(pdf_bytes).hexdigest() == shas[3]
    assert reader.term_names("categories", post["categories"]) == {"Kesehatan Masyarakat"}
    assert reader.term_names("tags", post["tags"]) == {"balita", tag}
    # A reader sees the same on the public page.
    page = requests.get(item.remote_url, timeout=30)
    assert page.status_code == 200 and link in page.text
    assert "Posyandu balita di Desa Sukamaju" in page.text


class Killed(BaseException):
    """The process died: not an error the worker could catch and handle."""


class DiesAfterPostCreated(requests.Session):
    """The process dies the moment WordPress has created the post."""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        response = super().request(method, url, *args, **kwargs)
        if method == "POST" and str(url).endswith("/wp/v2/posts") and response.status_code == 201:
            raise Killed(f"after POST {url!r}")
        return response


def test_crash_between_create_and_commit_leaves_exactly_one_post(
    wordpress_site: WordPressSite,  # noqa: F811
    reader: WordPressReader,
    fresh_ids: int,
    sessions: sessionmaker[Session],
    session: Session,
    workflow: Workflow,
    office: Office,
    clock: Clock,
    store: MediaStore,
) -> None:
    item_id = approved_item(
        workflow, session, office, clock.now, store, photos=2, documents=("Undangan.pdf",)
    )
    url, user, password = wordpress_site
    dying = WordPressAdapter(url, user, password, session=DiesAfterPostCreated())
    with pytest.raises(Killed):
        worker_for(sessions, workflow, dying, store, clock).run_once()
    assert len(reader.posts_for(item_id)) == 1
    assert item_state(sessions, item_id).status is Status.APPROVED

    clock.advance(seconds=DEFAULT_LEASE.total_seconds())
    restarted = worker_for(sessions, workflow, adapter_for(wordpress_site), store, clock)
    assert restarted.run_once() == WorkerResult(published=1)

    posts = reader.posts_for(item_id)
    item = item_state(sessions, item_id)
    assert [str(p["id"]) for p in posts] == [item.remote_id]
    assert len(reader.media_for(item_id, media_shas(sessions, item_id))) == 3


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there once the socket is closed


def test_site_down_retries_then_exactly_one_post(
    wordpress_site: WordPressSite,  # noqa: F811
    reader: WordPressReader,
    fresh_ids: int,
    sessions: sessionmaker[Session],
    session: Session,
    workflow: Workflow,
    office: Office,
    clock: Clock,
    store: MediaStore,
) -> None:
    item_id = approved_item(workflow, session, office, clock.now, store, photos=1)
    down = WordPressAdapter(_closed_port_url(), wordpress_site.user, wordpress_site.app_password)
    down_worker = worker_for(sessions, workflow, down, store, clock)
    delays = []
    for _ in range(2):
        assert down_worker.run_once() == WorkerResult(retried=1)
        row = publish_row(sessions, item_id)
        assert "cannot connect" in row.last_error
        delays.append(row.next_attempt_at - clock.now)
        clock.now = row.next_attempt_at
    assert delays[0] < delays[1]

    # The site is back (the same process would have the same adapter; here the address).
    up_worker = worker_for(sessions, workflow, adapter_for(wordpress_site), store, clock)
    assert up_worker.run_once() == WorkerResult(published=1)
    assert up_worker.run_once() == WorkerResult()

    assert len(reader.posts_for(item_id)) == 1
    assert publish_row(sessions, item_id).attempts == 3
    assert alerts(sessions, item_id) == []


class CountingSession(requests.Session):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(str(method))
        return super().request(method, url, *args, **kwargs)


def test_wrong_password_keeps_the_item_approved_with_one_alert_then_publishes_once(
    wordpress_site: WordPressSite,  # noqa: F811
    reader: WordPressReader,
    fresh_ids: int,
    sessions: sessionmaker[Session],
    session: Session,
    workflow: Workflow,
    office: Office,
    clock: Clock,
    store: MediaStore,
) -> None:
    item_id = approved_item(workflow, session, office, clock.now, store, photos=1)
    waiting = approved_item(workflow, session, office, clock.now, store, photos=1)
    http = CountingSession()
    url, user, _ = wordpress_site
    bad = WordPressAdapter(url, user, "abcd efgh ijkl mnop qrst uvwx", session=http)
    worker: PublishWorker = worker_for(sessions, workflow, bad, store, clock)
    pause = SETTINGS.backoff_max_seconds

    assert worker.run_once() == WorkerResult(config_problems=1)
    for _ in range(3):
        clock.advance(seconds=SETTINGS.backoff_base_seconds)
        assert worker.run_once().paused
    assert len(http.calls) <= 2  # API discovery and the lookup; nothing while paused
    # The password stays wrong for a while: one lookup per pause, no retry storm.
    cycles = SETTINGS.max_attempts + 1
    for _ in range(cycles):
        clock.advance(seconds=pause)
        assert worker.run_once() == WorkerResult(config_problems=1)

    assert set(http.calls) == {"GET"}  # nothing was written
    assert len(http.calls) <= 2 + cycles
    for item in (item_id, waiting):
        assert item_state(sessions, item).status is Status.APPROVED
        assert publish_row(sessions, item).attempts == 0  # not counted against max_attempts
        assert alerts(sessions, item) == []  # no item failed
    [alert] = config_alerts(sessions)
    assert alert.target == "alert" and alert.item_id is None
    assert "website.password" in alert.payload["reason"]
    assert "abcd" not in alert.payload["reason"]
    assert reader.posts_for(item_id) == [] and reader.posts_for(waiting) == []

    # The webmaster puts the right password in the settings and restarts the bot;
    # nobody touches the items.
    fixed = worker_for(sessions, workflow, adapter_for(wordpress_site), store, clock)
    clock.advance(seconds=pause)
    assert fixed.run_once() == WorkerResult(published=2)
    assert fixed.run_once() == WorkerResult()

    for item in (item_id, waiting):
        state = item_state(sessions, item)
        assert state.status is Status.PUBLISHED
        assert [str(p["id"]) for p in reader.posts_for(item)] == [state.remote_id]
    assert len(config_alerts(sessions)) == 1
