"""Webhook mode: the double delivers updates by POST with the secret token; each is stored
before the 200 that acknowledges it; /healthz on the same server."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.inbox import SECRET_HEADER, WebhookOptions, WebhookServer, webhook_options
from tests.botkit import office_settings
from tests.test_bot_durable import (
    World,
    bot_process,
    open_world,
    start_warta_run,
    wait_rows,
    write_config,
)
from tests.test_bot_flow import editor_prepares, officer_sends_material
from workflow.config import DatabaseSettings, TelegramSettings, derived_secret
from workflow.context import Context
from workflow.models import OutboxMessage, Status
from workflow.transaction import transaction

SECRET = "rahasia-kantor_123"
HOOK = WebhookOptions(secret=SECRET)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with open_world(office_settings(tmp_path)) as opened:
        yield opened


async def post(url: str, body: Any, secret: str | None) -> int:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    async with aiohttp.ClientSession() as session, session.post(url, json=body,
                                                                headers=headers) as response:
        return response.status


async def get_json(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json()


async def test_whole_sop_through_the_webhook(world: World) -> None:
    double = world.double
    async with bot_process(world, webhook=HOOK) as (office, service):
        assert service.webhook is not None
        assert double.webhook_url == f"{service.webhook.url}/telegram"
        (registered,) = double.calls_to("setWebhook")
        assert registered.params["secret_token"] == SECRET
        assert int(registered.params["max_connections"]) == 1
        item_id = await officer_sends_material(office)
        await editor_prepares(office, item_id)
        decision = await double.wait_for_message(office.official, contains="Posyandu Desa Ampah")
        await double.click(office.official, decision, "✅ Setujui")
        await double.wait_for_message(office.official, contains="disetujui")
        await service.drained()
    assert office.item(item_id).status is Status.APPROVED
    assert double.webhook_errors == []
    assert not double.calls_to("getUpdates")
    rows = world.rows()
    assert [row.update_id for row in rows] == [update["update_id"] for update in double.updates]
    assert all(row.handled_at is not None and row.attempts == 1 for row in rows)


async def test_wrong_or_missing_secret_is_refused_and_changes_nothing(world: World) -> None:
    double = world.double
    async with bot_process(world, webhook=HOOK) as (office, service):
        assert service.webhook is not None
        url = f"{service.webhook.url}/telegram"
        forged = {"update_id": 1, "message": {
            "message_id": 1, "date": 1_700_000_000, "text": "/pengguna tambah 666 admin Eve",
            "chat": {"id": 4001, "type": "private"},
            "from": {"id": 4001, "is_bot": False, "first_name": "Ani"}}}
        assert await post(url, forged, "salah") == 403
        assert await post(url, forged, None) == 403
        assert await post(url, forged, SECRET.upper()) == 403
        assert await post(url, ["not", "an", "update"], SECRET) == 400
        await double.settle()
    assert world.rows() == []
    assert double.sent_to(world.users["admin"]) == []
    assert office.person("admin") is not None
    with Context(world.settings).sessions() as session:
        from workflow.people import find_by_telegram_id
        assert find_by_telegram_id(session, 666) is None


async def test_an_update_redelivered_after_a_lost_answer_is_handled_once(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stored, but the 200 never reached Telegram (proxy timeout): Telegram delivers the same
    update again, and it must not be handled twice."""
    double = world.double
    real = WebhookServer.on_update
    answers: list[int] = []
    redelivered = asyncio.Event()

    async def answer_lost_once(self: WebhookServer, request: web.Request) -> web.Response:
        response = await real(self, request)
        answers.append(response.status)
        if len(answers) == 1:
            return web.Response(status=504)
        redelivered.set()
        return response

    monkeypatch.setattr(WebhookServer, "on_update", answer_lost_once)
    async with bot_process(world, webhook=HOOK) as (office, service):
        await double.send_text(office.officer, "satu kali")
        await asyncio.wait_for(redelivered.wait(), 5)
        await double.wait_for_message(office.officer, contains="satu kali")
        await service.drained()
        await double.settle()
    assert answers[:2] == [200, 200]
    assert len(double.webhook_errors) == 1
    (row,) = world.rows()
    assert row.attempts == 1
    (draft,) = world.items_of("officer")
    assert draft.description == "satu kali"
    assert len([m for m in double.sent_to(world.users["officer"])
                if "Draf #" in (m.plain or "")]) == 1


async def test_healthz_reports_counts(world: World) -> None:
    async with bot_process(world, webhook=HOOK) as (office, service):
        assert service.webhook is not None
        warta = office.warta
        with warta.sessions() as session, transaction(session):
            # A notification not due for a day: it stays in the outbox while we look.
            session.add(OutboxMessage(kind="notify", target="webmaster", template="test",
                                      payload={}, idempotency_key="healthz-test",
                                      next_attempt_at=warta.now() + timedelta(days=1),
                                      created_at=warta.now()))
        status, body = await get_json(f"{service.webhook.url}/healthz")
    assert status == 200
    assert body == {"status": "ok", "database": "reachable", "pending_updates": 0,
                    "pending_notifications": 1, "pending_publications": 0}


async def test_healthz_is_503_when_the_database_is_gone(tmp_path: Path) -> None:
    settings = office_settings(tmp_path)
    (tmp_path / "db").mkdir()
    settings = dataclasses.replace(settings, database=DatabaseSettings(
        url=f"sqlite:///{tmp_path / 'db' / 'warta.db'}"))
    async with open_world(settings) as world, \
            bot_process(world, webhook=HOOK) as (office, service):
        assert service.webhook is not None
        health = f"{service.webhook.url}/healthz"
        assert (await get_json(health))[0] == 200
        for path in (tmp_path / "db").iterdir():
            path.unlink()
        (tmp_path / "db").rmdir()
        office.warta.engine.dispose()  # pooled connections would still see the deleted file
        status, body = await get_json(health)
        assert (status, body) == (503, {"status": "unavailable", "database": "unreachable"})


def test_webhook_options_from_settings() -> None:
    token = "123456:ABC-secret-token"
    assert webhook_options(TelegramSettings(token=token)) is None
    options = webhook_options(TelegramSettings(
        token=token, webhook_url="https://warta.example.go.id/bot/hook", webhook_port=9000))
    assert options is not None
    assert (options.url, options.path, options.port) == \
        ("https://warta.example.go.id/bot/hook", "/bot/hook", 9000)
    # No secret configured: one derived from the token, so the endpoint is never open.
    assert options.secret == derived_secret(token) and token not in options.secret
    assert len(options.secret) == 64
    bare = webhook_options(TelegramSettings(token=token, webhook_url="https://x.go.id",
                                            webhook_secret="s3cret"))
    assert bare is not None and (bare.path, bare.secret) == ("/telegram", "s3cret")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_warta_run_in_webhook_mode(world: World, tmp_path: Path) -> None:
    """`warta run` itself: registers the webhook with the secret, serves /healthz, handles
    a delivered update, stops cleanly on SIGTERM."""
    double = world.double
    port = free_port()
    config = write_config(world, tmp_path)
    config.write_text(config.read_text(encoding="utf-8").replace(
        'rate_limit = false', f'rate_limit = false\nwebhook_url = '
        f'"http://127.0.0.1:{port}/warta/telegram"\nwebhook_port = {port}\n'
        f'webhook_secret = "{SECRET}"'), encoding="utf-8")
    log_path = tmp_path / "warta.log"
    process = await start_warta_run(config, log_path)
    try:
        await double.wait_for("setWebhook", timeout=20)
        await double.send_text(world.users["officer"], "dari proses webhook")
        await double.wait_for_message(world.users["officer"], contains="dari proses webhook",
                                      timeout=10)
        await wait_rows(world, lambda rows: len(rows) == 1 and rows[0].handled_at is not None)
        status, body = await get_json(f"http://127.0.0.1:{port}/healthz")
        assert status == 200 and body["pending_updates"] == 0
        assert await post(f"http://127.0.0.1:{port}/warta/telegram", {"update_id": 5},
                          "salah") == 403
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 20)
    assert code == 0
    assert double.calls_to("setWebhook")[0].params["secret_token"] == SECRET
    assert double.webhook_errors == []
    output = log_path.read_text(encoding="utf-8")
    assert "bot stopped" in output and "wrong secret token" in output
    assert double.token not in output and SECRET not in output
