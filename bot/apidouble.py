"""A Telegram Bot API double served over HTTP on loopback.

The real python-telegram-bot ``Application`` talks to it through its normal HTTP stack::

    async with BotApiDouble() as double:
        officer = double.user(1001, "Sari")
        app = double.app_builder().build()
        app.add_handler(MessageHandler(filters.TEXT, echo))
        async with double.running(app):
            await double.send_text(officer, "halo")
            reply = await double.wait_for_message(officer)
            assert reply.text == "halo"
        assert not double.unhandled

The double keeps a model of the chats: every message the bot sends or edits is stored per
chat (``sent_to``, ``message``), every HTTP call is recorded (``calls``, ``wait_for``), and
updates are injected on behalf of simulated users (``send_text``, ``send_photo``,
``press_button`` ...).  It answers like the real server where that catches bugs: unknown chats,
blocked users, oversized texts, broken HTML, "message is not modified", 20 MB download cap,
album sizes.  ``python -m bot.apidouble --port N`` serves it standalone with a small
``/_control`` HTTP API (see ``ControlClient``) for tests that run the bot as a subprocess.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import re
import shutil
import signal
import socket
import tempfile
import time
import traceback
import urllib.request
import warnings
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from http import HTTPStatus
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp
from aiohttp import web
from PIL import Image

if TYPE_CHECKING:
    from telegram.ext import Application
    from telegram.ext._applicationbuilder import InitApplicationBuilder

__all__ = [
    "CLOUD_DOWNLOAD_LIMIT",
    "DEFAULT_TOKEN",
    "SEND_METHODS",
    "ApiCall",
    "ApiError",
    "BotApiDouble",
    "ControlClient",
    "SimChat",
    "SimUser",
    "StoredFile",
    "StoredMessage",
    "UploadedFile",
    "WaitTimeout",
    "application_builder",
    "render_html",
    "running",
]

JSON = dict[str, Any]
T = TypeVar("T")

DEFAULT_TOKEN = "123456789:WARTA-test-token-for-the-bot-api-double"
#: The cloud Bot API refuses getFile above this size; a self-hosted server does not.
CLOUD_DOWNLOAD_LIMIT = 20 * 1024 * 1024
CLOUD_UPLOAD_LIMIT = 50 * 1024 * 1024
LOCAL_UPLOAD_LIMIT = 2000 * 1024 * 1024
MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
#: Methods that create messages in a chat (what ``wait_for_message`` listens to).
SEND_METHODS = ("sendMessage", "sendPhoto", "sendDocument", "sendVideo", "sendMediaGroup")

# Without allowed_updates, Telegram delivers everything except these.
_NOT_DELIVERED_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
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
_BUTTON_ACTIONS = frozenset(
    {
        "callback_data", "url", "web_app", "login_url", "switch_inline_query",
        "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
        "callback_game", "pay",
    }
)  # fmt: skip
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
_LEADING_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]+)?")
_FILE_PREFIX = {"photo": "AgAC", "video": "BAAC", "document": "BQAC"}
_FILE_FOLDER = {"photo": "photos", "video": "videos", "document": "documents"}
_FILE_SUFFIX = {"photo": ".jpg", "video": ".mp4", "document": ""}
_THUMB_SIDES = (90, 320, 800)  # Telegram's "s", "m" and "x" photo sizes
_MAX_THUMBNAILED_PIXELS = 40_000_000  # don't decode huge (or bomb) images just for thumbnails
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
_BAD_QUERY = "Bad Request: query is too old and response timeout expired or query ID is invalid"


# --------------------------------------------------------------------------- model objects


class ApiError(Exception):
    """A Bot API error answer: ``{"ok": false, "error_code": status, "description": ...}``."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def body(self) -> JSON:
        """The JSON body Telegram would send for this error."""
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


class WaitTimeout(AssertionError):
    """Raised by the ``wait_*`` helpers; an AssertionError so pytest reports it as a failure."""


@dataclass
class SimUser:
    """A simulated Telegram user; its private chat with the bot has the same id."""

    id: int
    first_name: str
    language_code: str | None = "id"
    username: str | None = None
    last_name: str | None = None
    #: When true, sending to this user's chat fails with 403 like a user who blocked the bot.
    blocked: bool = False

    @property
    def chat_id(self) -> int:
        """The id of the private chat with this user."""
        return self.id

    def to_api(self) -> JSON:
        """The Bot API ``User`` object."""
        api: JSON = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if getattr(self, key) is not None:
                api[key] = getattr(self, key)
        return api

    def chat_api(self) -> JSON:
        """The Bot API ``Chat`` object of the private chat with this user."""
        api: JSON = {"id": self.id, "type": "private", "first_name": self.first_name}
        for key in ("last_name", "username"):
            if getattr(self, key) is not None:
                api[key] = getattr(self, key)
        return api


@dataclass
class SimChat:
    """A simulated group or supergroup (negative id), e.g. the IT team's chat."""

    id: int
    title: str
    type: str = "supergroup"
    username: str | None = None

    @property
    def chat_id(self) -> int:
        """The chat's id (same as ``id``; for symmetry with ``SimUser``)."""
        return self.id

    def to_api(self) -> JSON:
        """The Bot API ``Chat`` object."""
        api: JSON = {"id": self.id, "type": self.type, "title": self.title}
        if self.username is not None:
            api["username"] = self.username
        return api


ChatRef = SimUser | SimChat | int
UserRef = SimUser | int


@dataclass(eq=False)
class UploadedFile:
    """A file the bot uploaded in a multipart request."""

    field: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass(eq=False)
class StoredFile:
    """A file the double can serve through getFile and the download route.

    Bytes live either in memory (``data``: injected bytes or the bot's own uploads, which are
    already in memory anyway) or on disk (``disk_path``: registered big files, streamed).
    ``file_size`` is what the Bot API declares and may differ from the real size on purpose.
    """

    file_id: str
    file_unique_id: str
    file_path: str
    file_size: int
    kind: str
    data: bytes | None = None
    disk_path: Path | None = None
    file_name: str | None = None
    mime_type: str | None = None

    def read(self) -> bytes:
        """The file's bytes (reads from disk for registered files; for tests only)."""
        if self.data is not None:
            return self.data
        assert self.disk_path is not None
        return self.disk_path.read_bytes()


@dataclass(eq=False)
class StoredMessage:
    """A message in a chat, as the double knows it; edits mutate it in place.

    ``text``/``caption`` are exactly what the bot sent (HTML markup included); ``plain`` is what
    the user sees (markup rendered away) and ``entities`` its formatting.
    """

    message_id: int
    chat: JSON
    sender: JSON
    date: int
    from_bot: bool
    text: str | None = None
    caption: str | None = None
    parse_mode: str | None = None
    plain: str | None = None
    entities: list[JSON] = field(default_factory=list)
    reply_markup: JSON | None = None
    media: JSON = field(default_factory=dict)
    file: StoredFile | None = None
    media_group_id: str | None = None
    reply_to: StoredMessage | None = None
    edit_date: int | None = None
    deleted: bool = False
    #: Earlier versions (Bot API dicts), oldest first; one per successful edit.
    history: list[JSON] = field(default_factory=list)
    #: For injected messages: the update that carried it.
    update_id: int | None = None

    @property
    def chat_id(self) -> int:
        """Id of the chat the message is in."""
        return int(self.chat["id"])

    @property
    def kind(self) -> str:
        """``"text"``, ``"photo"``, ``"document"`` or ``"video"``."""
        return next(iter(self.media), "text")

    @property
    def content(self) -> str | None:
        """Text or caption as sent."""
        return self.text if self.text is not None else self.caption

    @property
    def data(self) -> bytes | None:
        """Bytes of the attached file (the largest size for photos), if any."""
        return self.file.read() if self.file is not None else None

    @property
    def buttons(self) -> list[list[JSON]]:
        """Rows of the current inline keyboard (empty when there is none)."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return list(rows)

    @property
    def button_texts(self) -> list[str]:
        """Labels of all inline buttons, row by row."""
        return [str(b.get("text")) for row in self.buttons for b in row]

    def button_data(self, label: str) -> str:
        """callback_data of the button labelled ``label`` (exact, else unique substring)."""
        flat = [b for row in self.buttons for b in row if "callback_data" in b]
        exact = [b for b in flat if b.get("text") == label]
        found = exact or [b for b in flat if label in str(b.get("text"))]
        if len(found) != 1:
            raise KeyError(f"{len(found)} buttons match {label!r}; buttons: {self.button_texts}")
        return str(found[0]["callback_data"])

    def to_api(self, *, with_reply: bool = True) -> JSON:
        """The Bot API ``Message`` object for the current state."""
        api: JSON = {
            "message_id": self.message_id,
            "from": self.sender,
            "chat": self.chat,
            "date": self.date,
        }
        if self.media_group_id is not None:
            api["media_group_id"] = self.media_group_id
        if self.plain is not None:
            is_caption = bool(self.media)
            api["caption" if is_caption else "text"] = self.plain
            if self.entities:
                api["caption_entities" if is_caption else "entities"] = self.entities
        api.update(self.media)
        if with_reply and self.reply_to is not None:
            # Telegram never nests reply_to_message more than one level deep.
            api["reply_to_message"] = self.reply_to.to_api(with_reply=False)
        if self.edit_date is not None:
            api["edit_date"] = self.edit_date
        markup = _inline_markup(self.reply_markup)
        if markup is not None:  # Telegram echoes only inline keyboards
            api["reply_markup"] = markup
        return api

    def as_dict(self) -> JSON:
        """JSON-friendly summary for the control API (API object plus double bookkeeping)."""
        return {
            "message": self.to_api(),
            "from_bot": self.from_bot,
            "sent_text": self.content,
            "parse_mode": self.parse_mode,
            "reply_markup": self.reply_markup,
            "deleted": self.deleted,
            "edits": len(self.history),
        }


@dataclass(eq=False)
class ApiCall:
    """One HTTP request to a Bot API method, with its decoded parameters and the answer."""

    seq: int
    method: str
    params: JSON
    files: dict[str, UploadedFile]
    at: float
    #: HTTP status of the answer (200 = ok); 0 while the request is still being handled.
    status: int = 0
    result: Any = None
    error: str | None = None
    #: Messages this call created or edited, in order.
    messages: list[StoredMessage] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the call was answered successfully."""
        return self.status == 200

    @property
    def chat_id(self) -> Any:
        """The ``chat_id`` parameter, if any."""
        return self.params.get("chat_id")

    @property
    def text(self) -> str | None:
        """The ``text`` or ``caption`` parameter, if any."""
        value = self.params.get("text", self.params.get("caption"))
        return None if value is None else str(value)

    @property
    def message(self) -> StoredMessage:
        """The (first) message this call created or edited."""
        if not self.messages:
            raise LookupError(f"{self.method} #{self.seq} produced no message ({self.error})")
        return self.messages[0]

    def as_dict(self) -> JSON:
        """JSON-friendly form for the control API (file bytes summarised by size and sha256)."""
        files = {
            name: {
                "filename": f.filename,
                "content_type": f.content_type,
                "size": len(f.data),
                "sha256": hashlib.sha256(f.data).hexdigest(),
            }
            for name, f in self.files.items()
        }
        return {
            "seq": self.seq,
            "method": self.method,
            "params": self.params,
            "files": files,
            "status": self.status,
            "result": self.result,
            "error": self.error,
        }


@dataclass
class _Fault:
    status: int = 0
    retry_after: int | None = None
    description: str | None = None
    hang: float = 0.0
    chat_id: int | None = None  # only calls to this chat (None: any call of the method)

    def applies_to(self, call: ApiCall) -> bool:
        return self.chat_id is None or str(call.params.get("chat_id")) == str(self.chat_id)


# --------------------------------------------------------------------------- pure helpers


def _key(method: str) -> str:
    """Telegram method names are case-insensitive; also accept PTB's snake_case spelling."""
    return method.replace("_", "").lower()


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _inline_markup(markup: JSON | None) -> JSON | None:
    return markup if markup is not None and "inline_keyboard" in markup else None


def _decode_field(name: str, value: str) -> Any:
    """PTB JSON-encodes every non-string parameter; undo that except for text fields."""
    if name in _TEXT_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value  # e.g. chat_id="@channel"


_HTML_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s[^<>]*)?)>")
_HTML_ENTITY = re.compile(r"&(lt|gt|amp|quot|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});")
_HTML_HREF = re.compile(r"""href\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_HTML_TAGS = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "span": "spoiler", "tg-spoiler": "spoiler", "a": "text_link", "code": "code", "pre": "pre",
    "blockquote": "blockquote", "tg-emoji": "custom_emoji",
}  # fmt: skip
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def _decode_entity(name: str) -> str:
    if name in _NAMED_ENTITIES:
        return _NAMED_ENTITIES[name]
    number = int(name[2:], 16) if name.startswith("#x") else int(name[1:])
    return chr(number)


def _html_entity(name: str, attrs: str, offset: int, length: int) -> JSON | None:
    entity: JSON = {"type": _HTML_TAGS[name], "offset": offset, "length": length}
    if name == "a":
        href = _HTML_HREF.search(attrs)
        if href is None:
            return None  # Telegram keeps the text and drops a link without href
        entity["url"] = next(g for g in href.groups() if g is not None)
    elif name == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    elif name == "tg-emoji":
        emoji_id = re.search(r"emoji-id\s*=\s*\"?(\d+)", attrs)
        entity["custom_emoji_id"] = emoji_id.group(1) if emoji_id else ""
    return entity


def render_html(text: str) -> tuple[str, list[JSON]]:
    """Parse Telegram-flavoured HTML like the server: returns (plain text, entities).

    Offsets are in UTF-16 code units.  Unsupported or unbalanced tags and a bare ``<`` raise
    ``ApiError(400, "Bad Request: can't parse entities: ...")``; unknown ``&`` sequences are
    kept literally, as Telegram does.
    """
    out: list[str] = []
    offset = 0
    stack: list[tuple[str, int, str]] = []
    entities: list[JSON] = []
    i = 0
    while i < len(text):
        if text[i] == "<":
            i = _html_tag(text, i, offset, stack, entities)
            continue
        piece = text[i]
        entity = _HTML_ENTITY.match(text, i) if piece == "&" else None
        if entity is not None:
            piece, i = _decode_entity(entity.group(1)), entity.end()
        else:
            i += 1
        out.append(piece)
        offset += _utf16_len(piece)
    if stack:
        raise _parse_error(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _html_tag(
    text: str, i: int, offset: int, stack: list[tuple[str, int, str]], entities: list[JSON]
) -> int:
    """Handle the tag starting at ``text[i]``; returns the index after it."""
    where = f"at byte offset {len(text[:i].encode())}"
    tag = _HTML_TAG.match(text, i)
    if tag is None:
        raise _parse_error(f"Unsupported start tag {where}")
    closing, name, attrs = tag.group(1) == "/", tag.group(2).lower(), tag.group(3)
    if name not in _HTML_TAGS:
        raise _parse_error(f'Unsupported {"end" if closing else "start"} tag "{name}" {where}')
    if not closing:
        if name == "span" and "tg-spoiler" not in attrs:
            raise _parse_error(f'Tag "span" must have class "tg-spoiler" {where}')
        stack.append((name, offset, attrs))
        return tag.end()
    if not stack or stack[-1][0] != name:
        expected = f'"</{stack[-1][0]}>"' if stack else "no end tag"
        raise _parse_error(f'Unmatched end tag {where}, expected {expected}, found "</{name}>"')
    _, start, open_attrs = stack.pop()
    if offset > start:
        entity = _html_entity(name, open_attrs, start, offset - start)
        if entity is not None:
            entities.append(entity)
    return tag.end()


def _parse_error(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: can't parse entities: {detail}")


def _render(text: str | None, parse_mode: Any, entities: Any) -> tuple[str | None, list[JSON]]:
    """What the user sees for ``text``: explicit entities win, then HTML parse mode.

    Markdown parse modes are passed through unvalidated (the double only checks HTML).
    """
    if text is None:
        return None, []
    if isinstance(entities, list) and entities:
        return text, list(entities)
    if isinstance(parse_mode, str) and parse_mode.lower() == "html":
        return render_html(text)
    return text, []


def _check_length(plain: str | None, *, caption: bool) -> None:
    if plain is None:
        return
    if caption:
        if _utf16_len(plain) > CAPTION_LIMIT:
            raise ApiError(400, "Bad Request: message caption is too long")
        return
    if not plain.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if _utf16_len(plain) > MESSAGE_LIMIT:
        raise ApiError(400, "Bad Request: message is too long")


def _check_markup(markup: Any) -> JSON | None:
    """Validate reply_markup the way Telegram rejects common mistakes."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    for row in markup.get("inline_keyboard", []):
        for button in row:
            if not button.get("text"):
                raise ApiError(400, "Bad Request: inline keyboard button text is empty")
            if not _BUTTON_ACTIONS.intersection(button):
                raise ApiError(
                    400, "Bad Request: text buttons are unallowed in the inline keyboard"
                )
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return markup


def _update_type(update: JSON) -> str:
    return next(k for k in update if k != "update_id")


@cache
def _placeholder_jpeg() -> bytes:
    """A small grey JPEG served as the thumbnail of photos Pillow cannot decode."""
    out = BytesIO()
    Image.new("RGB", (320, 240), (128, 128, 128)).save(out, "JPEG")
    return out.getvalue()


def _photo_renditions(source: bytes | Path) -> tuple[int, int, list[tuple[int, int, bytes]]]:
    """Original (width, height) and smaller JPEG renditions, smallest first.

    Bytes Pillow cannot read (tests often pass b"fake jpeg") get a nominal 1280x960 size and a
    placeholder thumbnail, so a bot downloading ``photo[0]`` instead of ``photo[-1]`` still gets
    different bytes.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning is someone else's test
            with Image.open(BytesIO(source) if isinstance(source, bytes) else source) as img:
                width, height = img.size
                if width * height > _MAX_THUMBNAILED_PIXELS:
                    return width, height, [(320, 240, _placeholder_jpeg())]
                return width, height, _thumbnails(img)
    except Exception:  # Pillow raises many types for undecodable input
        return 1280, 960, [(320, 240, _placeholder_jpeg())]


def _thumbnails(img: Image.Image) -> list[tuple[int, int, bytes]]:
    width, height = img.size
    sides = [s for s in _THUMB_SIDES if s < max(width, height)]
    if not sides:
        return []
    img.draft("RGB", (sides[-1], sides[-1]))  # JPEG: decode at reduced scale, much faster
    current = img.convert("RGB")
    renditions: list[tuple[int, int, bytes]] = []
    for side in reversed(sides):
        current.thumbnail((side, side))
        out = BytesIO()
        current.save(out, "JPEG", quality=80)
        renditions.append((current.width, current.height, out.getvalue()))
    return renditions[::-1]


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def application_builder(
    url: str, token: str, *, local_mode: bool = False
) -> InitApplicationBuilder:
    """An ``ApplicationBuilder`` pointed at a double served at ``url`` (in or out of process)."""
    from telegram.ext import ApplicationBuilder

    builder = ApplicationBuilder().token(token).base_url(f"{url}/bot")
    return builder.base_file_url(f"{url}/file/bot").local_mode(local_mode)


@contextlib.asynccontextmanager
async def running(
    application: Application[Any, Any, Any, Any, Any, Any],
    *,
    webhook: bool = False,
    secret_token: str | None = None,
    host: str = "127.0.0.1",
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    """Run ``application`` the way ``run_polling``/``run_webhook`` do, inside a test.

    Same order as PTB: initialize, post_init, updater start, start ... updater stop, stop,
    post_stop, shutdown, post_shutdown (``async with application`` alone skips the post_*
    hooks).  ``webhook=True`` serves PTB's webhook on a free loopback port and registers it
    with setWebhook and ``secret_token``; otherwise the Updater long-polls.
    """
    updater = application.updater
    if updater is None:
        raise ValueError("the application was built without an Updater")
    await application.initialize()
    try:
        if application.post_init is not None:
            await application.post_init(application)
        if webhook:
            port = _free_port(host)
            await updater.start_webhook(
                listen=host,
                port=port,
                url_path="telegram-webhook",
                webhook_url=f"http://{host}:{port}/telegram-webhook",
                secret_token=secret_token,
            )
        else:
            await updater.start_polling(poll_interval=0.0)
        await application.start()
        try:
            yield application
        finally:
            if updater.running:
                await updater.stop()
            await application.stop()
            if application.post_stop is not None:
                await application.post_stop(application)
    finally:
        await application.shutdown()
        if application.post_shutdown is not None:
            await application.post_shutdown(application)


# --------------------------------------------------------------------------- the double

Handler = Callable[[ApiCall], Awaitable[Any]]


class BotApiDouble:
    """A Telegram Bot API server double for PTB applications (see the module docstring)."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_username: str = "warta_test_bot",
        bot_first_name: str = "Warta",
        download_limit: int | None = CLOUD_DOWNLOAD_LIMIT,
        local_mode: bool = False,
        strict_chats: bool = True,
    ) -> None:
        """Configure the double; nothing listens until ``start()``.

        ``download_limit``: getFile refuses larger files ("file is too big") like the cloud
        API; None lifts it.  ``local_mode``: behave like a self-hosted Bot API server started
        with --local (getFile returns absolute local paths, no download cap, 2000 MB uploads).
        ``strict_chats``: sending to a chat the test did not create fails with "chat not found".
        """
        self.token = token
        self.host = host
        self.port = port
        self.local_mode = local_mode
        self.download_limit = None if local_mode else download_limit
        self.strict_chats = strict_chats
        head = token.split(":", 1)[0]
        self.bot_user: JSON = {
            "id": int(head) if head.isdigit() else 123456789,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        # Messages carry only the basic User fields; the can_* flags are getMe-only.
        self._bot_sender = {k: self.bot_user[k] for k in ("id", "is_bot", "first_name", "username")}
        #: Every request to a Bot API method, in arrival order.
        self.calls: list[ApiCall] = []
        #: Requests to methods the double does not implement (answered 404, which PTB raises
        #: as InvalidToken / EndPointNotFound); tests should assert this stays empty.
        self.unhandled: list[ApiCall] = []
        #: Tracebacks of bugs inside the double itself (answered 500).
        self.errors: list[str] = []
        #: Every update injected, in order.
        self.updates: list[JSON] = []
        #: ``file_path`` of every file downloaded through the file route.
        self.downloads: list[str] = []
        #: Failed webhook deliveries ("url: reason"), oldest first.
        self.webhook_errors: list[str] = []
        self._users: dict[int, SimUser] = {}
        self._groups: dict[int, SimChat] = {}
        self._messages: dict[int, dict[int, StoredMessage]] = {}
        self._last_message_id: dict[int, int] = {}
        self._files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._media_by_file_id: dict[str, tuple[str, JSON, StoredFile]] = {}
        self._commands: dict[tuple[str, str], list[JSON]] = {}
        self._callback_answers: dict[str, JSON | None] = {}
        self._faults: dict[str, deque[_Fault]] = {}
        self._pending: deque[JSON] = deque()
        self._allowed_updates: frozenset[str] | None = None
        self._webhook: JSON | None = None
        self._counts: Counter[str] = Counter()
        self._claimed: set[int] = set()
        self._ids = itertools.count(1)
        self._update_ids = itertools.count(700_000_001)
        self._poll_generation = 0
        self._changed = asyncio.Event()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._local_dir: Path | None = None
        self._handlers: dict[str, tuple[str, Handler]] = {
            _key(name): (name, handler) for name, handler in self._method_table()
        }
        self.url = ""

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> BotApiDouble:
        """Start serving on ``host:port`` (port 0 picks a free port); sets ``url``."""
        if self._runner is not None:
            raise RuntimeError("BotApiDouble already started")
        upload_limit = LOCAL_UPLOAD_LIMIT if self.local_mode else CLOUD_UPLOAD_LIMIT
        app = web.Application(client_max_size=upload_limit + 1024 * 1024)
        app.add_routes(
            [
                web.route("*", "/bot{token}/{method}", self._handle_api),
                web.get("/file/bot{token}/{file_path:.+}", self._handle_download),
                *_ControlApi(self).routes(),
            ]
        )
        sock = socket.socket()
        # Like aiohttp's TCPSite: a restarted double may rebind a fixed port in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = int(sock.getsockname()[1])
        self.url = f"http://{self.host}:{self.port}"
        # A short shutdown timeout: stop() releases every waiting handler itself.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        self._closing = False
        self._webhook_task = asyncio.create_task(self._webhook_loop(), name="apidouble-webhook")
        return self

    async def stop(self) -> None:
        """Release waiting long polls and hung requests, then stop serving."""
        if self._runner is None:
            return
        self._closing = True
        self._wake()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
        await self._runner.cleanup()
        self._runner = None
        if self._local_dir is not None:
            shutil.rmtree(self._local_dir, ignore_errors=True)
            self._local_dir = None

    async def __aenter__(self) -> BotApiDouble:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """Value for ``ApplicationBuilder.base_url`` (PTB appends the token)."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """Value for ``ApplicationBuilder.base_file_url``."""
        return f"{self.url}/file/bot"

    def app_builder(self) -> InitApplicationBuilder:
        """An ``ApplicationBuilder`` already pointed at this double (token and both URLs)."""
        return application_builder(self.url, self.token, local_mode=self.local_mode)

    def running(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        *,
        webhook: bool = False,
        secret_token: str | None = None,
    ) -> contextlib.AbstractAsyncContextManager[Application[Any, Any, Any, Any, Any, Any]]:
        """Run ``application`` against this double; see the module-level ``running``."""
        return running(application, webhook=webhook, secret_token=secret_token, host=self.host)

    # ----------------------------------------------------------------- simulated world

    def user(
        self,
        id: int,
        first_name: str,
        language_code: str | None = "id",
        username: str | None = None,
        *,
        last_name: str | None = None,
    ) -> SimUser:
        """Create (or update and return) a user who has started the bot (private chat)."""
        user = SimUser(id, first_name, language_code, username, last_name)
        existing = self._users.get(id)
        if existing is not None:
            user.blocked = existing.blocked
            existing.__dict__.update(user.__dict__)
            return existing
        self._users[id] = user
        return user

    def group(
        self, id: int, title: str, *, type: str = "supergroup", username: str | None = None
    ) -> SimChat:
        """Create a group chat the bot is a member of (``id`` must be negative)."""
        if id >= 0:
            raise ValueError("group chat ids are negative")
        chat = SimChat(id, title, type, username)
        self._groups[id] = chat
        return chat

    def _user_of(self, user: UserRef) -> SimUser:
        if isinstance(user, SimUser):
            return user
        if user not in self._users:
            raise KeyError(f"unknown user {user}; create it with double.user(...)")
        return self._users[user]

    def _chat_id_of(self, chat: ChatRef) -> int:
        return chat if isinstance(chat, int) else chat.id

    def _chat_api(self, chat_id: int) -> JSON:
        """Chat object for an id; unknown chats are 'not found' (Telegram's answer too)."""
        if chat_id in self._users:
            return self._users[chat_id].chat_api()
        if chat_id in self._groups:
            return self._groups[chat_id].to_api()
        if self.strict_chats:
            raise ApiError(400, "Bad Request: chat not found")
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}
        return {"id": chat_id, "type": "group", "title": f"Chat {chat_id}"}

    # ----------------------------------------------------------------- injecting updates

    async def send_update(self, payload: JSON) -> JSON:
        """Inject a raw update (``update_id`` is assigned); returns the full update."""
        update = {"update_id": next(self._update_ids), **payload}
        self.updates.append(update)
        self._pending.append(update)
        self._wake()
        return update

    async def send_text(
        self,
        user: UserRef,
        text: str,
        chat: ChatRef | None = None,
        reply_to: StoredMessage | int | None = None,
        *,
        entities: list[JSON] | None = None,
    ) -> StoredMessage:
        """The user sends ``text`` (in their private chat unless ``chat`` is given).

        Like the Telegram server, a leading ``/command`` gets a bot_command entity.
        """
        if entities is None:
            command = _LEADING_COMMAND_RE.match(text)
            if command is not None:
                entities = [{"type": "bot_command", "offset": 0, "length": command.end()}]
        msg = self._user_message(user, chat, reply_to)
        msg.text = msg.plain = text
        msg.entities = entities or []
        return await self._deliver(msg)

    async def send_command(
        self,
        user: UserRef,
        command: str,
        args: str = "",
        chat: ChatRef | None = None,
        *,
        mention: bool = False,
    ) -> StoredMessage:
        """The user sends ``/command args`` (``mention`` adds ``@botusername``, as in groups)."""
        head = "/" + command.lstrip("/")
        if mention:
            head += f"@{self.bot_user['username']}"
        text = f"{head} {args}" if args else head
        entity = {"type": "bot_command", "offset": 0, "length": _utf16_len(head)}
        return await self.send_text(user, text, chat, entities=[entity])

    async def send_photo(
        self,
        user: UserRef,
        jpeg: bytes | Path,
        caption: str | None = None,
        media_group_id: str | None = None,
        *,
        chat: ChatRef | None = None,
        reply_to: StoredMessage | int | None = None,
        file_size: int | None = None,
    ) -> StoredMessage:
        """The user sends a photo: PhotoSize list (thumbnails + original, distinct file ids).

        Downloading the largest size returns ``jpeg`` byte for byte; ``file_size`` overrides
        the size declared for it.
        """
        media, main = self._create_media("photo", jpeg, file_size=file_size)
        return await self._send_media(user, chat, reply_to, media, main, caption, media_group_id)

    async def send_album(
        self,
        user: UserRef,
        photos: Sequence[bytes | Path],
        caption: str | None = None,
        *,
        chat: ChatRef | None = None,
    ) -> list[StoredMessage]:
        """The user sends several photos as one album (caption on the first, like clients do)."""
        group_id = f"album-{next(self._ids)}"
        return [
            await self.send_photo(user, p, caption if i == 0 else None, group_id, chat=chat)
            for i, p in enumerate(photos)
        ]

    async def send_document(
        self,
        user: UserRef,
        data: bytes | Path,
        file_name: str,
        mime_type: str,
        caption: str | None = None,
        media_group_id: str | None = None,
        *,
        chat: ChatRef | None = None,
        file_size: int | None = None,
    ) -> StoredMessage:
        """The user sends a file as a document (a ``Path`` is streamed from disk, not read)."""
        media, main = self._create_media(
            "document", data, file_name=file_name, mime_type=mime_type, file_size=file_size
        )
        return await self._send_media(user, chat, None, media, main, caption, media_group_id)

    async def send_video(
        self,
        user: UserRef,
        data: bytes | Path,
        caption: str | None = None,
        media_group_id: str | None = None,
        *,
        file_name: str = "video.mp4",
        mime_type: str = "video/mp4",
        duration: int = 5,
        width: int = 1280,
        height: int = 720,
        chat: ChatRef | None = None,
        file_size: int | None = None,
    ) -> StoredMessage:
        """The user sends a video; ``file_size=2 * 1024**3`` declares a 2 GB one cheaply."""
        media, main = self._create_media(
            "video",
            data,
            file_name=file_name,
            mime_type=mime_type,
            file_size=file_size,
            extra={"duration": duration, "width": width, "height": height},
        )
        return await self._send_media(user, chat, None, media, main, caption, media_group_id)

    async def press_button(
        self,
        user: UserRef,
        message: StoredMessage,
        callback_data: str,
        *,
        forge: bool = False,
    ) -> JSON:
        """The user presses an inline button of a bot message; returns the callback_query.

        Unless ``forge`` is set, the button must be on the message's current keyboard, the
        message must still exist, and a private chat's message is pressable only by its user.
        ``forge=True`` sends whatever data you like (tampered or stale callback data).
        """
        sender = self._user_of(user)
        if not forge:
            self._check_pressable(sender, message, callback_data)
        query_id = str(next(self._ids) * 7919 + 10**12)  # opaque-looking, unique
        query = {
            "id": query_id,
            "from": sender.to_api(),
            "message": message.to_api(),
            "chat_instance": str(abs(message.chat_id) * 31 + 17),
            "data": callback_data,
        }
        self._callback_answers[query_id] = None
        await self.send_update({"callback_query": query})
        return query

    async def click(self, user: UserRef, message: StoredMessage, button_text: str) -> JSON:
        """Press the button labelled ``button_text`` (see ``StoredMessage.button_data``)."""
        return await self.press_button(user, message, message.button_data(button_text))

    def _check_pressable(self, user: SimUser, message: StoredMessage, data: str) -> None:
        if not message.from_bot or message.deleted:
            raise AssertionError(f"message {message.message_id} is not a live bot message")
        if message.chat["type"] == "private" and message.chat_id != user.id:
            raise AssertionError(f"user {user.id} cannot see chat {message.chat_id}")
        available = [b.get("callback_data") for row in message.buttons for b in row]
        if data not in available:
            raise AssertionError(f"callback_data {data!r} not on the message: {available}")

    def _user_message(
        self, user: UserRef, chat: ChatRef | None, reply_to: StoredMessage | int | None
    ) -> StoredMessage:
        sender = self._user_of(user)
        chat_id = sender.id if chat is None else self._chat_id_of(chat)
        chat_api = self._chat_api(chat_id)
        if isinstance(reply_to, int):
            reply_to = self.message(chat_id, reply_to)
        return StoredMessage(
            message_id=self._next_message_id(chat_id),
            chat=chat_api,
            sender=sender.to_api(),
            date=int(time.time()),
            from_bot=False,
            reply_to=reply_to,
        )

    async def _send_media(
        self,
        user: UserRef,
        chat: ChatRef | None,
        reply_to: StoredMessage | int | None,
        media: JSON,
        main: StoredFile,
        caption: str | None,
        media_group_id: str | None,
    ) -> StoredMessage:
        msg = self._user_message(user, chat, reply_to)
        msg.media, msg.file, msg.media_group_id = media, main, media_group_id
        msg.caption = msg.plain = caption
        return await self._deliver(msg)

    async def _deliver(self, msg: StoredMessage) -> StoredMessage:
        self._store(msg)
        update = await self.send_update({"message": msg.to_api()})
        msg.update_id = update["update_id"]
        return msg

    # ----------------------------------------------------------------- files

    def register_file(
        self,
        path: str | Path,
        *,
        kind: str = "document",
        file_size: int | None = None,
        file_name: str | None = None,
        mime_type: str | None = None,
    ) -> str:
        """Serve a file on disk (streamed, never loaded) and return its file_id.

        ``kind`` is "document", "video" or "photo"; the bot may also send it by file_id.
        """
        path = Path(path)
        _, main = self._create_media(
            kind, path, file_name=file_name or path.name, mime_type=mime_type, file_size=file_size
        )
        return main.file_id

    def file(self, file_id: str) -> StoredFile:
        """The stored file for a file_id (any photo size, document or video)."""
        return self._files[file_id]

    def _new_file(
        self,
        kind: str,
        source: bytes | Path,
        *,
        file_size: int | None = None,
        file_name: str | None = None,
        mime_type: str | None = None,
    ) -> StoredFile:
        n = next(self._ids)
        suffix = (Path(file_name).suffix if file_name else "") or _FILE_SUFFIX[kind]
        if isinstance(source, bytes):
            data, disk, actual = source, None, len(source)
        else:
            data, disk = None, Path(source)
            actual = disk.stat().st_size
        stored = StoredFile(
            file_id=f"{_FILE_PREFIX[kind]}{n:08d}",
            file_unique_id=f"AQAD{n:08d}",
            # Relative paths that do not exist locally: PTB reads existing local paths from
            # disk instead of downloading them.
            file_path=f"{_FILE_FOLDER[kind]}/file_{n}{suffix}",
            file_size=actual if file_size is None else file_size,
            kind=kind,
            data=data,
            disk_path=disk,
            file_name=file_name,
            mime_type=mime_type,
        )
        self._files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    def _create_media(
        self,
        kind: str,
        source: bytes | Path,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        file_size: int | None = None,
        extra: JSON | None = None,
    ) -> tuple[JSON, StoredFile]:
        """Store new file(s) and build the message's media part, e.g. ``{"photo": [...]}``."""
        if kind == "photo":
            return self._create_photo(source, file_size)
        if kind not in ("video", "document"):
            raise ApiError(400, f"Bad Request: media type {kind!r} is not supported by the double")
        main = self._new_file(
            kind, source, file_size=file_size, file_name=file_name, mime_type=mime_type
        )
        obj: JSON = {"file_id": main.file_id, "file_unique_id": main.file_unique_id}
        if kind == "video":
            obj.update({"duration": 5, "width": 1280, "height": 720})
        obj.update(extra or {})
        obj.update({k: v for k, v in (("file_name", file_name), ("mime_type", mime_type)) if v})
        obj["file_size"] = main.file_size
        media = {kind: obj}
        self._media_by_file_id[main.file_id] = (kind, media, main)
        return media, main

    def _create_photo(self, source: bytes | Path, file_size: int | None) -> tuple[JSON, StoredFile]:
        width, height, renditions = _photo_renditions(source)
        sizes: list[JSON] = []
        files = [self._new_file("photo", data) for _, _, data in renditions]
        main = self._new_file("photo", source, file_size=file_size, mime_type="image/jpeg")
        dims = [(w, h) for w, h, _ in renditions] + [(width, height)]
        for stored, (w, h) in zip([*files, main], dims, strict=True):
            sizes.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "width": w,
                    "height": h,
                    "file_size": stored.file_size,
                }
            )
        media = {"photo": sizes}
        for stored in [*files, main]:
            self._media_by_file_id[stored.file_id] = ("photo", media, main)
        return media, main

    def _media_by_id(self, file_id: str, kind: str) -> tuple[JSON, StoredFile]:
        entry = self._media_by_file_id.get(file_id)
        if entry is None:
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        stored_kind, media, main = entry
        if stored_kind != kind:
            detail = f"can't use file of type {stored_kind.title()} as {kind.title()}"
            raise ApiError(400, f"Bad Request: {detail}")
        return media, main

    def _local_path(self, stored: StoredFile) -> Path:
        """Local mode returns absolute paths; in-memory files are written out for that."""
        if stored.disk_path is not None:
            return stored.disk_path.resolve()
        if self._local_dir is None:
            self._local_dir = Path(tempfile.mkdtemp(prefix="apidouble-"))
        target = self._local_dir / stored.file_path
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(stored.read())
        return target

    # ----------------------------------------------------------------- observing

    def calls_to(self, method: str) -> list[ApiCall]:
        """All recorded calls of ``method`` (any spelling: sendMessage / send_message)."""
        key = _key(method)
        return [c for c in self.calls if _key(c.method) == key]

    def count(self, method: str) -> int:
        """How many calls of ``method`` were answered successfully (O(1))."""
        return self._counts[_key(method)]

    def messages(self, chat: ChatRef, *, include_deleted: bool = False) -> list[StoredMessage]:
        """All messages in a chat, the users' and the bot's, oldest first."""
        stored = self._messages.get(self._chat_id_of(chat), {}).values()
        return [m for m in stored if include_deleted or not m.deleted]

    def sent_to(self, chat: ChatRef, *, include_deleted: bool = False) -> list[StoredMessage]:
        """Messages the bot sent to a chat, oldest first, in their current (edited) state."""
        return [m for m in self.messages(chat, include_deleted=include_deleted) if m.from_bot]

    def last_sent(self, chat: ChatRef) -> StoredMessage:
        """The newest message the bot sent to a chat."""
        sent = self.sent_to(chat)
        if not sent:
            raise LookupError(f"the bot sent nothing to chat {self._chat_id_of(chat)}")
        return sent[-1]

    def message(self, chat: ChatRef, message_id: int) -> StoredMessage:
        """A message by chat and id (including deleted ones)."""
        found = self._messages.get(self._chat_id_of(chat), {}).get(message_id)
        if found is None:
            raise LookupError(f"no message {message_id} in chat {self._chat_id_of(chat)}")
        return found

    def commands(self, scope: Mapping[str, Any] | None = None, language_code: str = "") -> Any:
        """Commands set for a scope (dict like ``{"type": "chat", "chat_id": 5}``), or None."""
        return self._commands.get(_scope_key(scope, language_code))

    def callback_answer(self, query_id: str) -> JSON | None:
        """How the bot answered a callback query (None while unanswered)."""
        return self._callback_answers[query_id]

    @property
    def webhook_url(self) -> str | None:
        """The webhook URL currently set, if any."""
        return None if self._webhook is None else str(self._webhook["url"])

    async def wait_until(
        self,
        condition: Callable[[], T | None],
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the documented test API
        *,
        what: str = "condition",
    ) -> T:
        """Wait until ``condition()`` is truthy (re-checked after every call and update)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = condition()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise WaitTimeout(f"timed out after {timeout}s waiting for {what}\n{self.recent()}")
            await self._wait_change(remaining)

    async def wait_for(
        self,
        method: str | Sequence[str],
        predicate: Callable[[ApiCall], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the documented test API
        *,
        include_failed: bool = False,
    ) -> ApiCall:
        """Wait for a finished call of ``method`` (or any of several) matching ``predicate``.

        Returns the earliest matching call that no earlier ``wait_for``/``wait_for_message``
        returned, so sequential waits walk through a conversation in order, and a call that
        happened before the wait started is still found.  Failed calls (injected faults,
        Bot API errors) are skipped unless ``include_failed``.
        """
        keys = {_key(method)} if isinstance(method, str) else {_key(m) for m in method}

        def match() -> ApiCall | None:
            for call in self.calls:
                if call.seq in self._claimed or not call.status or _key(call.method) not in keys:
                    continue
                if (call.ok or include_failed) and (predicate is None or predicate(call)):
                    self._claimed.add(call.seq)
                    return call
            return None

        return await self.wait_until(match, timeout, what=f"{method} call")

    async def wait_for_message(
        self,
        chat: ChatRef,
        predicate: Callable[[StoredMessage], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the documented test API
        *,
        contains: str | None = None,
    ) -> StoredMessage:
        """Wait for the next message the bot sends to ``chat`` (any send method).

        ``contains`` matches a substring of the rendered text/caption.  For albums the first
        message of the group is returned (see ``ApiCall.messages`` for all of them).
        """
        chat_id = self._chat_id_of(chat)

        def matches(call: ApiCall) -> bool:
            if not call.messages or call.messages[0].chat_id != chat_id:
                return False
            msg = call.messages[0]
            if contains is not None and contains not in (msg.plain or ""):
                return False
            return predicate is None or predicate(msg)

        call = await self.wait_for(SEND_METHODS, matches, timeout)
        return call.message

    async def settle(
        self,
        quiet: float = 0.2,
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the documented test API
    ) -> None:
        """Wait until the bot has made no new call for ``quiet`` seconds and none is in flight.

        For negative checks ("the bot ignored that"): inject, ``await double.settle()``, then
        assert on ``calls``/``sent_to``.  A long poll waiting for updates does not count as
        activity.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen, quiet_since = len(self.calls), loop.time()
        while True:
            now = loop.time()
            in_flight = any(not c.status and c.method != "getUpdates" for c in self.calls[-50:])
            if len(self.calls) != seen or in_flight:
                seen, quiet_since = len(self.calls), now
            elif now - quiet_since >= quiet:
                return
            if now >= deadline:
                raise WaitTimeout(f"the bot did not settle within {timeout}s\n{self.recent()}")
            await self._wait_change(min(quiet_since + quiet, deadline) - now)

    def recent(self, n: int = 10) -> str:
        """The last ``n`` calls, one line each (used in timeout messages)."""
        lines = [f"last {min(n, len(self.calls))} of {len(self.calls)} calls:"]
        for call in self.calls[-n:]:
            params = json.dumps(call.params, ensure_ascii=False, default=str)[:160]
            outcome = call.status or "pending"
            lines.append(f"  #{call.seq} {call.method} -> {outcome} {call.error or ''} {params}")
        if self.unhandled:
            lines.append(f"unhandled methods: {sorted({c.method for c in self.unhandled})}")
        return "\n".join(lines)

    # ----------------------------------------------------------------- fault injection

    def fail_next(
        self,
        method: str,
        count: int = 1,
        status: int = 502,
        *,
        retry_after: int | None = None,
        description: str | None = None,
        chat_id: int | None = None,
    ) -> None:
        """Answer the next ``count`` calls of ``method`` with an error, without acting on them.

        ``status=429, retry_after=1`` makes PTB raise RetryAfter; 502 gives NetworkError,
        400 BadRequest, 403 Forbidden. With ``chat_id``, only calls to that chat fail.
        """
        if description is None:
            description = _default_description(status, retry_after)
        fault = _Fault(status=status, retry_after=retry_after, description=description,
                       chat_id=chat_id)
        self._faults.setdefault(_key(method), deque()).extend([fault] * count)

    def hang_next(self, method: str, count: int = 1, seconds: float = 10.0) -> None:
        """Hold the next ``count`` calls of ``method`` for ``seconds`` before handling them.

        The call still takes effect afterwards (a client that timed out cannot know whether
        its message was sent, just as with the real server); ``stop()`` cuts the wait short.
        """
        self._faults.setdefault(_key(method), deque()).extend([_Fault(hang=seconds)] * count)

    def clear_faults(self) -> None:
        """Forget all pending fail_next/hang_next faults."""
        self._faults.clear()

    # ----------------------------------------------------------------- HTTP layer

    def _wake(self) -> None:
        """Wake everything waiting for a change (polls, webhook loop, wait_* helpers)."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_change(self, seconds: float | None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), seconds)

    async def _sleep(self, seconds: float) -> None:
        """Sleep that ends early when the double stops."""
        deadline = asyncio.get_running_loop().time() + seconds
        while not self._closing:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            await self._wait_change(remaining)

    async def _handle_api(self, request: web.Request) -> web.Response:
        name = request.match_info["method"]
        try:
            params, files = await _read_params(request)
        except web.HTTPRequestEntityTooLarge:
            params, files = {}, {}
            error: ApiError | None = ApiError(413, "Request Entity Too Large")
        else:
            error = None
        entry = self._handlers.get(_key(name))
        call = ApiCall(
            seq=len(self.calls) + 1,
            method=entry[0] if entry else name,
            params=params,
            files=files,
            at=time.monotonic(),
        )
        self.calls.append(call)
        self._wake()  # waiters may look for calls still in progress (e.g. a held long poll)
        try:
            if error is not None:
                raise error
            result = await self._dispatch(call, request.match_info["token"], entry)
        except ApiError as exc:
            call.status, call.error, body = exc.status, exc.description, exc.body()
        except Exception:  # a bug in the double: answer 500 and keep the traceback
            self.errors.append(traceback.format_exc())
            bug = ApiError(500, "Internal Server Error: bug in BotApiDouble (see double.errors)")
            call.status, call.error, body = bug.status, bug.description, bug.body()
        else:
            call.status, call.result, body = 200, result, {"ok": True, "result": result}
            self._counts[_key(call.method)] += 1
        self._wake()
        return web.json_response(body, status=call.status)

    async def _dispatch(self, call: ApiCall, token: str, entry: tuple[str, Handler] | None) -> Any:
        if token != self.token:
            raise ApiError(401, "Unauthorized")
        faults = self._faults.get(_key(call.method))
        fault = next((f for f in faults if f.applies_to(call)), None) if faults else None
        if faults and fault is not None:
            faults.remove(fault)
            if fault.hang:
                await self._sleep(fault.hang)
            else:
                raise ApiError(fault.status, fault.description or "", fault.retry_after)
        if entry is None:
            self.unhandled.append(call)
            raise ApiError(404, f"Not Found: method {call.method} is not implemented by the double")
        return await entry[1](call)

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        stored = self._files_by_path.get(request.match_info["file_path"])
        if request.match_info["token"] != self.token or stored is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        self.downloads.append(stored.file_path)
        self._wake()
        if stored.disk_path is not None:
            return web.FileResponse(stored.disk_path)  # streamed, sendfile where possible
        return web.Response(
            body=stored.data, content_type=stored.mime_type or "application/octet-stream"
        )

    # ----------------------------------------------------------------- Bot API methods

    def _method_table(self) -> list[tuple[str, Handler]]:
        return [
            ("getMe", self._get_me),
            ("getUpdates", self._get_updates),
            ("setWebhook", self._set_webhook),
            ("deleteWebhook", self._delete_webhook),
            ("getWebhookInfo", self._get_webhook_info),
            ("sendMessage", self._send_message),
            ("sendPhoto", self._send_photo),
            ("sendDocument", self._send_document),
            ("sendVideo", self._send_video),
            ("sendMediaGroup", self._send_media_group),
            ("editMessageText", self._edit_message_text),
            ("editMessageCaption", self._edit_message_caption),
            ("editMessageReplyMarkup", self._edit_message_reply_markup),
            ("deleteMessage", self._delete_message),
            ("deleteMessages", self._delete_messages),
            ("answerCallbackQuery", self._answer_callback_query),
            ("getFile", self._get_file),
            ("setMyCommands", self._set_my_commands),
            ("deleteMyCommands", self._delete_my_commands),
            ("getMyCommands", self._get_my_commands),
            ("sendChatAction", self._send_chat_action),
        ]

    async def _get_me(self, call: ApiCall) -> JSON:
        return self.bot_user

    async def _get_updates(self, call: ApiCall) -> list[JSON]:
        """Long poll: answer as soon as updates exist, else after ``timeout`` seconds.

        A newer getUpdates terminates an older waiting one with 409, like Telegram.
        """
        if self._webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        params = call.params
        offset, limit = int(params.get("offset", 0)), int(params.get("limit", 100))
        timeout = max(0.0, float(params.get("timeout", 0)))
        if "allowed_updates" in params:
            self._allowed_updates = frozenset(params["allowed_updates"] or ()) or None
        self._confirm(offset)
        self._poll_generation += 1
        generation = self._poll_generation
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            batch = self._deliverable(max(1, min(limit, 100)))
            remaining = deadline - asyncio.get_running_loop().time()
            if batch or remaining <= 0 or self._closing:
                return batch
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            await self._wait_change(remaining)

    def _confirm(self, offset: int) -> None:
        """Forget updates below ``offset``; a negative offset keeps only the last -offset."""
        if offset < 0:
            while len(self._pending) > -offset:
                self._pending.popleft()
            return
        while self._pending and self._pending[0]["update_id"] < offset:
            self._pending.popleft()

    def _deliverable(self, limit: int) -> list[JSON]:
        """The first ``limit`` pending updates of allowed types.

        Updates of other types met on the way are dropped: Telegram never sends them.
        """
        batch: list[JSON] = []
        dropped: list[JSON] = []
        for update in self._pending:
            if len(batch) >= limit:
                break
            (batch if self._is_allowed(update) else dropped).append(update)
        for update in dropped:
            self._pending.remove(update)
        return batch

    def _is_allowed(self, update: JSON) -> bool:
        kind = _update_type(update)
        if self._allowed_updates:
            return kind in self._allowed_updates
        return kind not in _NOT_DELIVERED_BY_DEFAULT

    async def _set_webhook(self, call: ApiCall) -> bool:
        params = call.params
        url = str(params.get("url") or "")
        if not url:
            return await self._delete_webhook(call)
        if not url.startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: bad webhook: invalid URL")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_RE.fullmatch(str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self._pending.clear()
        if "allowed_updates" in params:
            self._allowed_updates = frozenset(params["allowed_updates"] or ()) or None
        self._webhook = {"url": url, "secret_token": secret}
        self._poll_generation += 1  # a waiting getUpdates now ends with 409
        return True

    async def _delete_webhook(self, call: ApiCall) -> bool:
        self._webhook = None
        if call.params.get("drop_pending_updates"):
            self._pending.clear()
        return True

    async def _get_webhook_info(self, call: ApiCall) -> JSON:
        info: JSON = {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self.webhook_errors:
            info["last_error_date"] = int(time.time())
            info["last_error_message"] = self.webhook_errors[-1]
        return info

    async def _webhook_loop(self) -> None:
        """Deliver pending updates to the webhook one at a time, retrying failures."""
        backoff = 0.05
        async with aiohttp.ClientSession() as session:
            while not self._closing:
                hook = self._webhook
                batch = self._deliverable(1) if hook is not None else []
                if hook is None or not batch:
                    await self._wait_change(None)
                    continue
                if await self._post_update(session, hook, batch[0]):
                    if self._pending and self._pending[0] is batch[0]:
                        self._pending.popleft()
                    backoff = 0.05
                else:
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, 1.0)

    async def _post_update(self, session: aiohttp.ClientSession, hook: JSON, update: JSON) -> bool:
        headers = {}
        if hook.get("secret_token"):
            headers["X-Telegram-Bot-Api-Secret-Token"] = str(hook["secret_token"])
        try:
            timeout = aiohttp.ClientTimeout(total=10)
            async with session.post(
                hook["url"], json=update, headers=headers, timeout=timeout
            ) as response:
                if 200 <= response.status < 300:
                    return True
                reason = f"Wrong response from the webhook: {response.status} {response.reason}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            reason = f"Connection failed: {exc!r}"
        self.webhook_errors.append(f"{hook['url']}: {reason}")
        return False

    # Messages -------------------------------------------------------------

    def _next_message_id(self, chat_id: int) -> int:
        self._last_message_id[chat_id] = self._last_message_id.get(chat_id, 0) + 1
        return self._last_message_id[chat_id]

    def _store(self, msg: StoredMessage) -> None:
        self._messages.setdefault(msg.chat_id, {})[msg.message_id] = msg

    def _target_chat(self, params: JSON) -> JSON:
        """The chat a send method addresses, with Telegram's errors for bad targets."""
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        if isinstance(raw, str) and raw.startswith("@"):
            named = [g.id for g in self._groups.values() if g.username == raw[1:]]
            if not named:
                raise ApiError(400, "Bad Request: chat not found")
            raw = named[0]
        chat_id = int(raw)
        user = self._users.get(chat_id)
        if user is not None and user.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return self._chat_api(chat_id)

    def _reply_target(self, chat_id: int, params: JSON) -> StoredMessage | None:
        reply = params.get("reply_parameters")
        reply = reply if isinstance(reply, dict) else {}
        message_id = reply.get("message_id", params.get("reply_to_message_id"))
        if message_id is None:
            return None
        found = self._messages.get(chat_id, {}).get(int(message_id))
        if found is None or found.deleted:
            if reply.get("allow_sending_without_reply"):
                return None
            raise ApiError(400, "Bad Request: message to be replied not found")
        return found

    def _bot_message(
        self,
        call: ApiCall,
        chat: JSON,
        *,
        body: str | None,
        caption: bool,
        format_params: JSON,
        media: JSON | None = None,
        file: StoredFile | None = None,
        media_group_id: str | None = None,
    ) -> StoredMessage:
        """Validate and store a message the bot sends; attach it to ``call``."""
        entities_field = "caption_entities" if caption else "entities"
        plain, entities = _render(
            body, format_params.get("parse_mode"), format_params.get(entities_field)
        )
        _check_length(plain, caption=caption)
        markup = _check_markup(call.params.get("reply_markup"))
        msg = StoredMessage(
            message_id=self._next_message_id(chat["id"]),
            chat=chat,
            sender=self._bot_sender,
            date=int(time.time()),
            from_bot=True,
            text=None if caption else body,
            caption=body if caption else None,
            parse_mode=format_params.get("parse_mode"),
            plain=plain,
            entities=entities,
            reply_markup=markup,
            media=media or {},
            file=file,
            media_group_id=media_group_id,
            reply_to=self._reply_target(chat["id"], call.params),
        )
        self._store(msg)
        call.messages.append(msg)
        return msg

    async def _send_message(self, call: ApiCall) -> JSON:
        chat = self._target_chat(call.params)
        text = call.params.get("text")
        if text is None:
            raise ApiError(400, "Bad Request: message text is empty")
        msg = self._bot_message(
            call, chat, body=str(text), caption=False, format_params=call.params
        )
        return msg.to_api()

    async def _send_file(self, call: ApiCall, kind: str) -> JSON:
        chat = self._target_chat(call.params)
        media, main = self._media_input(call, call.params.get(kind), kind, field=kind)
        caption = call.params.get("caption")
        msg = self._bot_message(
            call,
            chat,
            body=None if caption is None else str(caption),
            caption=True,
            format_params=call.params,
            media=media,
            file=main,
        )
        return msg.to_api()

    async def _send_photo(self, call: ApiCall) -> JSON:
        return await self._send_file(call, "photo")

    async def _send_document(self, call: ApiCall) -> JSON:
        return await self._send_file(call, "document")

    async def _send_video(self, call: ApiCall) -> JSON:
        return await self._send_file(call, "video")

    def _media_input(
        self, call: ApiCall, value: Any, kind: str, field: str | None
    ) -> tuple[JSON, StoredFile]:
        """Resolve an uploaded part, an ``attach://name`` reference or a file_id."""
        upload: UploadedFile | None = None
        if isinstance(value, str) and value.startswith("attach://"):
            upload = call.files.get(value.removeprefix("attach://"))
            if upload is None:
                raise ApiError(400, f"Bad Request: file {value} not found in the request")
        elif isinstance(value, str) and value:
            if value.startswith(("http://", "https://")):
                raise ApiError(400, "Bad Request: failed to get HTTP URL content")
            return self._media_by_id(value, kind)
        elif field is not None:
            upload = call.files.get(field)
        if upload is None:
            raise ApiError(400, f"Bad Request: there is no {kind} in the request")
        return self._create_media(
            kind, upload.data, file_name=upload.filename, mime_type=upload.content_type
        )

    async def _send_media_group(self, call: ApiCall) -> list[JSON]:
        chat = self._target_chat(call.params)
        items = call.params.get("media")
        if not isinstance(items, list) or not 2 <= len(items) <= 10:
            raise ApiError(400, "Bad Request: media group must contain 2-10 items")
        kinds = {str(item.get("type")) for item in items}
        if len(kinds) > 1 and kinds & {"document", "audio"}:
            raise ApiError(400, "Bad Request: documents and audio can't be mixed with other media")
        group_id = str(10**16 + next(self._ids))
        resolved = [
            self._media_input(call, i.get("media"), str(i.get("type")), None) for i in items
        ]
        messages = []
        for item, (media, main) in zip(items, resolved, strict=True):
            caption = item.get("caption")
            msg = self._bot_message(
                call,
                chat,
                body=None if caption is None else str(caption),
                caption=True,
                format_params=item,
                media=media,
                file=main,
                media_group_id=group_id,
            )
            messages.append(msg.to_api())
        return messages

    def _editable(self, params: JSON) -> StoredMessage:
        if "inline_message_id" in params:
            raise ApiError(400, "Bad Request: inline messages are not supported by the double")
        chat = self._target_chat(params)
        found = self._messages.get(chat["id"], {}).get(int(params.get("message_id", 0)))
        if found is None or found.deleted:
            raise ApiError(400, "Bad Request: message to edit not found")
        if not found.from_bot:
            raise ApiError(400, "Bad Request: message can't be edited")
        return found

    def _apply_edit(
        self,
        call: ApiCall,
        msg: StoredMessage,
        markup: JSON | None,
        content: tuple[str, str | None, list[JSON], Any] | None = None,
    ) -> JSON:
        """Apply an edit (content = raw, plain, entities, parse_mode), or refuse a no-op.

        Like Telegram, an edit without reply_markup removes the inline keyboard.
        """
        markup = _inline_markup(markup)
        same_content = content is None or (content[1], content[2]) == (msg.plain, msg.entities)
        if same_content and markup == _inline_markup(msg.reply_markup):
            raise ApiError(400, _NOT_MODIFIED)
        msg.history.append(msg.to_api())
        if content is not None:
            raw, msg.plain, msg.entities, msg.parse_mode = content
            if msg.media:
                msg.caption = raw
            else:
                msg.text = raw
        msg.reply_markup = markup
        msg.edit_date = int(time.time())
        call.messages.append(msg)
        return msg.to_api()

    async def _edit_message_text(self, call: ApiCall) -> JSON:
        msg = self._editable(call.params)
        if msg.media:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        text = str(call.params.get("text") or "")
        plain, entities = _render(text, call.params.get("parse_mode"), call.params.get("entities"))
        _check_length(plain, caption=False)
        markup = _check_markup(call.params.get("reply_markup"))
        content = (text, plain, entities, call.params.get("parse_mode"))
        return self._apply_edit(call, msg, markup, content)

    async def _edit_message_caption(self, call: ApiCall) -> JSON:
        msg = self._editable(call.params)
        if not msg.media:
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        raw = call.params.get("caption")
        caption = None if raw is None else str(raw)
        plain, entities = _render(
            caption, call.params.get("parse_mode"), call.params.get("caption_entities")
        )
        _check_length(plain, caption=True)
        markup = _check_markup(call.params.get("reply_markup"))
        return self._apply_edit(
            call, msg, markup, (caption or "", plain, entities, call.params.get("parse_mode"))
        )

    async def _edit_message_reply_markup(self, call: ApiCall) -> JSON:
        msg = self._editable(call.params)
        return self._apply_edit(call, msg, _check_markup(call.params.get("reply_markup")))

    def _delete_one(self, chat_id: int, message_id: int) -> bool:
        found = self._messages.get(chat_id, {}).get(message_id)
        if found is None or found.deleted:
            return False
        found.deleted = True
        return True

    async def _delete_message(self, call: ApiCall) -> bool:
        chat = self._target_chat(call.params)
        if not self._delete_one(chat["id"], int(call.params.get("message_id", 0))):
            raise ApiError(400, "Bad Request: message to delete not found")
        return True

    async def _delete_messages(self, call: ApiCall) -> bool:
        chat = self._target_chat(call.params)
        for message_id in call.params.get("message_ids") or []:
            self._delete_one(chat["id"], int(message_id))
        return True

    async def _answer_callback_query(self, call: ApiCall) -> bool:
        query_id = str(call.params.get("callback_query_id"))
        if query_id not in self._callback_answers or self._callback_answers[query_id] is not None:
            raise ApiError(400, _BAD_QUERY)
        keys = ("text", "show_alert", "url", "cache_time")
        self._callback_answers[query_id] = {k: call.params[k] for k in keys if k in call.params}
        return True

    async def _get_file(self, call: ApiCall) -> JSON:
        stored = self._files.get(str(call.params.get("file_id")))
        if stored is None:
            raise ApiError(400, "Bad Request: wrong file_id or the file is temporarily unavailable")
        if self.download_limit is not None and stored.file_size > self.download_limit:
            raise ApiError(400, "Bad Request: file is too big")
        path = str(self._local_path(stored)) if self.local_mode else stored.file_path
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
            "file_path": path,
        }

    async def _set_my_commands(self, call: ApiCall) -> bool:
        commands = call.params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError(400, "Bad Request: commands must be a list of at most 100 items")
        for command in commands:
            if not _COMMAND_RE.fullmatch(str(command.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        key = _scope_key(call.params.get("scope"), call.params.get("language_code") or "")
        self._commands[key] = commands
        return True

    async def _delete_my_commands(self, call: ApiCall) -> bool:
        key = _scope_key(call.params.get("scope"), call.params.get("language_code") or "")
        self._commands.pop(key, None)
        return True

    async def _get_my_commands(self, call: ApiCall) -> list[JSON]:
        key = _scope_key(call.params.get("scope"), call.params.get("language_code") or "")
        return self._commands.get(key, [])

    async def _send_chat_action(self, call: ApiCall) -> bool:
        self._target_chat(call.params)
        return True


def _scope_key(scope: Mapping[str, Any] | None, language_code: str) -> tuple[str, str]:
    return json.dumps(dict(scope or {"type": "default"}), sort_keys=True), language_code


def _default_description(status: int, retry_after: int | None) -> str:
    if status == 429:
        return f"Too Many Requests: retry after {retry_after or 1}"
    try:
        return f"{HTTPStatus(status).phrase}: injected by the double"
    except ValueError:
        return f"Injected failure {status}"


async def _read_params(request: web.Request) -> tuple[JSON, dict[str, UploadedFile]]:
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


# --------------------------------------------------------------------------- control API


class _ControlApi:
    """``/_control/...``: drive a double that runs in another process (JSON in, JSON out)."""

    def __init__(self, double: BotApiDouble) -> None:
        self.double = double
        self.actions: dict[str, Callable[[JSON], Awaitable[Any]]] = {
            "user": self._user,
            "group": self._group,
            "send_text": self._send_text,
            "send_command": self._send_command,
            "send_photo": self._send_photo,
            "send_document": self._send_document,
            "send_video": self._send_video,
            "press_button": self._press_button,
            "click": self._click,
            "fail_next": self._fail_next,
            "hang_next": self._hang_next,
            "wait_for": self._wait_for,
        }

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/_control/calls", self.calls),
            web.get("/_control/messages", self.messages),
            web.post("/_control/{action}", self.post),
        ]

    async def calls(self, request: web.Request) -> web.Response:
        """GET /_control/calls?since=SEQ: calls with seq >= SEQ, plus the unhandled ones."""
        since = int(request.query.get("since", 0))
        calls = [c.as_dict() for c in self.double.calls if c.seq >= since]
        unhandled = [c.method for c in self.double.unhandled]
        return web.json_response({"calls": calls, "unhandled": unhandled}, dumps=_dumps)

    async def messages(self, request: web.Request) -> web.Response:
        """GET /_control/messages?chat=ID: every message in the chat, deleted ones too."""
        chat = int(request.query["chat"])
        found = self.double.messages(chat, include_deleted=True)
        return web.json_response([m.as_dict() for m in found], dumps=_dumps)

    async def post(self, request: web.Request) -> web.Response:
        """POST /_control/<action> with a JSON body; answers {"ok": true, "result": ...}."""
        action = self.actions.get(request.match_info["action"])
        if action is None:
            return web.json_response({"ok": False, "error": f"actions: {sorted(self.actions)}"})
        body = await request.json() if request.body_exists else {}
        try:
            result = await action(body)
        except (KeyError, LookupError, ValueError, TypeError, AssertionError) as exc:
            return web.json_response({"ok": False, "error": repr(exc)}, status=400)
        return web.json_response({"ok": True, "result": result}, dumps=_dumps)

    def _user_ref(self, body: JSON) -> SimUser:
        user_id = int(body["user"])
        if user_id not in self.double._users:
            return self.double.user(user_id, f"User {user_id}")
        return self.double._users[user_id]

    @staticmethod
    def _source(body: JSON) -> bytes | Path:
        return Path(body["path"]) if "path" in body else base64.b64decode(body["data"])

    async def _user(self, body: JSON) -> JSON:
        user = self.double.user(
            int(body["id"]),
            body.get("first_name", f"User {body['id']}"),
            body.get("language_code", "id"),
            body.get("username"),
        )
        return user.to_api()

    async def _group(self, body: JSON) -> JSON:
        return self.double.group(int(body["id"]), body["title"]).to_api()

    async def _send_text(self, body: JSON) -> JSON:
        msg = await self.double.send_text(
            self._user_ref(body), body["text"], body.get("chat"), body.get("reply_to")
        )
        return msg.to_api()

    async def _send_command(self, body: JSON) -> JSON:
        msg = await self.double.send_command(
            self._user_ref(body), body["command"], body.get("args", ""), body.get("chat")
        )
        return msg.to_api()

    async def _send_photo(self, body: JSON) -> JSON:
        msg = await self.double.send_photo(
            self._user_ref(body),
            self._source(body),
            body.get("caption"),
            body.get("media_group_id"),
            chat=body.get("chat"),
            file_size=body.get("file_size"),
        )
        return msg.to_api()

    async def _send_document(self, body: JSON) -> JSON:
        msg = await self.double.send_document(
            self._user_ref(body),
            self._source(body),
            body["file_name"],
            body["mime_type"],
            body.get("caption"),
            body.get("media_group_id"),
            chat=body.get("chat"),
            file_size=body.get("file_size"),
        )
        return msg.to_api()

    async def _send_video(self, body: JSON) -> JSON:
        msg = await self.double.send_video(
            self._user_ref(body),
            self._source(body),
            body.get("caption"),
            body.get("media_group_id"),
            chat=body.get("chat"),
            file_size=body.get("file_size"),
        )
        return msg.to_api()

    def _message_ref(self, body: JSON) -> StoredMessage:
        return self.double.message(int(body["chat"]), int(body["message_id"]))

    async def _press_button(self, body: JSON) -> JSON:
        return await self.double.press_button(
            self._user_ref(body),
            self._message_ref(body),
            body["callback_data"],
            forge=bool(body.get("forge")),
        )

    async def _click(self, body: JSON) -> JSON:
        return await self.double.click(self._user_ref(body), self._message_ref(body), body["text"])

    async def _fail_next(self, body: JSON) -> None:
        self.double.fail_next(
            body["method"],
            int(body.get("count", 1)),
            int(body.get("status", 502)),
            retry_after=body.get("retry_after"),
        )

    async def _hang_next(self, body: JSON) -> None:
        self.double.hang_next(
            body["method"], int(body.get("count", 1)), float(body.get("seconds", 10))
        )

    async def _wait_for(self, body: JSON) -> JSON:
        chat = body.get("chat")
        call = await self.double.wait_for(
            body["method"],
            None if chat is None else (lambda c: c.chat_id == chat),
            float(body.get("timeout", 5.0)),
        )
        return call.as_dict()


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


class ControlClient:
    """Blocking client for the control API of a double running in another process."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        # Loopback only: never route through HTTP(S)_PROXY from the environment.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def post(self, action: str, **body: Any) -> Any:
        """Run a control action, e.g. ``post("send_text", user=1001, text="halo")``."""
        request = urllib.request.Request(
            f"{self.url}/_control/{action}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        answer = self._open(request)
        if not answer.get("ok"):
            raise RuntimeError(f"control action {action} failed: {answer.get('error')}")
        return answer.get("result")

    def calls(self, since: int = 0) -> list[JSON]:
        """Recorded calls with seq >= since (files summarised by size and sha256)."""
        return list(self._open(f"{self.url}/_control/calls?since={since}")["calls"])

    def unhandled(self) -> list[str]:
        """Names of methods the bot called that the double does not implement."""
        return list(self._open(f"{self.url}/_control/calls?since={2**62}")["unhandled"])

    def messages(self, chat: int) -> list[JSON]:
        """Messages in a chat (see ``StoredMessage.as_dict``)."""
        return list(self._open(f"{self.url}/_control/messages?chat={chat}"))

    def wait_for(self, method: str, timeout: float = 5.0, chat: int | None = None) -> JSON:
        """Block until the double saw a successful call of ``method`` (to ``chat``)."""
        return dict(self.post("wait_for", method=method, timeout=timeout, chat=chat))

    def _open(self, request: urllib.request.Request | str) -> Any:
        with self._opener.open(request, timeout=self.timeout) as response:
            return json.loads(response.read())


# --------------------------------------------------------------------------- standalone


async def _serve(args: argparse.Namespace) -> None:
    double = BotApiDouble(
        args.token,
        host=args.host,
        port=args.port,
        download_limit=None if args.no_download_limit else CLOUD_DOWNLOAD_LIMIT,
        strict_chats=not args.lenient_chats,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with double:
        # The parent process reads this line to learn the port (useful with --port 0).
        print(f"BotApiDouble listening on {double.url}", flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bot.apidouble --port N --token T``: serve until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(description="Telegram Bot API double on loopback")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--no-download-limit", action="store_true", help="lift the 20 MB cap")
    parser.add_argument("--lenient-chats", action="store_true", help="accept unknown chat ids")
    asyncio.run(_serve(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
