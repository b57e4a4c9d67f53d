"""Warta web in a real browser (Debian's Chromium driven by Playwright), beside the real bot.

Each test runs the bot against the Bot API double and the pages on loopback, signs in the
way people do (a /web link, or Telegram's initData in the Mini App) and checks what the
person sees, in the page and on the Telegram cards.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.webkit import (
    WebOffice,
    a_month_of_work,
    claimed_item,
    forwarded,
    init_data,
    published,
    start_web_office,
)
from workflow.models import Status
from workflow.people import set_language

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PHONE = {"width": 360, "height": 740}
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"

try:
    from playwright.async_api import Browser, Page, async_playwright
except ImportError:  # the dev extra not installed
    async_playwright = None


def browser_or_skip() -> None:
    missing = "" if CHROMIUM.exists() else f"{CHROMIUM} (apt install chromium)"
    if async_playwright is None:
        missing = "the playwright package (pip install -e '.[dev]')"
    if not missing:
        return
    if os.environ.get("WARTA_REQUIRE_SERVERS") == "1":
        pytest.fail(f"browser tests need {missing} but WARTA_REQUIRE_SERVERS=1")
    pytest.skip(f"browser tests need {missing}")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    browser_or_skip()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield launched
        await launched.close()


@pytest.fixture
async def web(tmp_path: Path) -> AsyncIterator[WebOffice]:
    async for running in start_web_office(tmp_path):
        yield running


async def phone(browser: Browser) -> Page:
    """A fresh phone-sized browser with no cookies."""
    context = await browser.new_context(viewport=PHONE, device_scale_factor=1)
    page = await context.new_page()
    page.set_default_timeout(20_000)
    return page


async def signed_in(browser: Browser, web: WebOffice, key: str) -> Page:
    page = await phone(browser)
    await page.goto(web.login_link(key))
    assert page.url == f"{web.url}/"
    return page


def card_texts(web: WebOffice, chat: Any, item_id: int) -> list[str]:
    return [m.plain or "" for m in web.office.double.messages(chat)
            if f"#{item_id}" in (m.plain or "") and m.edit_date is not None]


async def test_editor_edits_on_the_web_and_the_telegram_cards_follow(
        browser: Browser, web: WebOffice) -> None:
    office = web.office
    item_id = await claimed_item(office)
    photos = [m.id for m in office.item(item_id).media]
    page = await signed_in(browser, web, "editor")
    await page.click(f"a.card[data-item='{item_id}']")
    assert await page.locator("h1").inner_text() == f"#{item_id} sedang diedit"
    await page.fill("input[name=title]", "Posyandu Desa Ampah dari web")
    await page.fill("textarea[name=body]", "Empat puluh balita ditimbang hari ini.")
    await page.check(f"input[name=cover][value='{photos[2]}']")
    await page.click(f"li[data-media='{photos[0]}'] button.down")
    await page.click("button[name=save]")
    await page.wait_for_selector("p.saved")
    assert "Tersimpan" in await page.locator("p.saved").inner_text()
    assert await page.input_value("input[name=title]") == "Posyandu Desa Ampah dari web"
    item = office.item(item_id)
    assert item.title == "Posyandu Desa Ampah dari web"
    assert item.body == "Empat puluh balita ditimbang hari ini."
    assert item.cover is not None and item.cover.id == photos[2]
    assert [m.id for m in item.media] == [photos[1], photos[0], photos[2]]
    # The editor's panel and the IT team's card were edited to the new title.
    await office.flush()
    await office.double.wait_until(lambda: any(
        "Posyandu Desa Ampah dari web" in text
        for text in card_texts(web, office.editor, item_id)))
    await office.double.wait_until(lambda: any(
        "Posyandu Desa Ampah dari web" in text
        for text in card_texts(web, office.it_chat, item_id)))


async def test_official_approves_in_the_mini_app(browser: Browser, web: WebOffice) -> None:
    office = web.office
    item_id = await claimed_item(office)
    forwarded(office, item_id)
    await office.flush()
    data = init_data("x", 3001, web.clock.now, start_param=f"item-{item_id}")
    page = await phone(browser)
    await page.goto(f"{web.url}/app#tgWebAppData={data_fragment(data)}")
    await page.wait_for_url(f"{web.url}/items/{item_id}")
    assert "menunggu persetujuan pejabat" in await page.locator("h1").inner_text()
    await page.click("button.approve")
    await page.wait_for_url(f"{web.url}/items/{item_id}")
    assert "disetujui" in await page.locator("h1").inner_text()
    item = office.item(item_id)
    assert item.status is Status.APPROVED
    # The other official's card lost its buttons, like after a decision in Telegram.
    await office.flush()
    await office.double.wait_until(lambda: all(
        not m.buttons for m in office.double.messages(office.official2)
        if f"#{item_id}" in (m.plain or "")))


def data_fragment(data: str) -> str:
    """initData inside the fragment Telegram opens a Mini App with (percent-encoded once
    more, as Telegram's clients do)."""
    from urllib.parse import quote

    return quote(data, safe="")


@pytest.mark.parametrize("forgery", ["forged", "expired", "other_bot"])
async def test_the_mini_app_refuses_initdata_it_cannot_trust(
        browser: Browser, web: WebOffice, forgery: str) -> None:
    office = web.office
    item_id = await claimed_item(office)
    forwarded(office, item_id)
    now = web.clock.now
    data = {
        "forged": init_data("x", 3001, now).replace("id%22%3A3001", "id%22%3A4001"),
        "expired": init_data("x", 3001, now - timedelta(hours=2)),
        "other_bot": init_data("another bot's token", 3001, now),
    }[forgery]
    page = await phone(browser)
    await page.goto(f"{web.url}/app?item={item_id}#tgWebAppData={data_fragment(data)}")
    error = page.locator("#miniapp-error")
    await error.wait_for(state="visible")
    assert "tidak sah" in await error.inner_text()
    assert await page.context.cookies() == []
    answer = await page.goto(f"{web.url}/items/{item_id}")
    assert answer is not None and answer.status == 401
    assert office.item(item_id).status is Status.AWAITING_APPROVAL


async def test_an_officer_opening_the_editor_is_refused(browser: Browser,
                                                         web: WebOffice) -> None:
    office = web.office
    item_id = await claimed_item(office)
    page = await signed_in(browser, web, "officer")
    answer = await page.goto(f"{web.url}/items/{item_id}")
    assert answer is not None and answer.status == 403
    assert "tidak berwenang" in await page.locator(".refused").inner_text()
    assert await page.locator("form#editor").count() == 0
    # Another officer's item is not there at all for them (ids cannot be probed), and
    # they are told so in their language.
    english = await signed_in(browser, web, "officer_en")
    answer = await english.goto(f"{web.url}/items/{item_id}")
    assert answer is not None and answer.status == 404
    assert "not found" in await english.locator(".refused").inner_text()


async def test_the_dashboard_draws_the_month(browser: Browser, web: WebOffice) -> None:
    a_month_of_work(web)
    page = await signed_in(browser, web, "admin")
    await page.click("a[href='/dashboard']")
    charts = page.locator("figure.chart")
    assert await charts.count() == 4
    for key in ("on_time", "stage_time", "sections", "states"):
        bars = page.locator(f"figure[data-chart='{key}'] svg rect")
        assert await bars.count() >= 2, key
        box = await page.locator(f"figure[data-chart='{key}'] svg").bounding_box()
        assert box is not None and 0 < box["width"] <= PHONE["width"], key
    sections = await page.locator("figure[data-chart='sections']").inner_text()
    assert "Bidang PMD" in sections and "Sekretariat" in sections
    assert "Foto kurang jelas" in await page.locator("main").inner_text()
    async with page.expect_download() as waiting:
        await page.click("a[href^='/dashboard.xlsx']")
    download = await waiting.value
    assert download.suggested_filename.endswith(".xlsx")


async def test_a_stale_decision_page_says_who_decided_and_changes_nothing(
        browser: Browser, web: WebOffice) -> None:
    office = web.office
    item_id = await claimed_item(office)
    forwarded(office, item_id)
    page = await signed_in(browser, web, "official")
    await page.goto(f"{web.url}/items/{item_id}")
    with office.warta.sessions() as session:
        office.warta.workflow.reject(session, office.person("official2"), item_id,
                                     web.clock.now, "Bukan kegiatan dinas")
    await page.click("button.approve")
    refusal = await page.locator(".refused").inner_text()
    assert "Bu Wati" in refusal and "Tidak ada yang diubah" in refusal
    item = office.item(item_id)
    assert item.status is Status.REJECTED


async def step_with_note(browser: Browser, web: WebOffice, key: str, item_id: int,
                         action: str, note: str) -> Page:
    """`key` signs in, opens the item's page and takes `action` with `note` from its
    button; the page is the item's again."""
    page = await signed_in(browser, web, key)
    await page.goto(f"{web.url}/items/{item_id}")
    await page.fill(f"form:has(button.{action}) textarea[name=note]", note)
    await page.click(f"button.{action}")
    await page.wait_for_url(f"{web.url}/items/{item_id}")
    return page


async def test_an_official_takes_a_published_item_down_from_its_page(
        browser: Browser, web: WebOffice) -> None:
    office = web.office
    item_id = await claimed_item(office)
    published(office, item_id)
    await office.flush()
    page = await step_with_note(browser, web, "official", item_id, "take_down",
                                "Data jumlah balita keliru, menunggu data puskesmas")
    assert "sedang ditarik dari situs" in await page.locator("h1").inner_text()
    assert await page.locator("button.take_down").count() == 0
    item = office.item(item_id)
    assert item.status is Status.WITHDRAWING
    # The IT team's card shows the take-down, as after /tarik in Telegram.
    await office.flush()
    await office.double.wait_until(lambda: any(
        "ditarik" in text for text in card_texts(web, office.it_chat, item_id)))


async def test_an_editor_opens_a_correction_from_the_published_items_page(
        browser: Browser, web: WebOffice) -> None:
    office = web.office
    item_id = await claimed_item(office)
    published(office, item_id)
    page = await step_with_note(browser, web, "editor", item_id, "open_correction",
                                "Jumlah balita 42, bukan 40")
    # Back in editing, with the editor's form: the same post is updated once approved.
    assert "sedang diedit" in await page.locator("h1").inner_text()
    assert await page.locator("form#editor").count() == 1
    item = office.item(item_id)
    assert item.status is Status.IN_EDITING and item.remote_id == "77"
    await office.flush()
    await office.double.wait_until(lambda: any(
        "sedang diedit" in text for text in card_texts(web, office.it_chat, item_id)))


async def test_an_editor_may_not_take_an_item_down(browser: Browser, web: WebOffice) -> None:
    """The page offers the editor no Tarik, and a crafted form meets the bot's refusal."""
    office = web.office
    item_id = await claimed_item(office)
    published(office, item_id)
    page = await signed_in(browser, web, "editor")
    await page.goto(f"{web.url}/items/{item_id}")
    assert await page.locator("button.open_correction").count() == 1
    assert await page.locator("button.take_down").count() == 0
    answer = await page.request.post(f"{web.url}/items/{item_id}/act", form={
        "csrf": await page.locator("input[name=csrf]").first.input_value(),
        "version": await page.locator("input[name=version]").first.input_value(),
        "action": "take_down", "note": "Saya tarik saja"})
    assert answer.status == 403
    refusal = await answer.text()
    assert "tidak berwenang" in refusal and "Tidak ada yang diubah" in refusal
    assert office.item(item_id).status is Status.PUBLISHED


async def test_screenshots_of_every_page_at_phone_width(browser: Browser, web: WebOffice,
                                                        tmp_path: Path) -> None:
    """Every page at 360 px, in Indonesian and English; kept in docs/screenshots when
    WARTA_SCREENSHOTS=1 (the README shows them)."""
    office = web.office
    a_month_of_work(web)
    editing = await claimed_item(office)
    deciding = await claimed_item(office, "Rapat koordinasi desa")
    forwarded(office, deciding)
    on_the_site = await claimed_item(office, "Penyaluran bantuan sosial")
    published(office, on_the_site)
    await office.flush()
    pages = {
        "board": ("admin", "/"), "editor": ("editor", f"/items/{editing}"),
        "preview": ("official", f"/items/{deciding}/preview"),
        "decision": ("official", f"/items/{deciding}"),
        "history": ("official", f"/items/{deciding}/history"),
        "published": ("official", f"/items/{on_the_site}"),
        "dashboard": ("admin", "/dashboard"), "people": ("admin", "/people"),
    }
    shots = tmp_path / "screenshots"
    shots.mkdir()
    for lang in ("id", "en"):
        signed: dict[str, Page] = {}
        for key in ("admin", "editor", "official"):
            with office.warta.sessions() as session:
                set_language(session, office.person(key), web.clock.now, lang)
            signed[key] = await signed_in(browser, web, key)
        for name, (key, path) in pages.items():
            page = signed[key]
            answer = await page.goto(f"{web.url}{path}")
            assert answer is not None and answer.status == 200, (name, lang)
            await page.screenshot(path=str(shots / f"{name}-{lang}.png"), full_page=True)
        for page in signed.values():
            await page.context.close()
    login = await phone(browser)
    await login.goto(f"{web.url}/login/not-a-link")
    await login.screenshot(path=str(shots / "login-refused-id.png"), full_page=True)
    editor = await signed_in(browser, web, "officer")
    answer = await editor.goto(f"{web.url}/people")
    assert answer is not None and answer.status == 403
    await editor.screenshot(path=str(shots / "refused-id.png"), full_page=True)
    assert len(list(shots.glob("*.png"))) == 2 * len(pages) + 2
    if os.environ.get("WARTA_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for shot in shots.glob("*.png"):
            shutil.copy(shot, SCREENSHOTS / shot.name)
