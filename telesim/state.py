"""Records of the simulated world: users, chats, messages, files and Bot API calls."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

JSON = dict[str, Any]


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
    #: Where a forwarded message came from (a Bot API ``MessageOrigin``), if forwarded.
    forward_origin: JSON | None = None

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
        if self.forward_origin is not None:
            api["forward_origin"] = self.forward_origin
        markup = inline_markup(self.reply_markup)
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


def inline_markup(markup: JSON | None) -> JSON | None:
    """``markup`` if it is an inline keyboard (the only kind Telegram echoes), else None."""
    return markup if markup is not None and "inline_keyboard" in markup else None
