"""Warta web over plain HTTP: sign-in links, CSRF, refusals, stale forms, downloads, and the
bot's ways in (/web, Mini App buttons). Browser behaviour is in test_web_browser.py."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from tests.botkit import IT_CHAT
from tests.webkit import WebOffice, claimed_item, forwarded, start_web_office
from web.security import SESSION_COOKIE
from web.views import BOARD_PAGE
from workflow.models import AuditEvent, Status
from workflow.queries import history

CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')
VERSION = re.compile(r'name="version" value="(\d+)"')


@pytest.fixture
async def web(tmp_path: Path) -> AsyncIterator[WebOffice]:
    async for running in start_web_office(tmp_path):
        yield running


async def browser_of(web: WebOffice, key: str) -> aiohttp.ClientSession:
    """A cookie-keeping client signed in as `key` through a one-time link."""
    client = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with client.get(web.login_link(key)) as answer:
        assert answer.status == 200 and answer.url.path == "/"
    return client


async def form_of(client: aiohttp.ClientSession, url: str) -> dict[str, str]:
    async with client.get(url) as answer:
        page = await answer.text()
    csrf, version = CSRF.search(page), VERSION.search(page)
    assert csrf and version, page
    return {"csrf": csrf.group(1), "version": version.group(1)}


async def test_a_login_link_works_once(web: WebOffice) -> None:
    link = web.login_link("editor")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
        async with client.get(link, allow_redirects=False) as answer:
            assert answer.status == 303
            assert SESSION_COOKIE in answer.cookies
            assert answer.cookies[SESSION_COOKIE]["httponly"]
    async with aiohttp.ClientSession() as client, client.get(link) as answer:
        assert answer.status == 401
        assert "sudah dipakai" in await answer.text()
    async with aiohttp.ClientSession() as client, client.get(f"{web.url}/") as answer:
        assert answer.status == 401
        assert "/web" in await answer.text()


async def test_a_form_without_its_csrf_token_changes_nothing(web: WebOffice) -> None:
    item_id = await claimed_item(web.office)
    client = await browser_of(web, "editor")
    async with client:
        fields = await form_of(client, f"{web.url}/items/{item_id}")
        fields |= {"title": "Judul palsu", "csrf": "0" * 64}
        async with client.post(f"{web.url}/items/{item_id}/save", data=fields) as answer:
            assert answer.status == 403
            assert "Formulir ini kedaluwarsa" in await answer.text()
    assert web.office.item(item_id).title == ""


async def test_another_sites_form_is_refused_even_with_the_cookie(web: WebOffice) -> None:
    """A cross-site POST carries no token of ours (the cookie alone is not enough)."""
    item_id = await claimed_item(web.office)
    client = await browser_of(web, "editor")
    async with client:
        async with client.post(f"{web.url}/items/{item_id}/act",
                               data={"action": "forward", "version": "1"}) as answer:
            assert answer.status == 403
    assert web.office.item(item_id).status is Status.IN_EDITING


async def test_refusals_have_their_status_and_the_persons_language(web: WebOffice) -> None:
    item_id = await claimed_item(web.office)
    editor, official = await browser_of(web, "editor"), await browser_of(web, "official")
    officer_en = await browser_of(web, "officer_en")
    async with editor, official, officer_en:
        async with editor.get(f"{web.url}/people") as answer:
            assert answer.status == 403 and "tidak berwenang" in await answer.text()
        async with editor.get(f"{web.url}/items/999") as answer:
            assert answer.status == 404 and "tidak ditemukan" in await answer.text()
        async with official.get(f"{web.url}/dashboard.xlsx") as answer:
            assert answer.status == 403
        async with officer_en.get(f"{web.url}/items/{item_id}") as answer:
            assert answer.status == 404 and "not found" in await answer.text()
        async with officer_en.get(f"{web.url}/no-such-page") as answer:
            assert answer.status == 404
        # Nobody else edits an item the editor claimed: the official only sees it.
        async with official.get(f"{web.url}/items/{item_id}") as answer:
            assert "form" in await answer.text() and 'id="editor"' not in await answer.text()


async def test_a_form_from_an_older_page_says_who_acted_and_changes_nothing(
        web: WebOffice) -> None:
    office = web.office
    item_id = await claimed_item(office)
    client = await browser_of(web, "editor")
    async with client:
        fields = await form_of(client, f"{web.url}/items/{item_id}")
        await office.double.send_command(office.editor, "judul", f"{item_id} Judul dari bot")
        await office.double.wait_for_message(office.editor, contains="judul disimpan")
        async with client.post(f"{web.url}/items/{item_id}/save",
                               data=fields | {"title": "Judul dari web"}) as answer:
            assert answer.status == 409
            text = await answer.text()
    assert "Eko Editor" in text and "Tidak ada yang diubah" in text
    assert office.item(item_id).title == "Judul dari bot"


async def test_a_step_the_workflow_refuses_is_explained(web: WebOffice) -> None:
    """Forwarding without what the checklist needs: the same rule as in the bot."""
    item_id = await claimed_item(web.office)
    client = await browser_of(web, "editor")
    async with client:
        fields = await form_of(client, f"{web.url}/items/{item_id}")
        async with client.post(f"{web.url}/items/{item_id}/act",
                               data=fields | {"action": "forward"}) as answer:
            assert answer.status == 400
            assert "Tidak ada yang diubah" in await answer.text()
    assert web.office.item(item_id).status is Status.IN_EDITING


async def test_the_dashboard_downloads_as_xlsx_and_csv(web: WebOffice) -> None:
    client = await browser_of(web, "admin")
    async with client:
        async with client.get(f"{web.url}/dashboard.xlsx?period=week") as answer:
            assert answer.status == 200
            assert "attachment" in answer.headers["Content-Disposition"]
            assert (await answer.read())[:2] == b"PK"  # a zip: the workbook
        async with client.get(f"{web.url}/dashboard.csv") as answer:
            assert answer.status == 200
            assert (await answer.text()).startswith("kelompok,nama")


async def test_every_page_has_the_security_headers(web: WebOffice) -> None:
    client = await browser_of(web, "admin")
    async with client, client.get(f"{web.url}/") as answer:
        policy = answer.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert answer.headers["Referrer-Policy"] == "no-referrer"
        assert "<script>" not in await answer.text()


async def test_web_sends_a_sign_in_link_that_signs_in(web: WebOffice) -> None:
    office = web.office
    await office.double.send_command(office.editor, "web")
    message = await office.double.wait_for_message(office.editor, contains="/login/")
    link = re.search(r"http://\S+/login/\S+", message.plain or "")
    assert link is not None and link.group(0).startswith(web.url)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as client, \
            client.get(link.group(0)) as answer:
        assert answer.status == 200 and "Item yang sedang berjalan" in await answer.text()
    # Officers do not have /web: the table says who may run it.
    await office.double.send_command(office.officer, "web")
    refused = await office.double.wait_for_message(office.officer, contains="")
    assert "/login/" not in (refused.plain or "")


async def test_mini_app_buttons_only_with_a_public_https_address(tmp_path: Path) -> None:
    async for web in start_web_office(tmp_path, public_url="https://warta.example.go.id"):
        office = web.office
        item_id = await claimed_item(office)
        panel = next(m for m in reversed(office.double.messages(office.editor))
                     if m.buttons and f"#{item_id}" in (m.plain or ""))
        apps = [b["web_app"]["url"] for row in panel.buttons for b in row if "web_app" in b]
        assert apps == [f"https://warta.example.go.id/app?item={item_id}"]
        # The IT team's card is in a group, where Telegram allows no web_app button.
        card = next(m for m in office.double.messages(IT_CHAT) if f"#{item_id}" in (m.plain or ""))
        assert not [b for row in card.buttons for b in row if "web_app" in b]
        forwarded(office, item_id)
        await office.flush()
        decision = await office.double.wait_for_message(office.official, contains=f"#{item_id}")
        assert any("web_app" in b for row in decision.buttons for b in row)
        menu = office.double.menu_button(office.official)
        assert menu is not None and menu["web_app"]["url"] == "https://warta.example.go.id/app"


async def test_category_tags_and_schedule_are_saved_from_the_editor(web: WebOffice) -> None:
    item_id = await claimed_item(web.office)
    client = await browser_of(web, "editor")
    async with client:
        fields = await form_of(client, f"{web.url}/items/{item_id}")
        # Day first, as the office writes it (and as Indonesians write the time: 09.00).
        changes = {"category": "Berita Desa", "tags": "posyandu, kesehatan ,",
                   "publish_at": "1/12/2026 09.00"}
        async with client.post(f"{web.url}/items/{item_id}/save",
                               data=fields | changes) as answer:
            assert answer.status == 200 and "Tersimpan" in await answer.text()
            page = await answer.text()
        assert 'value="01/12/2026 09:00"' in page and 'value="kesehatan, posyandu"' in page
        for wrong in ("besok pagi", "31/02/2026 09:00", "12/01/2026"):
            bad = await form_of(client, f"{web.url}/items/{item_id}")
            async with client.post(f"{web.url}/items/{item_id}/save",
                                   data=bad | {"publish_at": wrong}) as answer:
                assert answer.status == 400, wrong
                assert "misalnya 01/12/2026 09:00" in await answer.text()
        # ISO, as /jadwal takes it, is the same moment.
        iso = await form_of(client, f"{web.url}/items/{item_id}")
        async with client.post(f"{web.url}/items/{item_id}/save",
                               data=iso | {"publish_at": "2026-12-02 14:30"}) as answer:
            assert 'value="02/12/2026 14:30"' in await answer.text()
    item = web.office.item(item_id)
    assert item.category == "Berita Desa" and item.tags == ["kesehatan", "posyandu"]
    assert item.publish_at is not None
    assert f"{item.publish_at.astimezone(web.office.warta.zone):%d/%m %H:%M}" == "02/12 14:30"


async def test_what_each_photo_shows_is_saved_from_the_editor(web: WebOffice) -> None:
    item_id = await claimed_item(web.office)
    photos = [m for m in web.office.item(item_id).media if m.kind == "photo"]
    client = await browser_of(web, "editor")
    async with client:
        async with client.get(f"{web.url}/items/{item_id}") as answer:
            # The album's caption is what its first photo shows, until the editor says better.
            assert f'name="alt-{photos[0].id}" maxlength="300" value="Posyandu di Desa Ampah"' \
                in await answer.text()
        fields = await form_of(client, f"{web.url}/items/{item_id}")
        async with client.post(f"{web.url}/items/{item_id}/save",
                               data=fields | {f"alt-{photos[0].id}": "Kader menimbang balita"}
                               ) as answer:
            assert answer.status == 200 and "Tersimpan" in await answer.text()
            assert 'value="Kader menimbang balita"' in await answer.text()
        bad = await form_of(client, f"{web.url}/items/{item_id}")
        async with client.post(f"{web.url}/items/{item_id}/save",
                               data=bad | {f"alt-{photos[0].id}": "x" * 400}) as answer:
            assert answer.status == 400
    assert web.office.item(item_id).media[0].alt_text == "Kader menimbang balita"


async def test_a_photos_caption_is_saved_once_and_shown_as_the_website_gets_it(
        web: WebOffice) -> None:
    item_id = await claimed_item(web.office)
    photos = [m for m in web.office.item(item_id).media if m.kind == "photo"]
    edits_before = len(edit_events(web, item_id))
    client = await browser_of(web, "editor")
    async with client:
        fields = await form_of(client, f"{web.url}/items/{item_id}")
        async with client.post(f"{web.url}/items/{item_id}/save", data=fields | {
                f"caption-{photos[1].id}": "Kader posyandu menimbang balita",
                f"alt-{photos[1].id}": "Seorang kader menimbang bayi"}) as answer:
            assert answer.status == 200 and "Tersimpan" in await answer.text()
        async with client.get(f"{web.url}/items/{item_id}/preview") as answer:
            post = await answer.text()
        assert ('<figcaption class="wp-element-caption">Kader posyandu menimbang balita'
                '</figcaption>') in post
        bad = await form_of(client, f"{web.url}/items/{item_id}")
        async with client.post(f"{web.url}/items/{item_id}/save",
                               data=bad | {f"caption-{photos[0].id}": "x" * 400}) as answer:
            assert answer.status == 400
            assert "300 karakter" in await answer.text()
    media = {m.id: m for m in web.office.item(item_id).media}
    assert media[photos[1].id].caption == "Kader posyandu menimbang balita"
    assert media[photos[1].id].alt_text == "Seorang kader menimbang bayi"
    assert media[photos[0].id].caption == ""
    # Caption and alt text in one save: one edit in the item's history.
    edits = edit_events(web, item_id)
    assert len(edits) == edits_before + 1
    assert edits[-1].data["captions"] == {str(photos[1].id): "Kader posyandu menimbang balita"}


def edit_events(web: WebOffice, item_id: int) -> list[AuditEvent]:
    with web.office.warta.sessions() as session:
        return [event for event in history(session, item_id)
                if event.action == "workflow.edit"]


CARD = re.compile(r'<a class="card([^"]*)" href="/items/(\d+)"')


def column_cards(page: str, state: str) -> list[tuple[int, str]]:
    """The cards of one board column, in order: (item id, their classes)."""
    column = page.split(f'data-state="{state}"', 1)[1].split("</section>", 1)[0]
    return [(int(number), classes) for classes, number in CARD.findall(column)]


async def test_a_long_board_column_shows_its_late_items_first_and_counts_the_rest(
        web: WebOffice) -> None:
    office, now = web.office, web.clock.now
    wf = office.warta.workflow
    with office.warta.sessions() as session:
        for number in range(23):
            item = wf.create_draft(session, office.person("officer"), now,
                                   description=f"Kegiatan {number}")
            wf.submit(session, office.person("officer"), item.id, now)
        # Sent a week ago and still unclaimed: late, so first though it is the newest.
        week_ago = now - timedelta(days=7)
        late = wf.create_draft(session, office.person("officer_en"), week_ago,
                               description="Kegiatan lama")
        wf.submit(session, office.person("officer_en"), late.id, week_ago)
    editor, officer_en = await browser_of(web, "editor"), await browser_of(web, "officer_en")
    async with editor, officer_en:
        async with editor.get(f"{web.url}/") as answer:
            page = await answer.text()
        cards = column_cards(page, "submitted")
        assert len(cards) == BOARD_PAGE and cards[0] == (late.id, " late")
        assert "+4 lainnya" in page
        more = re.search(r'<a class="more" href="([^"]+)"', page)
        assert more is not None
        async with editor.get(f"{web.url}{html.unescape(more.group(1))}") as answer:
            assert len(column_cards(await answer.text(), "submitted")) == 24
        person = office.person("officer_en").id
        async with editor.get(f"{web.url}/?person={person}") as answer:
            assert column_cards(await answer.text(), "submitted") == [(late.id, " late")]
        # An officer's board holds their own items only.
        async with officer_en.get(f"{web.url}/") as answer:
            assert column_cards(await answer.text(), "submitted") == [
                (late.id, " late mine")]
