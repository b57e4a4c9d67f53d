"""Reads of what the bot did, from outside it: call log, database, website."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import requests

from telesim import ControlClient

JSON = dict[str, Any]


def wait_until(condition: Callable[[], Any], timeout: float, what: str,
               interval: float = 0.1) -> Any:
    """Polls `condition` until it is truthy; AssertionError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class CallLog:
    """The double's record of the bot's Bot API calls, mirrored incrementally.

    Only finished calls are kept. Long polls (getUpdates) still open are skipped and read
    again later; other calls still in flight (held by `hang_next`) keep the cursor back.
    """

    def __init__(self, control: ControlClient) -> None:
        self.control = control
        self.calls: dict[int, JSON] = {}
        self.cursor = 1
        self._open_polls: set[int] = set()
        # Bot messages by chat, in their latest (edited) state.
        self.messages: dict[int, dict[int, JSON]] = defaultdict(dict)

    def refresh(self) -> list[JSON]:
        """Reads what finished since the last refresh; returns the newly finished calls."""
        since = min([self.cursor, *self._open_polls])
        fresh: list[JSON] = []
        pending_from: int | None = None
        for call in self.control.calls(since):
            seq = int(call["seq"])
            if seq in self.calls:
                continue
            if not call["status"]:
                if call["method"] == "getUpdates":
                    self._open_polls.add(seq)
                elif pending_from is None:
                    pending_from = seq
                continue
            self._open_polls.discard(seq)
            self.calls[seq] = call
            fresh.append(call)
            self._index(call)
            if pending_from is None:
                self.cursor = seq + 1
        fresh.sort(key=lambda c: c["seq"])
        return fresh

    def _index(self, call: JSON) -> None:
        if call["status"] != 200:
            return
        result = call["result"]
        for message in result if isinstance(result, list) else [result]:
            if isinstance(message, dict) and "message_id" in message and "chat" in message:
                self.messages[int(message["chat"]["id"])][int(message["message_id"])] = message

    def ok(self, *methods: str) -> Iterator[JSON]:
        wanted = set(methods)
        for seq in sorted(self.calls):
            call = self.calls[seq]
            if call["status"] == 200 and (not wanted or call["method"] in wanted):
                yield call

    def message_with_button(self, chat: int, data: str) -> JSON | None:
        """The newest bot message in `chat` whose current keyboard has callback `data`."""
        for message_id in sorted(self.messages[chat], reverse=True):
            message = self.messages[chat][message_id]
            if data in buttons_of(message):
                return message
        return None

    def message_containing(self, chat: int, text: str) -> JSON | None:
        for message_id in sorted(self.messages[chat], reverse=True):
            message = self.messages[chat][message_id]
            if text in (message.get("text") or message.get("caption") or ""):
                return message
        return None

    def delivered(self) -> dict[int, JSON]:
        """Every update getUpdates handed out, by update_id (the latest copy)."""
        updates: dict[int, JSON] = {}
        for call in self.ok("getUpdates"):
            for update in call["result"]:
                updates[int(update["update_id"])] = update
        return updates

    def deliveries(self) -> Counter[int]:
        return Counter(int(u["update_id"]) for call in self.ok("getUpdates")
                       for u in call["result"])

    def acknowledged_below(self) -> int:
        """Telegram forgets every update below the highest offset the bot asked for."""
        offsets = [int(c["params"].get("offset", 0)) for c in self.calls.values()
                   if c["method"] == "getUpdates"]
        return max(offsets, default=0)


def buttons_of(message: JSON) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [str(b.get("callback_data")) for row in rows for b in row if "callback_data" in b]


class Db:
    """Read-only queries on the bot's SQLite database from outside the bot (WAL: readers
    never block the bot's writers)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._connection: sqlite3.Connection | None = None

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        if self._connection is None:
            self._connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                               isolation_level=None, timeout=30)
        return self._connection.execute(sql, params).fetchall()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class WordPressReader:
    """Authenticated reads of what the site holds, with the Application Password."""

    def __init__(self, url: str, user: str, app_password: str) -> None:
        self.url = url.rstrip("/")
        self.http = requests.Session()
        self.http.auth = (user, app_password)
        self.http.trust_env = False

    def _get(self, **params: Any) -> requests.Response:
        response = self.http.get(f"{self.url}/wp-json/wp/v2/posts", timeout=60, params={
            "status": "any", "per_page": 100, "context": "edit",
            "_fields": "id,slug,status,link,title", **params})
        response.raise_for_status()
        return response

    def posts_by_slug(self, slugs: dict[str, int]) -> dict[int, list[JSON]]:
        """Posts per item, from {slug: item id}, duplicates included: WordPress gives a
        second post with slug S the slug S-2, so those are asked for too."""
        wanted = {f"{slug}{suffix}": item for slug, item in slugs.items()
                  for suffix in ("", "-2", "-3")}
        found: dict[int, list[JSON]] = {item: [] for item in slugs.values()}
        names = list(wanted)
        for start in range(0, len(names), 60):
            for post in self._get(slug=",".join(names[start:start + 60])).json():
                found[wanted[post["slug"]]].append(post)
        return found

    def posts_mentioning(self, text: str) -> list[JSON]:
        """Every post (any status but trash) whose title or content has `text`."""
        posts: list[JSON] = []
        page = 1
        while True:
            response = self._get(search=text, page=page)
            posts += response.json()
            if page >= int(response.headers.get("X-WP-TotalPages", 1)):
                return posts
            page += 1
