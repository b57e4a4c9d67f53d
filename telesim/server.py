"""The simulated Bot API server (``BotApiDouble``): routes, method handlers, simulated world."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import socket
import time
import traceback
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp
from aiohttp import web

from telesim.control import ControlApi
from telesim.entities import check_length, check_markup, render_text, utf16_len
from telesim.errors import ApiError, WaitTimeout
from telesim.faults import Fault, Faults, default_description
from telesim.media import FileStore
from telesim.params import read_params
from telesim.ptb import application_builder, running
from telesim.state import (
    JSON,
    ApiCall,
    ChatRef,
    SimChat,
    SimUser,
    StoredFile,
    StoredMessage,
    UploadedFile,
    UserRef,
    inline_markup,
)

if TYPE_CHECKING:
    from telegram.ext import Application
    from telegram.ext._applicationbuilder import InitApplicationBuilder

T = TypeVar("T")

DEFAULT_TOKEN = "123456789:WARTA-test-token-for-the-bot-api-double"
#: The cloud Bot API refuses getFile above this size; a self-hosted server does not.
CLOUD_DOWNLOAD_LIMIT = 20 * 1024 * 1024
CLOUD_UPLOAD_LIMIT = 50 * 1024 * 1024
LOCAL_UPLOAD_LIMIT = 2000 * 1024 * 1024
#: Methods that create messages in a chat (what ``wait_for_message`` listens to).
SEND_METHODS = ("sendMessage", "sendPhoto", "sendDocument", "sendVideo", "sendMediaGroup")

# Without allowed_updates, Telegram delivers everything except these.
_NOT_DELIVERED_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
_LEADING_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]+)?")
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
_BAD_QUERY = "Bad Request: query is too old and response timeout expired or query ID is invalid"


def _key(method: str) -> str:
    """Telegram method names are case-insensitive; also accept PTB's snake_case spelling."""
    return method.replace("_", "").lower()


def _update_type(update: JSON) -> str:
    return next(k for k in update if k != "update_id")


Handler = Callable[[ApiCall], Awaitable[Any]]


class BotApiDouble:
    """A Telegram Bot API server double for PTB applications, served over HTTP on loopback.

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
    ``press_button`` ...).  It answers like the real server where that catches bugs: unknown
    chats, blocked users, oversized texts, broken HTML, "message is not modified", 20 MB
    download cap, album sizes.  ``python -m telesim --port N`` serves it standalone with a
    small ``/_control`` HTTP API (see ``ControlClient``) for tests that run the bot as a
    subprocess.
    """

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
        self._forwarding: JSON | None = None
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
        self._commands: dict[tuple[str, str], list[JSON]] = {}
        self._menu_buttons: dict[int, JSON] = {}
        self._callback_answers: dict[str, JSON | None] = {}
        self._faults = Faults()
        self._pending: deque[JSON] = deque()
        self._allowed_updates: frozenset[str] | None = None
        self._webhook: JSON | None = None
        self._counts: Counter[str] = Counter()
        self._claimed: set[int] = set()
        self._ids = itertools.count(1)
        self._files = FileStore(self._ids)
        self._update_ids = itertools.count(700_000_001)
        self._poll_generation = 0
        self._changed = asyncio.Event()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._webhook_task: asyncio.Task[None] | None = None
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
                *ControlApi(self).routes(),
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
        self._webhook_task = asyncio.create_task(self._webhook_loop(), name="telesim-webhook")
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
        self._files.remove_local_copies()

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
        msg.forward_origin = self._forwarding
        return await self._deliver(msg)

    async def edit_by_user(
        self,
        user: UserRef,
        message: StoredMessage,
        text: str,
        *,
        entities: list[JSON] | None = None,
    ) -> StoredMessage:
        """The user edits their own message's text (or caption, for media): Telegram then
        sends an ``edited_message`` update with the whole message and its ``edit_date``."""
        if message.from_bot or message.sender.get("id") != self._user_of(user).id:
            raise ValueError("a user can edit only their own messages")
        message.history.append(message.to_api())
        if message.media:
            message.caption = message.plain = text
        else:
            message.text = message.plain = text
        message.entities = entities or []
        # Each edit gets a later edit_date, as a person's edits are seconds apart: a
        # handler may tell the versions of a message apart by it.
        message.edit_date = max(int(time.time()), message.date + 1,
                                (message.edit_date or 0) + 1)
        await self.send_update({"edited_message": message.to_api()})
        return message

    @contextlib.contextmanager
    def forwarded_from(self, origin: JSON) -> Iterator[None]:
        """Messages sent inside the block arrive as forwarded from ``origin`` (a Bot API
        ``MessageOrigin``, e.g. ``{"type": "channel", "chat": {...}, "message_id": 7,
        "date": ...}``)."""
        self._forwarding = origin
        try:
            yield
        finally:
            self._forwarding = None

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
        entity = {"type": "bot_command", "offset": 0, "length": utf16_len(head)}
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
        media, main = self._files.create_media("photo", jpeg, file_size=file_size)
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
        media, main = self._files.create_media(
            "document", data, file_name=file_name, mime_type=mime_type, file_size=file_size
        )
        return await self._send_media(user, chat, None, media, main, caption, media_group_id)

    async def send_video_note(
        self,
        user: UserRef,
        data: bytes | Path,
        *,
        duration: int = 5,
        length: int = 240,
        chat: ChatRef | None = None,
    ) -> StoredMessage:
        """The user records a round video (a video note: no caption, no file name)."""
        media, main = self._files.create_media(
            "video_note", data, extra={"duration": duration, "length": length})
        return await self._send_media(user, chat, None, media, main, None, None)

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
        media, main = self._files.create_media(
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
        msg.forward_origin = self._forwarding
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
        _, main = self._files.create_media(
            kind, path, file_name=file_name or path.name, mime_type=mime_type, file_size=file_size
        )
        return main.file_id

    def file(self, file_id: str) -> StoredFile:
        """The stored file for a file_id (any photo size, document or video)."""
        return self._files.by_id[file_id]

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

    def menu_button(self, chat: ChatRef) -> JSON | None:
        """The menu button set for a private chat (0: the bot's default), or None."""
        return self._menu_buttons.get(self._chat_id_of(chat) if chat else 0)

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
            description = default_description(status, retry_after)
        fault = Fault(
            status=status, retry_after=retry_after, description=description, chat_id=chat_id
        )
        self._faults.arm(_key(method), fault, count)

    def hang_next(self, method: str, count: int = 1, seconds: float = 10.0) -> None:
        """Hold the next ``count`` calls of ``method`` for ``seconds`` before handling them.

        The call still takes effect afterwards (a client that timed out cannot know whether
        its message was sent, just as with the real server); ``stop()`` cuts the wait short.
        """
        self._faults.arm(_key(method), Fault(hang=seconds), count)

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
            params, files = await read_params(request)
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
        fault = self._faults.take(_key(call.method), call)
        if fault is not None:
            if fault.hang:
                await self._sleep(fault.hang)
            else:
                raise ApiError(fault.status, fault.description or "", fault.retry_after)
        if entry is None:
            self.unhandled.append(call)
            raise ApiError(404, f"Not Found: method {call.method} is not implemented by the double")
        return await entry[1](call)

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        stored = self._files.by_path.get(request.match_info["file_path"])
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
            ("setChatMenuButton", self._set_chat_menu_button),
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
        plain, entities = render_text(
            body, format_params.get("parse_mode"), format_params.get(entities_field)
        )
        check_length(plain, caption=caption)
        markup = check_markup(call.params.get("reply_markup"))
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
            return self._files.media_by_id(value, kind)
        elif field is not None:
            upload = call.files.get(field)
        if upload is None:
            raise ApiError(400, f"Bad Request: there is no {kind} in the request")
        return self._files.create_media(
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
        markup = inline_markup(markup)
        same_content = content is None or (content[1], content[2]) == (msg.plain, msg.entities)
        if same_content and markup == inline_markup(msg.reply_markup):
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
        plain, entities = render_text(
            text, call.params.get("parse_mode"), call.params.get("entities")
        )
        check_length(plain, caption=False)
        markup = check_markup(call.params.get("reply_markup"))
        content = (text, plain, entities, call.params.get("parse_mode"))
        return self._apply_edit(call, msg, markup, content)

    async def _edit_message_caption(self, call: ApiCall) -> JSON:
        msg = self._editable(call.params)
        if not msg.media:
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        raw = call.params.get("caption")
        caption = None if raw is None else str(raw)
        plain, entities = render_text(
            caption, call.params.get("parse_mode"), call.params.get("caption_entities")
        )
        check_length(plain, caption=True)
        markup = check_markup(call.params.get("reply_markup"))
        return self._apply_edit(
            call, msg, markup, (caption or "", plain, entities, call.params.get("parse_mode"))
        )

    async def _edit_message_reply_markup(self, call: ApiCall) -> JSON:
        msg = self._editable(call.params)
        return self._apply_edit(call, msg, check_markup(call.params.get("reply_markup")))

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
        stored = self._files.by_id.get(str(call.params.get("file_id")))
        if stored is None:
            raise ApiError(400, "Bad Request: wrong file_id or the file is temporarily unavailable")
        if self.download_limit is not None and stored.file_size > self.download_limit:
            raise ApiError(400, "Bad Request: file is too big")
        path = str(self._files.local_path(stored)) if self.local_mode else stored.file_path
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

    async def _set_chat_menu_button(self, call: ApiCall) -> bool:
        button = call.params.get("menu_button") or {"type": "default"}
        if button.get("type") == "web_app" and not str(
                (button.get("web_app") or {}).get("url", "")).startswith("https://"):
            raise ApiError(400, "Bad Request: BUTTON_URL_INVALID")
        self._menu_buttons[int(call.params.get("chat_id") or 0)] = button
        return True

    async def _send_chat_action(self, call: ApiCall) -> bool:
        self._target_chat(call.params)
        return True


def _scope_key(scope: Mapping[str, Any] | None, language_code: str) -> tuple[str, str]:
    return json.dumps(dict(scope or {"type": "default"}), sort_keys=True), language_code
