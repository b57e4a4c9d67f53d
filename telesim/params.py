"""Decode a Bot API request the way PTB encodes it: query, form, multipart or JSON."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from telesim.state import JSON, UploadedFile

# Form fields PTB sends as raw strings; every other field is a JSON-encoded value.
_TEXT_FIELDS = frozenset(
    {
        "text", "caption", "parse_mode", "callback_query_id", "file_id", "url", "secret_token",
        "inline_message_id", "action", "language_code", "business_connection_id",
        "message_effect_id", "ip_address", "emoji", "title", "description",
        "short_description", "name", "photo", "document", "video", "audio", "animation",
        "voice", "video_note", "sticker", "thumbnail", "cover",
    }
)  # fmt: skip


def _decode_field(name: str, value: str) -> Any:
    """PTB JSON-encodes every non-string parameter; undo that except for text fields."""
    if name in _TEXT_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value  # e.g. chat_id="@channel"


async def read_params(request: web.Request) -> tuple[JSON, dict[str, UploadedFile]]:
    """Decode query string, form-urlencoded, multipart or JSON bodies into typed params."""
    raw: dict[str, str] = dict(request.query)
    files: dict[str, UploadedFile] = {}
    if request.content_type == "application/json" and request.body_exists:
        body = await request.json()
        params: JSON = {k: _decode_field(k, v) for k, v in raw.items()}
        params.update(body if isinstance(body, dict) else {})
        return params, files
    if request.body_exists:
        form = await request.post()
        for name, value in form.items():
            if isinstance(value, web.FileField):
                data = value.file.read()
                files[name] = UploadedFile(name, value.filename, value.content_type, data)
            else:
                raw[name] = str(value)
    return {k: _decode_field(k, v) for k, v in raw.items()}, files
