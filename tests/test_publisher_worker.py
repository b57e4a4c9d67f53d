"""The publish worker on SQLite and PostgreSQL, against a real webhook receiver over HTTP.

The receiver (a local ``http.server``) verifies the HMAC signature and, like any correct
receiver, creates one post per ``Idempotency-Key``; it counts every POST it sees, so "the
website was asked twice but has one post" is checked on its side. A fake adapter appears
only where a test is about classifying outcomes the receiver cannot produce.
"""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from publisher.base import Adapter, PublishRequest, PublishResult, error_from_status
from publisher.factory import make_adapter
from publisher.webhook import SIGNATURE_HEADER, WebhookAdapter, verify_signature
from publisher.wordpress import WordPressAdapter
from publisher.worker import (
    CONFIG_PROBLEM_TEMPLATE,
    DEFAULT_LEASE,
    WARNINGS_TEMPLATE,
    PublishWorker,
    WorkerResult,
    excerpt,
    job_callback,
    publish_once,
)
from tests.conftest import TEST_TOKEN, Clock, Office
from warta.demo import report_pdf
from workflow import outbox
from workflow.actions import Edit, NewMedia, Workflow, publish_key
from workflow.config import (
    ConfigError,
    DatabaseSettings,
    MediaSettings,
    PublisherSettings,
    Settings,
    WebsiteSettings,
)
from workflow.context import Context
from workflow.media.storage import MediaStore
from workflow.models import Item, MediaKind, OutboxKind, OutboxMessage, Status

SECRET = "rahasia-webhook-uji"
SETTINGS = PublisherSettings(
    interval_seconds=1.0, max_attempts=4, backoff_base_seconds=10.0, backoff_max_seconds=300.0
)


def key(item_id: int) -> str:
    """The website key of an item in a test database (token pinned by conftest)."""
    return publish_key(TEST_TOKEN, item_id)


# --- a webhook receiver ---------------------------------------------------------------------


@dataclass
class Receiver:
    """A website behind the webhook protocol; see publisher/webhook.py for the contract."""

    secret: str
    posts: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> payload
    seen: list[str] = field(default_factory=list)  # Idempotency-Key of every POST
    bad_signatures: int = 0
    planned: list[int] = field(default_factory=list)  # statuses to answer next, in order
    always: int | None = None  # answer every POST with this status
    hold: bool = False  # after creating a post, wait for `release` before answering
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def ids(self) -> dict[str, str]:
        return {key: str(index) for index, key in enumerate(self.posts, 1)}

    def answer(self, key: str, body: bytes, signature: str | None) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.seen.append(key)
            if not verify_signature(self.secret, body, signature):
                self.bad_signatures += 1
                return 401, {"error": "bad signature"}
            if self.always is not None:
                return self.always, {"error": "planned"}
            if self.planned:
                return self.planned.pop(0), {"error": "planned"}
            if key not in self.posts:
                self.posts[key] = json.loads(body)
            post_id = self.ids()[key]
        if self.hold:
            self.held.set()
            self.release.wait(30)
        return 201, {"id": post_id, "url": f"https://kecamatan.example/berita/{post_id}"}


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status, answer = receiver.answer(
                self.headers.get("Idempotency-Key", ""), body, self.headers.get(SIGNATURE_HEADER)
            )
            data = json.dumps(answer).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the sender was killed while we held its request
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    result = Receiver(SECRET)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(result))
    server.daemon_threads = True
    result.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield result
    result.release.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


# --- items with real stored media -----------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> MediaStore:
    return MediaStore(tmp_path / "media")


def jpeg(color: str) -> bytes:
    image = Image.new("RGB", (640, 480), color)
    draw = ImageDraw.Draw(image)
    draw.ellipse((160, 120, 480, 360), fill="white")
    draw.text((10, 10), uuid.uuid4().hex, fill="black")  # unique bytes per run
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def pdf() -> bytes:
    return report_pdf(uuid.uuid4().hex)


def stored(store: MediaStore, data: bytes, kind: str, name: str | None) -> NewMedia:
    """A file through the real media pipeline, as the bot stores what officers send."""
    temp = store.new_temp_path()
    temp.write_bytes(data)
    result = store.store(temp, kind, name)
    return NewMedia(
        kind=MediaKind(result.kind),
        sha256=result.sha256,
        stored_path=result.relative_path,
        mime=result.mime,
        size=result.size,
        width=result.width,
        height=result.height,
        thumbnail_path=result.thumbnail_path or "",
        original_name=result.display_name or "",
    )


PHOTO_COLORS = ("navy", "darkgreen", "maroon", "olive", "teal", "purple", "gray", "orange")


def approved_item(
    wf: Workflow,
    session: Session,
    office: Office,
    now: datetime,
    store: MediaStore,
    *,
    photos: int = 2,
    documents: tuple[str, ...] = (),
    photo_names: tuple[str | None, ...] = (),
    title: str = "Posyandu balita di Desa Sukamaju",
    caption: str = "Kegiatan posyandu bulanan di Desa Sukamaju bersama kader dan bidan desa.",
    body: str | None = None,
    category: str = "Kesehatan",
    tags: tuple[str, ...] = ("posyandu", "balita"),
    cover: int | None = None,
    publish_at: datetime | None = None,
) -> int:
    """An item taken through the SOP by the right people, with files stored for real.
    ``cover`` is the 0-based index of the photo to feature (default: the first)."""
    item = wf.create_draft(session, office.officer, now, description=caption)
    media_ids = []
    for index in range(photos):
        name = photo_names[index] if index < len(photo_names) else None
        new = stored(store, jpeg(PHOTO_COLORS[index % len(PHOTO_COLORS)]), "photo", name)
        media_ids.append(wf.add_media(session, office.officer, item.id, now, new).id)
    for name in documents:
        wf.add_media(session, office.officer, item.id, now, stored(store, pdf(), "document", name))
    wf.update_draft(session, office.officer, item.id, now, activity_date=date(2026, 11, 24))
    wf.submit(session, office.officer, item.id, now)
    wf.claim(session, office.editor, item.id, now)
    changes = Edit(
        title=title,
        body=body if body is not None else caption,
        category=category,
        tags=tags,
        publish_at=publish_at,
        cover_media_id=media_ids[cover] if cover is not None else None,
    )
    wf.edit(session, office.editor, item.id, now, changes)
    wf.forward(session, office.editor, item.id, now)
    return wf.approve(session, office.official, item.id, now).id


def worker_for(
    sessions: sessionmaker[Session],
    workflow: Workflow,
    adapter: Adapter,
    store: MediaStore,
    clock: Clock,
    settings: PublisherSettings = SETTINGS,
    **options: Any,
) -> PublishWorker:
    return PublishWorker(
        sessions, workflow, adapter, store.root, settings, clock, random.Random(7), **options
    )


def webhook(receiver: Receiver) -> WebhookAdapter:
    return WebhookAdapter(receiver.url, SECRET, timeout=10)


@pytest.fixture
def hooked(
    sessions: sessionmaker[Session],
    workflow: Workflow,
    receiver: Receiver,
    store: MediaStore,
    clock: Clock,
) -> PublishWorker:
    """A worker publishing to the receiver."""
    return worker_for(sessions, workflow, webhook(receiver), store, clock)


def item_state(sessions: sessionmaker[Session], item_id: int) -> Item:
    with sessions() as session:
        item = session.get(Item, item_id)
        assert item is not None
        return item


def publish_row(sessions: sessionmaker[Session], item_id: int) -> OutboxMessage:
    with sessions() as session:
        row = session.scalars(
            select(OutboxMessage).where(OutboxMessage.idempotency_key == key(item_id))
        ).one()
        return row


def notifications(sessions: sessionmaker[Session], item_id: int) -> list[OutboxMessage]:
    with sessions() as session:
        return list(
            session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.kind == OutboxKind.NOTIFY, OutboxMessage.item_id == item_id)
                .order_by(OutboxMessage.id)
            )
        )


def alerts(sessions: sessionmaker[Session], item_id: int) -> list[OutboxMessage]:
    return [row for row in notifications(sessions, item_id) if row.target == "alert"]


def run_until_settled(
    worker: PublishWorker,
    clock: Clock,
    sessions: sessionmaker[Session],
    item_id: int,
    limit: int = 20,
) -> list[timedelta]:
    """Runs the worker, moving the clock to each retry, until the item leaves approved;
    returns the retry delays it saw."""
    delays: list[timedelta] = []
    for _ in range(limit):
        worker.run_once()
        if item_state(sessions, item_id).status is not Status.APPROVED:
            return delays
        row = publish_row(sessions, item_id)
        delays.append(row.next_attempt_at - clock.now)
        clock.now = row.next_attempt_at
    raise AssertionError("the item did not settle")


# --- the happy path -------------------------------------------------------------------------


def test_approved_item_is_published_and_everyone_gets_the_link(
    hooked: PublishWorker,
    receiver: Receiver,
    sessions: sessionmaker[Session],
    session: Session,
    workflow: Workflow,
    office: Office,
    clock: Clock,
    store: MediaStore,
) -> None:
    item_id = approved_item(
        workflow,
        session,
        office,
        clock.now,
        store,
        photos=2,
        cover=1,
        photo_names=("IMG_2041.png", None),
        documents=("Daftar hadir.pdf",),
    )
    clock.advance(seconds=3)

    result = hooked.run_once()

    assert result == WorkerResult(published=1)
    item = item_state(sessions, item_id)
    assert item.status is Status.PUBLISHED
    assert (item.remote_id, item.remote_url) == ("1", "https://kecamatan.example/berita/1")
    assert item.published_at == clock.now
    row = publish_row(sessions, item_id)
    assert row.done_at == clock.now and row.attempts == 1
    assert (row.remote_id, row.remote_url) == ("1", "https://kecamatan.example/berita/1")
    told = {
        row.recipient_id
        for row in notifications(sessions, item_id)
        if row.template == "item.mark_published" and row.target == "person"
    }
    assert told == {office.officer.id, office.editor.id, office.official.id}
    # What the website received, signed and complete.
    assert receiver.bad_signatures == 0 and receiver.seen == [key(item_id)]
    payload = receiver.posts[key(item_id)]
    assert payload["title"] == "Posyandu balita di Desa Sukamaju"
    assert payload["category"] == "Kesehatan" and payload["tags"] == ["balita", "posyandu"]
    assert payload["status"] == "publish" and payload["section"] == "Bidang Sosial"
    media = payload["media"]
    assert [m["kind"] for m in media] == ["photo", "photo", "document"]
    # The sender's name keeps its stem but gets the stored file's type (photos become JPEG);
    # a photo sent as a photo has no name, so one is made from the title.
    assert [m["filename"] for m in media] == [
        "IMG_2041.jpg",
        "Posyandu balita di Desa Sukamaju 2.jpg",
        "Daftar hadir.pdf",
    ]
    assert payload["cover_sha256"] == media[1]["sha256"]
    assert media[0]["alt"] == payload["title"]
    assert media[0]["caption"] == "Bidang Sosial, 24/11/2026" and media[2]["caption"] == ""


def test_rejected_and_undecided_items_never_reach_the_website(
    hooked: PublishWorker,
    receiver: Receiver,
    session: Session,
    workflow: Workflow,
    office: Office,
    clock: Clock,
    store: MediaStore,
) -> None:
    rejected = approved_item_or(workflow, session, office, clock.now, store, "reject")
    waiting = approved_item_or(workflow, session, office, clock.now, store, None)
    approved = approved_item(workflow, session, office, clock.now, store, photos=1)

    for _ in range(3):
        hooked.run_once()
        clock.advance(hours=1)

    assert receiver.seen == [key(approved)]
    assert (
        key(rejected) not in receiver.posts and key(waiting) not in receiver.posts
    )


def approved_item_or(
    wf: Workflow,
    session: Session,
    office: Office,
    now: datetime,
    store: MediaStore,
    decision: str | None,
) -> int:
    """An item up to the official's decision: rejected, or (None) still waiting."""
    item = wf.create_draft(session, office.officer, now, description="Berita yang ditolak")
    wf.add_media(session, office.officer, item.id, now, stored(store, jpeg("red"), "photo", None))
    wf.submit(session, office.officer, item.id, now)
    wf.claim(session, office.editor, item.id, now)
    wf.edit(session, office.editor, item.id, now, Edit(title="Judul", body="Isi berita"))
    wf.forward(session, office.editor, item.id, now)
    if decision == "reject":
        wf.reject(session, office.official, item.id, now, "Tidak layak tayang")
    return item.id


def test_scheduled_item_goes_out_as_future_and_pending_site_keeps_pending(
    receiver: Receiver,
    sessions: sessionmaker[Session],
    session: Session,
    workflow: Workflow,
    office: Office,
    clock: Clock,
    store: MediaStore,
) -> None:
    later = clock.now + timedelta(days=2)
    scheduled = approved_item(workflow, session, office, clock.now, store, publish_at=later)
    worker_for(sessions, workflow, webhook(receiver), store, clock).run_once()
    payload = receiver.posts[key(scheduled)]
    assert payload["status"] == "future"
    assert datetime.fromisoformat(payload["publish_at"]) == later

    other = approved_item(workflow, session, office, clock.now, store, publish_at=later)
    pending = worker_for(sessions, workflow, webhook(receiver), store, clock, post_status="pending")
    pending.run_once()
    assert receiver.posts[key(other)]["status"] == "pending"
    assert item_state(sessions, scheduled).status is Status.PUBLISHED
    assert item_state(sessions, other).status is Status.PUBLISHED


def test_excerpt_is_the_first_thirty_words() -> None:
    words = [f"kata{i}" for i in range(40)]
    assert excerpt(" ".join(words[:30])) == " ".join(words[:30])
    assert excerpt("  baris satu\n\nbaris   dua ") == "baris satu baris dua"
    assert excerpt(" ".join(words)) == " ".join(words[:30]) + " …"


# --- failures -------------------------------------------------------------------------------


def test_site_trouble_backs_off_then_publishes_exactly_once(
    hooked: PublishWorker,
    receiver: Receiver,
    sessions: sessionmaker[Session],
    session: Session,
    workflow: Workflow,
    office: Office,
    clock: Clock,
    store: MediaStore,
) -> None:
    item_id = approved_item(workflow, session, office, clock.now, store)
    receiver.planned = [503, 429, 502]

    first = hooked.run_once()
    assert first == WorkerResult(retried=1)
    # Not due yet: the site is left alone.
    assert hooked.run_once() == WorkerResult() and len(receiver.seen) == 1

    delays = run_until_settled(hooked, clock, sessions, item_id)

    assert len(delays) == 3
    assert timedelta(0) < delays[0] < delays[1] < delays[2]
    assert item_state(sessions, item_id).status is Status.PUBLISHED
    assert len(receiver.seen) == 4 and len(receiver.posts) == 1
    row = publish_row(sessions, item_id)
    assert row.attempts == 4 and row.done_at is not None and row.last_error == ""
    assert alerts(sessions, item_id) == []


def test_repeated_failures_end_in_publish_failed_with_one_alert_then_retry_publishes(
    hooked: PublishWorker,
    receiver: Receiver,
    sessions: sessionmaker[Session],
    session: Session,
    workflow: Workflow,
    office: Office,
    clock: Clock,
    store: MediaStore,
) -> None:
    item_id = approved_item(workflow, session, office, clock.now, store)
    receiver.always = 503

    delays = run_until_settled(hooked, clock, sessions, item_id)

    assert len(delays) == SETTINGS.max_attempts - 1
    assert delays == sorted(delays)
    item = item_state(sessions, item_id)
    assert item.status is Status.PUBLISH_FAILED
    assert len(receiver.seen) == SETTINGS.max_attempts
    [alert] = alerts(sessions, item_id)
    assert alert.template == "item.mark_publish_failed"
    assert "gave up after 4 attempts" in alert.payload["note"]
    assert "HTTP 503" in alert.payload["note"]
    # Nothing more happens on its own.
    clock.advance(hours=2)
    hooked.run_once()
    assert len(receiver.seen) == SETTINGS.max_attempts

    receiver.always = None
    workflow.retry_publish(session, office.editor, item_id, clock.now)
    assert hooked.run_once() == WorkerResult(published=1)
    assert item_state(sessions, item_id).status is Status.PUBLISHED
    assert len(receiver.posts) == 1


def config_alerts(sessions: sessionmaker[Session]) -> list[OutboxMessage]:
    """The webmaster's configuration alerts (one per problem, not tied to an item)."""
    with sessions() as session:
        return list(
            session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.template == CONFIG_PROBLEM_TEMPLATE)
                .order_by(OutboxMessage.id)
            )
        )


PAUSE = timedelta(seconds=SETTINGS.backoff_max_seconds)


def test_rejected_credentials_keep_items_approved_with_one_alert_and_no_retry_storm(
    hooked: PublishWorker,
    receiver: Receiver,
    sessions: sessionmaker[Session],
    session: Session,
    workflow: Workflow,
    office: Office,
    clock: Clock,
    store: MediaStore,
) -> None:
    first = approved_item(workflow, session, office, clock.now, store)
    second = approved_item(workflow, session, office, clock.now, store)
    receiver.always = 401
    started = clock.now

    assert hooked.run_once() == WorkerResult(config_problems=1)

    # Nothing is wrong with the item: it stays approved, and the try does not count.
    assert item_state(sessions, first).status is Status.APPROVED
    row = publish_row(sessions, first)
    assert row.attempts == 0 and row.done_at is None
    assert row.next_attempt_at == started + PAUSE
    assert "website.webhook_secret" in row.last_error
    # One alert for the webmaster, naming the setting; no item-failure alert.
    [alert] = config_alerts(sessions)
    assert (alert.kind, alert.target, alert.item_id) == (OutboxKind.NOTIFY, "alert", None)
    assert set(alert.payload) == {"reason"}
    assert "configuration problem" in alert.payload["reason"]
    assert "website.webhook_secret" in alert.payload["reason"]
    assert alerts(sessions, first) == [] and alerts(sessions, second) == []
    assert len(receiver.seen) == 1
    # While paused the site is left alone and the other item is not touched.
    for _ in range(5):
        clock.advance(seconds=10)
        assert hooked.run_once().paused
    assert len(receiver.seen) == 1
    assert publish_row(sessions, second).attempts == 0

    # Still wrong for hours: one request per pause, never a failed item, no second alert.
    cycles = 8  # twice max_attempts
    for _ in range(cycles):
        clock.now = started = clock.now + PAUSE
        assert hooked.run_once() == WorkerResult(config_problems=1)
    assert len(receiver.seen) == 1 + cycles
    for item_id in (first, second):
        assert item_state(sessions, item_id).status is Status.APPROVED
        assert publish_row(sessions, item_id).attempts == 0
    assert len(config_alerts(sessions)) == 1

    # Fixed; nobody touches the items: after the pause both go out, once each.
    receiver.always = None
    clock.advance(seconds=PAUSE.total_seconds())
    assert hooked.run_once() == WorkerResult(published=2)
    assert set(receiver.posts) == {key(first), key(second)}
    for item_id in (first, second):
        assert item_state(sessions, item_id).status is Status.PUBLISHED
        assert publish_row(sessions, item_id).attempts == 1
    assert alerts(sessions, first) == [] and len(config_alerts(sessions)) == 1


def test_restart_with_corrected_settings_publishes_without_a_human_step(
    receiver: Receiver,
    sessions: sessionmaker[Session],
    session: Session,
    workflow: Workflow,
    office: Office,
    clock: Clock,
    store: MediaStore,
) -> None:
    met_it = approved_item(workflow, session, office, clock.now, store)
    queued = approved_item(workflow, session, office, clock.now, store)
    wrong = WebhookAdapter(receiver.url, "not-the-secret", timeout=10)
    result = worker_for(sessions, workflow, wrong, store, clock).run_once()
    assert result == WorkerResult(config_problems=1)
    assert receiver.bad_signatures == 1

    # The webmaster corrects website.webhook_secret and restarts the bot.
    restarted = worker_for(sessions, workflow, webhook(receiver), store, clock)
    assert restarted.run_once() == WorkerResult(published=1)  # the queued item at once
    assert item_state(sessions, queued).status is Status.PUBLISHED
    assert item_state(sessions, met_it).status is Status.APPROVED
    clock.advance(seconds=PAUSE.total_seconds())
    assert restarted.run_once() == WorkerResult(published=1)  # the other one after its pause

    assert item_state(sessions, met_it).status is Status.PUBLISHED
    assert sorted(receiver.posts) == sorted([key(met_it), key(queued)])
    assert receiver.seen.count(key(met_it)) == 2  # the refused try, then the post
    assert receiver.seen.count(key(queued)) == 1
    assert len(config_alerts(sessions)) == 1


def test_configuration_alert_once_per_distinct_problem_and_office_day(
    sessions: sessionmaker[Session],
    session: Session,
    workflow: Workflow,
    office: Office,
    clock: Clock,
    store: MediaStore,
) -> None:
    items = [approved_item(workflow, session, office, clock.now, store) for _ in range(3)]
    adapter = Recording(error=error_from_status(401, "GET /wp/v2/posts"), name="wordpress")
    # Two workers (the bot and a cron run), each meeting the problem: still one alert.
    for _ in range(2):
        assert worker_for(sessions, workflow, adapter, store, clock).run_once().config_problems
    assert len(config_alerts(sessions)) == 1

    # A different problem (the webmaster changed the URL to a wrong one): its own alert.
    adapter.error = error_from_status(404, "GET /wp/v2/posts")
    worker = worker_for(sessions, workflow, adapter, store, clock)
    assert worker.run_once().config_problems == 1
    reasons = [row.payload["reason"] for row in config_alerts(sessions)]
    assert len(reasons) == 2
    assert "website.password" in reasons[0] and "website.base_url" in reasons[1]

    # Still the same the next office day (Jakarta): reminded once more.
    clock.now = datetime(2026, 11, 25, 17, 1, tzinfo=UTC)  # 00:01 on the 26th in Jakarta
    assert worker.run_once().config_problems == 1
    keys = [row.idempotency_key for row in config_alerts(sessions)]
    assert len(keys) == 3 and keys[2].endswith(":2026-11-26") and keys[1].endswith(":2026-11-25")
    # One request per pause, however many items wait; none of them failed or counted.
    assert len(adapter.requests) == 4
    for item_id in items:
        assert item_state(sessions, item_id).status is Status.APPROVED
        assert publish_row(sessions, item_id).attempts == 0


def test_pause_after_a_configuration_problem_runs_out(
    hooked: PublishWorker,
    receiver: Receiver,
    sessions: sessionmaker[Session],
    session: Session,
    workflow: Workflow,
    office: Office,
    clock: Clock,
    store: MediaStore,
) -> None:
    first = approved_item(workflow, session, office, clock.now, store)
    second = approved_item(workflow, session, office, clock.now, store)
    receiver.always = 403
    assert hooked.run_once() == WorkerResult(config_problems=1)
    receiver.always = None  # fixed on the website's side; nobody told the bot
    clock.advance(seconds=SETTINGS.backoff_max_seconds - 1)
    assert hooked.run_once().paused
    clock.advance(seconds=1)

    assert hooked.run_once() == WorkerResult(published=2)
    assert item_state(sessions, first).status is Status.PUBLISHED
    assert item_state(sessions, second).status is Status.PUBLISHED


@pytest.mark.parametrize(
    ("status", "reason", "hint"),
    [
        (401, "credentials rejected", "website.username and website.password"),
        (403, "permission denied", "WordPress user's role"),
        (404, "not found (wrong URL?)", "website.base_url"),
    ],
)
def test_wordpress_configuration_problems_name_the_setting(
    sessions: sessionmaker[Session],
    session: Session,
    workflow: Workflow,
    office: Office,
    clock: Clock,
    store: MediaStore,
    status: int,
    reason: str,
    hint: str,
) -> None:
    item_id = approved_item(workflow, session, office, clock.now, store)
    adapter = Recording(error=error_from_status(status, "POST /wp/v2/posts"), name="wordpress")

    assert worker_for(sessions, workflow, adapter, store, clock).run_once().config_problems == 1

    assert len(adapter.requests) == 1
    [alert] = config_alerts(sessions)
    assert reason in alert.payload["reason"] and hint in alert.payload["reason"]
    assert item_state(sessions, item_id).status is Status.APPROVED


def test_file_over_the_upload_limit_fails_only_its_item(
    sessions: sessionmaker[Session],
    session: Session,
    workflow: Workflow,
    office: Office,
    clock: Clock,
    store: MediaStore,
) -> None:
    big = approved_item(workflow, session, office, clock.now, store)
    small = approved_item(workflow, session, office, clock.now, store)

    class TooLargeForOne(Recording):
        def publish(self, request: PublishRequest) -> PublishResult:
            self.requests.append(request)
            if request.item_id == big:
                raise error_from_status(413, "upload 'video.mp4'")
            return PublishResult(str(request.item_id), f"https://x.example/{request.item_id}")

    adapter = TooLargeForOne(name="wordpress")
    assert worker_for(sessions, workflow, adapter, store, clock).run_once() == WorkerResult(
        published=1, failed=1
    )

    assert item_state(sessions, big).status is Status.PUBLISH_FAILED
    assert item_state(sessions, small).status is Status.PUBLISHED
    note = alerts(sessions, big)[0].payload["note"]
    assert "HTTP 413" in note and "raise the site's upload size limit" in note
    assert config_alerts(sessions) == []


def test_refused_item_fails_at_once(
    hooked: PublishWorker,
    receiver: Receiver,
    sessions: sessionmaker[Session],
    session: Session,
    workflow: Workflow,
    office: Office,
    clock: Clock,
    store: MediaStore,
) -> None:
    item_id = approved_item(workflow, session, office, clock.now, store)
    receiver.always = 422

    assert hooked.run_once() == WorkerResult(failed=1)

    assert item_state(sessions, item_id).status is Status.PUBLISH_FAILED
    assert "the website refused the item" in alerts(sessions, item_id)[0].payload["note"]
    assert len(receiver.seen) == 1


def test_unexpected_adapter_error_is_retried_like_a_site_problem(
    sessions: sessionmaker[Session],
    session: Session,
    workflow: Workflow,
    office: Office,
    clock: Clock,
    store: MediaStore,
) -> None:
    item_id = approved_item(workflow, session, office, clock.now, store)
    adapter = Recording(error=KeyError("link"))

    assert worker_for(sessions, workflow, adapter, store, clock).run_once().retried == 1

    assert "unexpected error: KeyError" in publish_row(sessions, item_id).last_error


def test_missing_media_file_fails_with_a_reason_and_the_site_is_not_called(
    hooked: PublishWorker,
    receiver: Receiver,
    sessions: sessionmaker[Session],
    session: Session,
    workflow: Workflow,
    office: Office,
    clock: Clock,
    store: MediaStore,
) -> None:
    item_id = approved_item(workflow, session, office, clock.now, store, photos=1)
    for path in store.root.glob("*/*.jpg"):
        path.unlink()

    assert hooked.run_once() == WorkerResult(failed=1)

    assert receiver.seen == []
    assert "not in the media store" in alerts(sessions, item_id)[0].payload["note"]


def test_item_that_left_approved_is_given_up_with_a_note(
    hooked: PublishWorker,
    receiver: Receiver,
    sessions: sessionmaker[Session],
    session: Session,
    workflow: Workflow,
    office: Office,
    clock: Clock,
    store: MediaStore,
) -> None:
    item_id = approved_item(workflow, session, office, clock.now, store)
    with session.begin():  # what no transition does: an operator's hand in the database
        session.execute(update(Item).where(Item.id == item_id).values(state=Status.REJECTED))

    assert hooked.run_once() == WorkerResult(skipped=1)

    assert receiver.seen == []
    row = publish_row(sessions, item_id)
    assert row.done_at is not None and "not approved" in row.last_error


def test_warnings_reach_the_webmaster(
    sessions: sessionmaker[Session],
    session: Session,
    workflow: Workflow,
    office: Office,
    clock: Clock,
    store: MediaStore,
) -> None:
    item_id = approved_item(workflow, session, office, clock.now, store)
    adapter = Recording(warnings=("video 'x.mp4' not published: site refused video/mp4",))

    assert worker_for(sessions, workflow, adapter, store, clock).run_once().published == 1

    [alert] = alerts(sessions, item_id)
    assert alert.template == WARNINGS_TEMPLATE
    assert alert.payload["warnings"] == list(adapter.warnings)


# --- crashes --------------------------------------------------------------------------------


class Crash(Exception):
    """The process died here."""


def test_crash_between_the_post_and_the_commit_publishes_exactly_once(
    receiver: Receiver,
    sessions: sessionmaker[Session],
    session: Session,
    workflow: Workflow,
    office: Office,
    clock: Clock,
    store: MediaStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    item_id = approved_item(workflow, session, office, clock.now, store)

    def crash(*args: Any, **kwargs: Any) -> Item:
        raise Crash("killed after the website answered")

    monkeypatch.setattr(workflow, "mark_published", crash)
    with pytest.raises(Crash):
        worker_for(sessions, workflow, webhook(receiver), store, clock).run_once()
    monkeypatch.undo()
    assert item_state(sessions, item_id).status is Status.APPROVED
    assert len(receiver.posts) == 1

    # Restarted: a new worker, after the lease.
    restarted = worker_for(sessions, workflow, webhook(receiver), store, clock)
    assert restarted.run_once() == WorkerResult()  # leased: not yet
    clock.advance(seconds=DEFAULT_LEASE.total_seconds())
    assert restarted.run_once() == WorkerResult(published=1)

    item = item_state(sessions, item_id)
    assert item.status is Status.PUBLISHED and item.remote_id == "1"
    assert receiver.seen == [key(item_id)] * 2 and len(receiver.posts) == 1


WORKER_SCRIPT = """
import sys
from datetime import datetime
from publisher.webhook import WebhookAdapter
from publisher.worker import PublishWorker
from workflow import db
from workflow.config import PublisherSettings, Settings, working_calendar
from workflow.deadlines import StageDeadlines
from workflow.actions import Workflow

url, media, hook, secret, now = sys.argv[1:]
settings = Settings()
flow = Workflow(StageDeadlines.from_settings(settings.deadlines, working_calendar(settings)),
                checklist=settings.checklist)
sessions = db.session_factory(db.make_engine(url))
worker = PublishWorker(sessions, flow, WebhookAdapter(hook, secret), media,
                       PublisherSettings(), lambda: datetime.fromisoformat(now))
worker.run_once()
"""


def test_killed_worker_process_resumes_and_publishes_exactly_once(
    engine: Engine,
    receiver: Receiver,
    sessions: sessionmaker[Session],
    session: Session,
    workflow: Workflow,
    office: Office,
    clock: Clock,
    store: MediaStore,
) -> None:
    item_id = approved_item(workflow, session, office, clock.now, store, photos=2)
    receiver.hold = True
    url = engine.url.render_as_string(hide_password=False)
    args = [url, str(store.root), receiver.url, SECRET, clock.now.isoformat()]
    repo = Path(__file__).resolve().parent.parent
    process = subprocess.Popen([sys.executable, "-c", WORKER_SCRIPT, *args], cwd=repo)
    try:
        assert receiver.held.wait(60), "the worker process never reached the website"
    finally:
        process.kill()  # SIGKILL: no cleanup of any kind
        process.wait(30)
    receiver.hold = False
    receiver.release.set()
    assert len(receiver.posts) == 1
    assert item_state(sessions, item_id).status is Status.APPROVED
    row = publish_row(sessions, item_id)
    assert row.done_at is None and row.attempts == 1

    clock.advance(seconds=DEFAULT_LEASE.total_seconds())
    result = worker_for(sessions, workflow, webhook(receiver), store, clock).run_once()

    assert result == WorkerResult(published=1)
    assert item_state(sessions, item_id).remote_id == "1"
    assert len(receiver.seen) == 2 and len(receiver.posts) == 1


def test_expired_lease_is_taken_again(
    hooked: PublishWorker,
    receiver: Receiver,
    sessions: sessionmaker[Session],
    session: Session,
    workflow: Workflow,
    office: Office,
    clock: Clock,
    store: MediaStore,
) -> None:
    item_id = approved_item(workflow, session, office, clock.now, store)
    # Another worker leased the row and died before calling the website.
    with sessions() as other:
        [_leased] = outbox.lease_due(other, OutboxKind.PUBLISH, clock.now, lease=DEFAULT_LEASE)

    clock.advance(seconds=DEFAULT_LEASE.total_seconds() - 1)
    assert hooked.run_once() == WorkerResult() and receiver.seen == []
    clock.advance(seconds=1)
    assert hooked.run_once() == WorkerResult(published=1)

    assert publish_row(sessions, item_id).attempts == 2
    assert receiver.seen == [key(item_id)]


def test_two_workers_at_once_publish_each_item_once(
    engine: Engine,
    receiver: Receiver,
    sessions: sessionmaker[Session],
    session: Session,
    workflow: Workflow,
    office: Office,
    clock: Clock,
    store: MediaStore,
) -> None:
    ids = [approved_item(workflow, session, office, clock.now, store, photos=1) for _ in range(8)]
    workers = [worker_for(sessions, workflow, webhook(receiver), store, clock) for _ in range(2)]
    results: list[WorkerResult] = []

    threads = [threading.Thread(target=lambda w=w: results.append(w.run_once())) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert sum(r.published for r in results) == len(ids)
    assert sorted(receiver.seen) == sorted(key(i) for i in ids)  # no item sent twice


# --- wiring ---------------------------------------------------------------------------------


def context_for(engine: Engine, store: MediaStore, website: WebsiteSettings) -> Context:
    settings = Settings(
        database=DatabaseSettings(url=engine.url.render_as_string(hide_password=False)),
        media=MediaSettings(dir=str(store.root)),
        website=website,
        publisher=SETTINGS,
    )
    return Context(settings)


def test_publish_once_uses_the_configured_webhook(
    engine: Engine,
    receiver: Receiver,
    sessions: sessionmaker[Session],
    session: Session,
    workflow: Workflow,
    office: Office,
    clock: Clock,
    store: MediaStore,
) -> None:
    item_id = approved_item(workflow, session, office, clock.now, store)
    website = WebsiteSettings(adapter="webhook", webhook_url=receiver.url, webhook_secret=SECRET)
    context = context_for(engine, store, website)
    try:
        assert publish_once(context) == WorkerResult(published=1)
        nothing = context_for(engine, store, WebsiteSettings(adapter="none"))
        assert publish_once(nothing) == WorkerResult()
    finally:
        context.close()
    assert item_state(sessions, item_id).status is Status.PUBLISHED
    assert receiver.bad_signatures == 0


async def test_job_callback_publishes_in_a_thread(
    hooked: PublishWorker,
    receiver: Receiver,
    sessions: sessionmaker[Session],
    session: Session,
    workflow: Workflow,
    office: Office,
    clock: Clock,
    store: MediaStore,
) -> None:
    item_id = approved_item(workflow, session, office, clock.now, store)

    await job_callback(hooked)(object())

    assert item_state(sessions, item_id).status is Status.PUBLISHED


def test_factory_builds_each_adapter_and_keeps_secrets_out_of_repr() -> None:
    wordpress = make_adapter(
        Settings(website=WebsiteSettings(username="warta", password="abcd efgh ijkl"))
    )
    assert isinstance(wordpress, WordPressAdapter) and "abcd" not in repr(wordpress)
    hook = make_adapter(
        Settings(
            website=WebsiteSettings(
                adapter="webhook", webhook_url="https://x.example/h", webhook_secret="s3cret"
            )
        )
    )
    assert isinstance(hook, WebhookAdapter) and "s3cret" not in repr(hook)
    assert make_adapter(Settings(website=WebsiteSettings(adapter="none"))) is None
    with pytest.raises(ConfigError) as missing:
        make_adapter(Settings(website=WebsiteSettings(username="warta")))
    assert missing.value.key == "website.password"
    with pytest.raises(ConfigError) as missing_secret:
        make_adapter(Settings(website=WebsiteSettings(adapter="webhook", webhook_url="https://x")))
    assert missing_secret.value.key == "website.webhook_secret"


# --- a fake adapter, for outcomes a real receiver cannot produce -----------------------------


@dataclass
class Recording:
    """Records requests; answers with ``error`` (raised) or a post with ``warnings``."""

    error: BaseException | None = None
    warnings: tuple[str, ...] = ()
    name: str = "fake"
    requests: list[PublishRequest] = field(default_factory=list)

    def find_published(self, key: str) -> PublishResult | None:
        return None

    def check(self) -> None:
        pass

    def publish(self, request: PublishRequest) -> PublishResult:
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        return PublishResult(
            str(request.item_id), f"https://x.example/{request.item_id}", self.warnings
        )
