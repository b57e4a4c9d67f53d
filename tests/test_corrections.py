"""Corrections (ralat) and take-downs on a real WordPress: the same post updated in place,
a post hidden (never deleted), each exactly once, through the worker and through the bot.

Every check reads the site back over its REST API or the public page.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from publisher.wordpress import WordPressAdapter, post_slug
from publisher.worker import (
    DEFAULT_LEASE,
    WITHDRAW_FAILING_TEMPLATE,
    PublishWorker,
    WorkerResult,
)
from tests.botkit import Office as BotOffice
from tests.botkit import office_settings, start_office
from tests.conftest import TEST_TOKEN, Clock, Office
from tests.test_publish_e2e_wordpress import (  # noqa: F401  (fixtures)
    Killed,
    WordPressReader,
    _closed_port_url,
    adapter_for,
    fresh_ids,
    media_shas,
    reader,
    store,
    wordpress_settings,
)
from tests.test_publisher_worker import (  # noqa: F401  (fixtures)
    SETTINGS,
    Receiver,
    approved_item,
    hooked,
    item_state,
    notifications,
    receiver,
    worker_for,
)
from tests.wordpress_site import (  # noqa: F401  (fixtures)
    WordPressSite,
    _loopback_without_proxy,
    wordpress_server,
    wordpress_site,
)
from workflow.actions import Edit, Workflow, installation_token, publish_key
from workflow.config import PublisherSettings
from workflow.media.storage import MediaStore
from workflow.models import Item, Status

REASON = "Nama desa keliru: Sukamaju, bukan Sukamaya"
TAKE_DOWN = "Data penerima belum boleh tayang"


class DiesAfterPostUpdated(requests.Session):
    """The process dies the moment WordPress has saved the corrected post."""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        response = super().request(method, url, *args, **kwargs)
        if method == "POST" and re.search(r"/wp/v2/posts/\d+(&|$)", str(url)) \
                and response.status_code == 200:
            raise Killed(f"after POST {url!r}")
        return response


def correct(workflow: Workflow, session: Session, office: Office, item_id: int, now: Any,
            title: str) -> None:
    """A correction through the SOP again: opened, edited, forwarded, approved."""
    workflow.open_correction(session, office.editor, item_id, now, REASON)
    workflow.edit(session, office.editor, item_id, now,
                  Edit(title=title, body="Posyandu bulanan di Desa Sukamaju: 48 balita."))
    workflow.forward(session, office.editor, item_id, now)
    workflow.approve(session, office.official2, item_id, now)


def published_once(sessions: sessionmaker[Session], workflow: Workflow, site: WordPressSite,
                   media: MediaStore, clock: Clock, item_id: int) -> Item:
    """The approved item published by one worker pass, as it is afterwards."""
    assert worker_for(sessions, workflow, adapter_for(site), media, clock
                      ).run_once() == WorkerResult(published=1)
    return item_state(sessions, item_id)


@pytest.mark.wordpress
def test_a_correction_updates_the_one_post_in_place_exactly_once_across_a_crash(
    wordpress_site: WordPressSite,  # noqa: F811
    reader: WordPressReader,  # noqa: F811
    fresh_ids: int,  # noqa: F811
    sessions: sessionmaker[Session],
    session: Session,
    workflow: Workflow,
    office: Office,
    clock: Clock,
    store: MediaStore,  # noqa: F811
) -> None:
    item_id = approved_item(workflow, session, office, clock.now, store, photos=2)
    first = published_once(sessions, workflow, wordpress_site, store, clock, item_id)

    clock.advance(days=1)
    correct(workflow, session, office, item_id, clock.now, "Posyandu balita Desa Sukamaju")
    url, user, password = wordpress_site
    dying = WordPressAdapter(url, user, password, session=DiesAfterPostUpdated())
    with pytest.raises(Killed):
        worker_for(sessions, workflow, dying, store, clock).run_once()
    assert item_state(sessions, item_id).status is Status.APPROVED  # not recorded yet

    clock.advance(seconds=DEFAULT_LEASE.total_seconds())
    restarted = worker_for(sessions, workflow, adapter_for(wordpress_site), store, clock)
    assert restarted.run_once() == WorkerResult(published=1)
    assert restarted.run_once() == WorkerResult()

    item = item_state(sessions, item_id)
    assert item.status is Status.PUBLISHED
    assert (item.remote_id, item.remote_url) == (first.remote_id, first.remote_url)
    assert [str(p["id"]) for p in reader.posts_for(item_id)] == [first.remote_id]
    post = reader.post(first.remote_id)
    assert post["link"] == first.remote_url and post["status"] == "publish"
    assert html.unescape(post["title"]["raw"]) == "Posyandu balita Desa Sukamaju"
    content = post["content"]["raw"]
    assert "48 balita" in content
    assert "warta-ralat" in content and f"Ralat 26 Nov 2026: {REASON}" in content
    assert len(reader.media_for(item_id, media_shas(sessions, item_id))) == 2  # not again
    page = requests.get(first.remote_url, timeout=30)
    assert page.status_code == 200 and REASON in html.unescape(page.text)


# A worker process that dies by SIGKILL the moment WordPress has saved the corrected post:
# between the website's answer and the commit that records it.
KILLED_AFTER_UPDATE = """
import os, re, signal, sys
from datetime import datetime
import requests
from publisher.wordpress import WordPressAdapter
from publisher.worker import PublishWorker
from workflow import db
from workflow.actions import Workflow
from workflow.config import PublisherSettings, Settings, working_calendar
from workflow.deadlines import StageDeadlines

class DiesAfterUpdate(requests.Session):
    def request(self, method, url, *args, **kwargs):
        response = super().request(method, url, *args, **kwargs)
        if method == "POST" and re.search(r"/wp/v2/posts/\\d+(&|$)", str(url)) \\
                and response.status_code == 200:
            os.kill(os.getpid(), signal.SIGKILL)
        return response

database, media, site, user, password, now = sys.argv[1:]
settings = Settings()
flow = Workflow(StageDeadlines.from_settings(settings.deadlines, working_calendar(settings)),
                checklist=settings.checklist)
adapter = WordPressAdapter(site, user, password, session=DiesAfterUpdate())
PublishWorker(db.session_factory(db.make_engine(database)), flow, adapter, media,
              PublisherSettings(), lambda: datetime.fromisoformat(now)).run_once()
"""


@pytest.mark.wordpress
def test_a_correction_killed_9_after_the_site_answered_is_recorded_once_on_restart(
    engine: Engine,
    wordpress_site: WordPressSite,  # noqa: F811
    reader: WordPressReader,  # noqa: F811
    fresh_ids: int,  # noqa: F811
    sessions: sessionmaker[Session],
    session: Session,
    workflow: Workflow,
    office: Office,
    clock: Clock,
    store: MediaStore,  # noqa: F811
) -> None:
    item_id = approved_item(workflow, session, office, clock.now, store, photos=1)
    first = published_once(sessions, workflow, wordpress_site, store, clock, item_id)
    correct(workflow, session, office, item_id, clock.now, "Posyandu balita (diralat)")
    session.close()

    url, user, password = wordpress_site
    args = [engine.url.render_as_string(hide_password=False), str(store.root), url, user,
            password, clock.now.isoformat()]
    repo = Path(__file__).resolve().parent.parent
    died = subprocess.run([sys.executable, "-c", KILLED_AFTER_UPDATE, *args], cwd=repo,
                          timeout=120, check=False)
    assert died.returncode == -signal.SIGKILL
    assert item_state(sessions, item_id).status is Status.APPROVED
    assert html.unescape(reader.post(first.remote_id)["title"]["raw"]) == \
        "Posyandu balita (diralat)"  # the site has it; Warta did not record it

    clock.advance(seconds=DEFAULT_LEASE.total_seconds())
    restarted = worker_for(sessions, workflow, adapter_for(wordpress_site), store, clock)
    assert restarted.run_once() == WorkerResult(published=1)
    assert restarted.run_once() == WorkerResult()
    item = item_state(sessions, item_id)
    assert item.status is Status.PUBLISHED and item.remote_id == first.remote_id
    assert [str(p["id"]) for p in reader.posts_for(item_id)] == [first.remote_id]
    assert reader.post(first.remote_id)["content"]["raw"].count(REASON) == 1


@pytest.mark.wordpress
def test_a_take_down_waits_out_the_site_being_down_then_hides_the_post_once(
    wordpress_site: WordPressSite,  # noqa: F811
    reader: WordPressReader,  # noqa: F811
    fresh_ids: int,  # noqa: F811
    sessions: sessionmaker[Session],
    session: Session,
    workflow: Workflow,
    office: Office,
    clock: Clock,
    store: MediaStore,  # noqa: F811
) -> None:
    item_id = approved_item(workflow, session, office, clock.now, store, photos=1)
    published = published_once(sessions, workflow, wordpress_site, store, clock, item_id)
    workflow.take_down(session, office.official, item_id, clock.now, TAKE_DOWN)

    down = WordPressAdapter(_closed_port_url(), wordpress_site.user, wordpress_site.app_password)
    down_worker = worker_for(sessions, workflow, down, store, clock)
    for _ in range(SETTINGS.max_attempts + 2):  # never given up on
        assert down_worker.run_once() == WorkerResult(retried=1)
        [row] = [r for r in _website_rows(sessions, item_id) if r.done_at is None]
        assert "cannot connect" in row.last_error
        clock.now = row.next_attempt_at
    assert item_state(sessions, item_id).status is Status.WITHDRAWING
    assert reader.post(published.remote_id)["status"] == "publish"  # still up, for now
    failing = [n for n in notifications(sessions, item_id)
               if n.template == WITHDRAW_FAILING_TEMPLATE]
    assert len(failing) == 1 and failing[0].target == "alert"  # told once, not per try

    up = worker_for(sessions, workflow, adapter_for(wordpress_site), store, clock)
    assert up.run_once() == WorkerResult(withdrawn=1)
    assert up.run_once() == WorkerResult()
    item = item_state(sessions, item_id)
    assert item.status is Status.WITHDRAWN
    post = reader.post(published.remote_id)  # kept, not deleted
    assert post["status"] == "draft"
    assert requests.get(published.remote_url, timeout=30).status_code == 404

    # Withdrawn is not the end: corrected, it is put back as the same post.
    correct(workflow, session, office, item_id, clock.now, "Posyandu balita (ralat)")
    assert up.run_once() == WorkerResult(published=1)
    assert [str(p["id"]) for p in reader.posts_for(item_id)] == [published.remote_id]
    assert reader.post(published.remote_id)["status"] == "publish"


@pytest.mark.wordpress
def test_a_site_that_keeps_withdrawn_posts_private(
    wordpress_site: WordPressSite,  # noqa: F811
    reader: WordPressReader,  # noqa: F811
    fresh_ids: int,  # noqa: F811
    sessions: sessionmaker[Session],
    session: Session,
    workflow: Workflow,
    office: Office,
    clock: Clock,
    store: MediaStore,  # noqa: F811
) -> None:
    item_id = approved_item(workflow, session, office, clock.now, store, photos=1)
    url, user, password = wordpress_site
    private = WordPressAdapter(url, user, password, withdrawn_status="private")
    worker = worker_for(sessions, workflow, private, store, clock)
    assert worker.run_once() == WorkerResult(published=1)
    workflow.take_down(session, office.official, item_id, clock.now, TAKE_DOWN)
    assert worker.run_once() == WorkerResult(withdrawn=1)
    item = item_state(sessions, item_id)
    assert reader.post(item.remote_id)["status"] == "private"
    assert requests.get(item.remote_url, timeout=30).status_code == 404


def test_webhook_gets_update_and_withdraw_events_with_one_key_per_version(
    hooked: PublishWorker,  # noqa: F811
    receiver: Receiver,  # noqa: F811
    sessions: sessionmaker[Session],
    session: Session,
    workflow: Workflow,
    office: Office,
    clock: Clock,
    store: MediaStore,  # noqa: F811
) -> None:
    item_id = approved_item(workflow, session, office, clock.now, store, photos=1)
    assert hooked.run_once() == WorkerResult(published=1)
    correct(workflow, session, office, item_id, clock.now, "Posyandu balita (diralat)")
    receiver.planned = [503]  # the receiver fails once: the retry repeats the same key
    assert hooked.run_once() == WorkerResult(retried=1)
    [row] = [r for r in _website_rows(sessions, item_id) if r.done_at is None]
    clock.now = row.next_attempt_at
    assert hooked.run_once() == WorkerResult(published=1)
    workflow.take_down(session, office.official, item_id, clock.now, TAKE_DOWN)
    assert hooked.run_once() == WorkerResult(withdrawn=1)

    post = publish_key(TEST_TOKEN, item_id)
    assert receiver.seen == [post, f"{post}.r1", f"{post}.r1", f"{post}.withdraw.r1"]
    update, withdraw = receiver.posts[f"{post}.r1"], receiver.posts[f"{post}.withdraw.r1"]
    assert update["schema"] == "warta.publish.v2"
    assert (update["event"], update["remote_id"], update["revision"]) == ("update", "1", 1)
    assert update["idempotency_key"] == post
    assert update["title"] == "Posyandu balita (diralat)"
    assert update["corrections"] == [f"Ralat 25 Nov 2026: {REASON}"]
    assert (withdraw["event"], withdraw["revision"]) == ("withdraw", 1)
    assert item_state(sessions, item_id).status is Status.WITHDRAWN


def _website_rows(sessions: sessionmaker[Session], item_id: int) -> list[Any]:
    from sqlalchemy import select

    from workflow.models import OutboxKind, OutboxMessage
    with sessions() as session:
        return list(session.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == OutboxKind.PUBLISH, OutboxMessage.item_id == item_id)))


# --- through the bot ---------------------------------------------------------------------------


@pytest.fixture
async def wordpress_office(tmp_path: Path, wordpress_site: WordPressSite  # noqa: F811
                           ) -> AsyncIterator[BotOffice]:
    base = office_settings(tmp_path)
    settings = dataclasses.replace(
        base, website=wordpress_settings(wordpress_site).website,
        publisher=PublisherSettings(interval_seconds=0.3))
    async for running_office in start_office(tmp_path, settings):
        yield running_office


@pytest.mark.wordpress
async def test_correction_and_take_down_through_the_bot(
    wordpress_office: BotOffice, reader: WordPressReader  # noqa: F811
) -> None:
    office, double = wordpress_office, wordpress_office.double
    item_id = office.awaiting_approval()
    decision = await double.wait_for_message(office.official, contains="Rapat Desa")
    await double.click(office.official, decision, "✅ Setujui")
    await double.wait_for_message(office.officer, contains="sudah terbit", timeout=30)
    first = office.item(item_id)

    await double.send_command(office.editor, "koreksi", f"{item_id} Nama desa belum ditulis")
    await double.wait_for_message(office.editor, contains=f"Ralat #{item_id} dibuka")
    await double.wait_for_message(office.editor, contains="Edit #")  # the editing panel
    await double.send_command(office.editor, "judul", f"{item_id} Rapat Desa Ampah")
    await double.wait_for_message(office.editor, contains="judul disimpan")
    await double.send_command(office.editor, "ajukan", str(item_id))
    await double.wait_for_message(office.editor, contains="diajukan ke pejabat")
    again = await double.wait_for_message(office.official, contains="Rapat Desa Ampah")
    assert first.remote_url in again.plain  # the official sees it is already on the site
    await double.click(office.official, again, "✅ Setujui")
    await double.wait_for_message(office.officer, contains="sudah terbit", timeout=30)

    item = office.item(item_id)
    assert (item.remote_id, item.remote_url) == (first.remote_id, first.remote_url)
    with office.warta.sessions() as session:
        slug = post_slug(publish_key(installation_token(session), item_id))
    posts = reader.get("/wp/v2/posts", slug=slug, status="publish,draft,private",
                       context="edit")
    assert [str(p["id"]) for p in posts] == [first.remote_id]
    assert html.unescape(posts[0]["title"]["raw"]) == "Rapat Desa Ampah"
    assert "Nama desa belum ditulis" in posts[0]["content"]["raw"]

    await double.send_command(office.editor, "riwayat", str(item_id))
    history = await double.wait_for_message(office.editor, contains="Riwayat")
    assert "membuka ralat — Nama desa belum ditulis" in history.plain
    assert "Judul: Rapat Desa → Rapat Desa Ampah" in history.plain

    # The official's card offers the take-down (from the table); the reason is asked.
    await double.wait_until(lambda: any("⛔ Tarik" in m.button_texts
                                        for m in double.messages(office.official)))
    card = next(m for m in double.messages(office.official) if "⛔ Tarik" in m.button_texts)
    await double.click(office.official, card, "⛔ Tarik")
    await double.wait_for_message(office.official, contains="alasan menarik")
    await office.reply_to_last(office.official, TAKE_DOWN)
    await double.wait_for_message(office.official, contains="sedang ditarik")
    await double.wait_for_message(office.officer, contains="sudah ditarik", timeout=30)
    assert office.item(item_id).status is Status.WITHDRAWN
    assert reader.post(first.remote_id)["status"] == "draft"
    public = await asyncio.to_thread(requests.get, first.remote_url, timeout=30)
    assert public.status_code == 404
    # Every copy of the card says so, with the reason; it can still be corrected.
    await double.wait_until(lambda: any(
        TAKE_DOWN in (m.plain or "") and "ditarik dari situs" in (m.plain or "")
        and m.button_texts == ["📝 Ralat"] for m in double.messages(office.official)))
