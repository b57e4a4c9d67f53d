"""Telegram Mini App sign-in: checking the `initData` string Telegram hands the page.

The algorithm is Telegram's (core.telegram.org/bots/webapps, "Validating data received
via the Mini App"): the secret key is HMAC-SHA256 of the bot token keyed with the bytes
"WebAppData"; the data-check string is every field but `hash`, as `key=value` lines
sorted by key and joined by "\\n"; its HMAC-SHA256 under the secret key, in hex, must equal
`hash`. We compare in constant time and refuse data older than the configured age.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

MAX_LENGTH = 8192  # Telegram's initData is a few hundred bytes; refuse anything absurd


class InitDataRefused(Exception):
    """`reason`: malformed, signature, expired or no_user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class MiniAppUser:
    telegram_id: int
    first_name: str
    language_code: str
    start_param: str
    signed_at: datetime


def secret_key(bot_token: str) -> bytes:
    return hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()


def data_check_string(fields: dict[str, str]) -> str:
    return "\n".join(f"{key}={fields[key]}" for key in sorted(fields) if key != "hash")


def sign(fields: dict[str, str], bot_token: str) -> str:
    """The `hash` Telegram would put on `fields` (for tests and the demo's simulator)."""
    return hmac.new(secret_key(bot_token), data_check_string(fields).encode(),
                    hashlib.sha256).hexdigest()


def validate(init_data: str, bot_token: str, now: datetime, max_age: timedelta) -> MiniAppUser:
    """The Telegram user `init_data` vouches for, or InitDataRefused."""
    if not init_data or len(init_data) > MAX_LENGTH:
        raise InitDataRefused("malformed")
    try:
        pairs = parse_qsl(init_data, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise InitDataRefused("malformed") from None
    fields = dict(pairs)
    if len(fields) != len(pairs) or "hash" not in fields or "auth_date" not in fields:
        raise InitDataRefused("malformed")
    expected = sign(fields, bot_token)
    if not hmac.compare_digest(expected.encode(), fields["hash"].encode()):
        raise InitDataRefused("signature")
    try:
        signed_at = datetime.fromtimestamp(int(fields["auth_date"]), UTC)
    except (ValueError, OverflowError, OSError):
        raise InitDataRefused("malformed") from None
    if now - signed_at > max_age or signed_at - now > timedelta(minutes=5):
        raise InitDataRefused("expired")
    try:
        user = json.loads(fields.get("user", ""))
        telegram_id = int(user["id"])
    except (ValueError, KeyError, TypeError):
        raise InitDataRefused("no_user") from None
    return MiniAppUser(telegram_id, str(user.get("first_name", "")),
                       str(user.get("language_code", "")), fields.get("start_param", ""),
                       signed_at)
