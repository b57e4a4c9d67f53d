"""Mini App initData: Telegram's documented check, and every way a forged one fails."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode

import pytest

from web.initdata import InitDataRefused, validate

TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"
NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _init_data(token: str = TOKEN, signed: datetime = NOW, **extra: str) -> str:
    fields = {"query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
              "user": json.dumps({"id": 279058397, "first_name": "Vladislav",
                                  "language_code": "id"}, separators=(",", ":")),
              "auth_date": str(int(signed.timestamp())), **extra}
    # Written out from Telegram's documentation, independently of web.initdata.sign.
    check = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()))
    key = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(key, check.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields, quote_via=quote)


def test_initdata_signed_as_telegram_documents_names_the_user() -> None:
    user = validate(_init_data(start_param="item-7"), TOKEN, NOW + timedelta(minutes=5), HOUR)
    assert (user.telegram_id, user.first_name, user.language_code) == \
        (279058397, "Vladislav", "id")
    assert user.start_param == "item-7" and user.signed_at == NOW


@pytest.mark.parametrize(("init_data", "reason"), [
    (_init_data(token="654321:another-bot-token"), "signature"),  # another bot's
    (_init_data().replace("Vladislav", "Mallory"), "signature"),  # forged after signing
    (_init_data(signed=NOW - HOUR - timedelta(seconds=1)), "expired"),
    (_init_data(signed=NOW + timedelta(hours=2)), "expired"),
    ("", "malformed"),
    ("hash=abc", "malformed"),
    (_init_data() + "&hash=00", "malformed"),  # two hashes
    ("x" * 9000, "malformed"),
])
def test_forged_expired_or_malformed_initdata_is_refused(init_data: str, reason: str) -> None:
    with pytest.raises(InitDataRefused) as refused:
        validate(init_data, TOKEN, NOW, HOUR)
    assert refused.value.reason == reason


def test_initdata_without_a_user_is_refused() -> None:
    fields = {"auth_date": str(int(NOW.timestamp()))}
    check = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()))
    key = hmac.new(b"WebAppData", TOKEN.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(key, check.encode(), hashlib.sha256).hexdigest()
    with pytest.raises(InitDataRefused) as refused:
        validate(urlencode(fields), TOKEN, NOW, HOUR)
    assert refused.value.reason == "no_user"
