"""Drive a simulator in another process over HTTP: the ``/_control`` routes and their client."""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from telesim.state import JSON, SimUser, StoredMessage

if TYPE_CHECKING:
    from telesim.server import BotApiDouble


class ControlApi:
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
