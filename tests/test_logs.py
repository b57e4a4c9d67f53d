"""Structured logs: one line (or JSON object) per event, secrets never shown."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from telesim import DEFAULT_TOKEN
from tests.warta_cli import WEBSITE_PASSWORD, run, write_config
from workflow import logs
from workflow.config import Settings, TelegramSettings, WebsiteSettings


def log_settings() -> Settings:
    return Settings(
        telegram=TelegramSettings(token=DEFAULT_TOKEN, webhook_secret="hook-secret-123"),
        website=WebsiteSettings(username="editor", password=WEBSITE_PASSWORD),
    )


@pytest.fixture
def log_stream() -> Iterator[Callable[..., io.StringIO]]:
    handlers: list[logging.Handler] = []

    def install(**options: Any) -> io.StringIO:
        stream = io.StringIO()
        handlers.append(logs.setup_logging(log_settings(), stream=stream, **options))
        return stream

    yield install
    for handler in handlers:
        logs.remove_logging(handler)


def test_logs_never_show_secrets(log_stream: Callable[..., io.StringIO]) -> None:
    from telegram.error import InvalidToken

    stream = log_stream(json_lines=False)
    token, secret_part = DEFAULT_TOKEN, DEFAULT_TOKEN.split(":")[1]
    log = logging.getLogger("warta.bot")
    url = f"http://127.0.0.1:1/bot{token}/getUpdates"
    logging.getLogger("httpx").info('HTTP Request: POST %s "HTTP/1.1 200 OK"', url)
    try:
        try:
            raise ConnectionError(f"cannot reach {url}")
        except ConnectionError as error:
            # What PTB's Bot.initialize raises: the token inside the message.
            raise InvalidToken(f"The token `{token}` was rejected by the server.") from error
    except InvalidToken:
        log.exception("update failed for %s", secret_part, extra={"item": 12, "actor": 1001})
    log.warning("wordpress answered for %s", WEBSITE_PASSWORD.replace(" ", ""))
    log.info("webhook secret %s", "hook-secret-123", extra={"header": f"Bearer {token}"})
    with logs.bind(item=7, actor=2001):
        log.info("approved")
    out = stream.getvalue()
    print(out, file=sys.stderr)
    lines = out.splitlines()
    assert len(lines) == 4  # one line per event (httpx INFO is not written at all)
    for secret in (token, secret_part, WEBSITE_PASSWORD, WEBSITE_PASSWORD.replace(" ", ""),
                   "hook-secret-123"):
        assert secret not in out
    first = lines[0]
    assert first.startswith("ts=") and " level=error logger=warta.bot item=12 actor=1001 " in first
    assert 'msg="update failed for ***"' in first
    assert "The token `***` was rejected" in first
    assert "cannot reach http://127.0.0.1:1/bot***/getUpdates" in first
    assert "Traceback" in first and "\\n" in first
    assert 'header="Bearer ***"' in lines[2]
    assert " item=7 actor=2001 msg=approved" in lines[3]


def test_the_derived_webhook_secret_is_redacted_too() -> None:
    from workflow.config import derived_secret

    settings = Settings(telegram=TelegramSettings(token=DEFAULT_TOKEN))
    redactor = logs.RedactSecrets(logs.secrets_of(settings))
    assert redactor.redact(f"X-Telegram-Bot-Api-Secret-Token: {derived_secret(DEFAULT_TOKEN)}") \
        == "X-Telegram-Bot-Api-Secret-Token: ***"


def test_logs_as_json_lines(log_stream: Callable[..., io.StringIO]) -> None:
    stream = log_stream(json_lines=True)
    with logs.bind(actor=1001):
        logging.getLogger("publisher.worker").error(
            "publish %s failed: %s", "warta-3", f"401 for {WEBSITE_PASSWORD}", extra={"item_id": 3})
    event = json.loads(stream.getvalue())
    assert event["level"] == "error" and event["logger"] == "publisher.worker"
    assert event["item"] == 3 and event["actor"] == 1001
    assert event["msg"] == "publish warta-3 failed: 401 for ***"


def test_run_sets_up_structured_logging(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path / "config.toml", database=f"sqlite:///{tmp_path}/w.db",
                          media=tmp_path / "media")
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        assert run(config, "run") == 1  # not migrated: refused before the bot starts
        ours = [h for h in root.handlers if h not in before]
        assert len(ours) == 1 and isinstance(ours[0].formatter, logs.StructuredFormatter)
        assert any(isinstance(f, logs.RedactSecrets) for f in ours[0].filters)
        assert logging.getLogger("httpx").level == logging.WARNING
    finally:
        for handler in [h for h in root.handlers if h not in before]:
            logs.remove_logging(handler)
    assert "warta db upgrade" in capsys.readouterr().err

