"""Fault-injection harness: `warta run` as a real process, killed and restarted at will.

What runs, each in its own process, as in production:

- the Telegram Bot API double (`python -m telesim`), driven over its `/_control` API
  with `ControlClient`; it outlives every bot process, so updates injected while the bot is
  down wait in its queue like they would at Telegram;
- `warta --config FILE run`, started, `kill -9`ed and started again (`BotProcess`);
- a real WordPress (tests/wordpress_site.py), optionally behind `FlakyProxy`, a small
  reverse proxy that passes requests through, answers 500, holds them until the client
  gives up, or drops the connection, switchable while the bot runs.

`Office` puts them together for one test: a temp directory with config.toml, the SQLite
database and the media directory, people registered with `warta user add`, and the
observers the checks need: `CallLog` (every Bot API call the bot made, read incrementally),
`Db` (read-only SQLite queries from outside the bot) and `WordPressReader`.

`Driver` moves planned items through the whole SOP by injecting updates (officer text or
photo + Kirim, editor Ambil + /judul + /isi + /ajukan, official ✅ or ❌ + reason), one step
at a time per item and many items at once, waiting for each step's effect in the database
(and for the buttons it needs in the double's chats); it never assumes the bot is up.

Notifications are counted from the double's call log (`notification_counts`): a
notification is one send to one chat about one item of one kind (`Notice`), e.g. the
approval notice to the officer of item 12; "twice" means two successful sends with the same
(chat, kind, item).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import io
import json
import os
import random
import re
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from PIL import Image, ImageDraw

from publisher.wordpress import post_slug
from telesim import ControlClient
from warta.cli import main as warta_main
from workflow import db as wdb
from workflow.models import Item, OutboxKind, OutboxMessage, Person, Status

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "424242424:WARTA-fault-injection-token"
IT_CHAT = -100_777_001
ALERT_CHAT = -100_777_002
LOOPBACK = "127.0.0.1,localhost"
JSON = dict[str, Any]

# Leases as the bot's code sets them (bot/notifier.py via workflow.outbox, and
# publisher.worker): a row leased by a process that was killed is taken again after these.
NOTIFY_LEASE = timedelta(minutes=2)
PUBLISH_LEASE = timedelta(minutes=10)


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("NO_PROXY", "no_proxy"):
        env[name] = ",".join(filter(None, [env.get(name, ""), LOOPBACK]))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


# --------------------------------------------------------------------------- the double


class DoubleProcess:
    """`python -m telesim --port 0 --token T` in a process of its own."""

    def __init__(self, log_path: Path, token: str = TOKEN) -> None:
        self.token = token
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.control: ControlClient

    def start(self, timeout: float = 30.0) -> DoubleProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "telesim", "--port", "0", "--token", self.token],
                stdout=subprocess.PIPE, stderr=log, cwd=ROOT, env=_env())
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline().decode() if ready else ""
        match = re.search(r"listening on (http://\S+)", line)
        if match is None:
            self.stop()
            raise RuntimeError(f"the Bot API double did not start: {line!r}")
        self.process.stdout.close()
        self.url = match.group(1)
        self.control = ControlClient(self.url, timeout=60.0)
        return self

    @property
    def base_url(self) -> str:
        return f"{self.url}/bot"

    @property
    def file_url(self) -> str:
        return f"{self.url}/file/bot"

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


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


# --------------------------------------------------------------------------- WordPress


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


class FlakyProxy:
    """A reverse proxy in front of the website whose behaviour can be switched live.

    Modes: "pass" (forward), "error" (answer `status`, 500 by default), "hang" (hold the
    request `hang_seconds`, then drop the connection: the client's timeout fires first),
    "drop" (close the connection without an answer, like a site that is down).
    A request whose upstream cannot be reached is dropped too.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.mode = "pass"
        self.status = 500
        self.hang_seconds = 5.0
        self.counts: Counter[str] = Counter()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                mode = proxy.mode
                proxy.counts[mode] += 1
                if mode == "error":
                    payload = json.dumps({"code": "injected", "message": "injected"}).encode()
                    self.send_response(proxy.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if mode == "hang":
                    time.sleep(proxy.hang_seconds)
                    self.close_connection = True
                    return
                if mode == "drop":
                    self.close_connection = True
                    return
                try:
                    status, headers, answer = proxy._forward(
                        self.command, self.path, dict(self.headers), body)
                except OSError:
                    proxy.counts["unreachable"] += 1
                    self.close_connection = True
                    return
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in ("transfer-encoding", "connection",
                                            "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _forward(self, method: str, path: str, headers: dict[str, str],
                 body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        host = self.upstream.split("//", 1)[1]
        connection = http.client.HTTPConnection(host, timeout=120)
        try:
            headers = {k: v for k, v in headers.items() if k.lower() != "host"}
            headers["Host"] = host
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def __enter__(self) -> FlakyProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# --------------------------------------------------------------------------- the database


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


# --------------------------------------------------------------------------- the bot


class BotProcess:
    """`warta --config FILE run` as a child process: start, kill -9, stop."""

    def __init__(self, config: Path, log_path: Path, env: dict[str, str]) -> None:
        self.config = config
        self.log_path = log_path
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0
        self.ended_by_us = False

    def start(self) -> None:
        assert not self.alive, "already running"
        script = Path(sys.executable).with_name("warta")
        command = [str(script)] if script.exists() else [sys.executable, "-m", "warta.cli"]
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts + 1} at {time.time():.3f}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [*command, "--config", str(self.config), "run"],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.config.parent, env=self.env)
        self.starts += 1
        self.ended_by_us = False

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no cleanup of any kind, in whatever the bot was doing."""
        assert self.process is not None
        self.ended_by_us = True
        self.process.kill()
        self.process.wait()
        self.kills += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- killed (kill -9 #{self.kills}) at {time.time():.3f}\n".encode())

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait: the bot finishes the update in hand and exits 0."""
        if not self.alive:
            return self.process.returncode if self.process else 0
        assert self.process is not None
        self.ended_by_us = True
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"warta run did not stop within {timeout} s") from None

    def check(self) -> None:
        """Fails with the end of the log if the bot exited although nobody ended it."""
        if self.process is None or self.ended_by_us or self.process.poll() is None:
            return
        tail = "\n".join(self.log_text().splitlines()[-30:])
        raise AssertionError(f"warta run exited by itself (code {self.process.returncode}):"
                             f"\n{tail}")

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


# --------------------------------------------------------------------------- the office


@dataclass(frozen=True)
class Member:
    key: str
    telegram_id: int
    name: str
    role: str


def staff(officers: int, editors: int, officials: int) -> list[Member]:
    people = [Member(f"officer{n}", 51_000 + n, f"Petugas {n}", "petugas")
              for n in range(officers)]
    people += [Member(f"editor{n}", 52_000 + n, f"Editor {n}", "editor") for n in range(editors)]
    people += [Member(f"official{n}", 53_000 + n, f"Pejabat {n}", "pejabat")
               for n in range(officials)]
    people.append(Member("admin", 54_000, "Admin Web", "admin"))
    return people


@dataclass(frozen=True)
class Site:
    url: str
    user: str
    app_password: str


class Office:
    """One office for one test: files, double, people, and the bot process."""

    def __init__(self, root: Path, people: list[Member], site: Site | None, *,
                 website_url: str | None = None, publisher: dict[str, float] | None = None,
                 telegram: dict[str, Any] | None = None) -> None:
        self.root = root
        self.people = {p.key: p for p in people}
        self.site = site
        self.db_path = root / "warta.db"
        self.media_dir = root / "media"
        self.config = root / "config.toml"
        self.double = DoubleProcess(root / "double.log")
        self.website_url = website_url or (site.url if site else "")
        self.publisher = {"interval_seconds": 1.0, "max_attempts": 50,
                          "backoff_base_seconds": 1.0, "backoff_max_seconds": 4.0,
                          **(publisher or {})}
        self.telegram = telegram or {}
        self.log: CallLog
        self.bot: BotProcess
        self.db = Db(self.db_path)
        self.first_item_id = 0
        self.person_ids: dict[int, int] = {}  # telegram id -> people.id

    # -- set-up ------------------------------------------------------------------------

    def start(self) -> Office:
        self.double.start()
        self.log = CallLog(self.double.control)
        control = self.double.control
        for person in self.people.values():
            control.post("user", id=person.telegram_id, first_name=person.name.split()[0],
                         language_code="id")
        control.post("group", id=IT_CHAT, title="Tim IT")
        control.post("group", id=ALERT_CHAT, title="Webmaster")
        self.write_config()
        self.warta("db", "upgrade")
        for person in self.people.values():
            self.warta("user", "add", "--telegram-id", str(person.telegram_id), "--name",
                       person.name, "--role", person.role)
        self.person_ids = {int(t): int(i) for i, t in
                           self.db.query("SELECT id, telegram_id FROM people")}
        self.first_item_id = self._start_items_high()
        env = _env(PTB_TIMEDELTA="true", WARTA_TELEGRAM_TOKEN=self.double.token,
                   WARTA_LOG_LEVEL="INFO")
        if self.site is not None:
            env["WARTA_WEBSITE_PASSWORD"] = self.site.app_password
        self.bot = BotProcess(self.config, self.root / "warta.log", env)
        return self

    def warta(self, *args: str) -> None:
        """The `warta` command line (in this process: the same code, no start-up cost)."""
        with contextlib.redirect_stdout(io.StringIO()) as out:
            code = warta_main(["--config", str(self.config), *args])
        assert code == 0, f"warta {' '.join(args)} failed ({code}): {out.getvalue()}"

    def write_config(self) -> None:
        website = '[website]\nadapter = "none"\n'
        if self.site is not None:
            website = (f'[website]\nadapter = "wordpress"\nbase_url = "{self.website_url}"\n'
                       f'username = "{self.site.user}"\ntimeout_seconds = 3.0\n')
        publisher = "".join(f"{k} = {v}\n" for k, v in self.publisher.items())
        telegram = "".join(f"{k} = {json.dumps(v)}\n" for k, v in self.telegram.items())
        self.config.write_text(f"""\
[office]
name = "Dinas Uji Gangguan"

[telegram]
api_base_url = "{self.double.base_url}"
api_file_url = "{self.double.file_url}"
it_team_chat_id = {IT_CHAT}
alert_chat_id = {ALERT_CHAT}
album_wait_seconds = 0.3
rate_limit = false
{telegram}
[database]
url = "sqlite:///{self.db_path}"

[media]
dir = "{self.media_dir}"

{website}
[publisher]
{publisher}
[alerts]
sweep_seconds = 86400.0
""", encoding="utf-8")

    def _start_items_high(self) -> int:
        """The WordPress of a test session keeps every post, and posts are found by the
        key `warta-<item id>`; item ids restart at 1 in each database. So items start at a
        random high id (a cancelled placeholder holds the number: SQLite takes max + 1)."""
        start = random.SystemRandom().randrange(10**7, 10**9)
        engine = wdb.make_engine(f"sqlite:///{self.db_path}")
        try:
            with wdb.session_factory(engine)() as session, session.begin():
                officer = session.query(Person).order_by(Person.id).first()
                assert officer is not None
                now = datetime.now(UTC)
                session.add(Item(id=start, state=Status.CANCELLED, officer_id=officer.id,
                                 tags=[], created_at=now, updated_at=now))
        finally:
            engine.dispose()
        return start + 1

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if getattr(self, "bot", None) is not None and self.bot.alive:
                self.bot.process.kill()  # type: ignore[union-attr]
                self.bot.process.wait()  # type: ignore[union-attr]
        self.double.stop()
        self.db.close()

    # -- the passing of time -------------------------------------------------------------

    def skip_downtime(self) -> int:
        """While the bot is dead: lets the outbox leases of the killed process run out.

        A row leased by a process that was killed is taken again when its lease ends (2
        minutes for notifications, 10 for posts). Waiting that long after each kill would
        make the test last hours, so the rows' clock is moved instead, as if the bot had
        stayed down that long: every open row's next attempt comes (lease - grace) sooner,
        never earlier than now. The grace keeps a request the dead process left in flight
        from racing its own retry, as the real lease does: a WordPress upload may still run
        in PHP for a moment (8 s), while the double answers at once (1 s). Returns how many
        rows became due sooner."""
        assert not self.bot.alive
        engine = wdb.make_engine(f"sqlite:///{self.db_path}")
        moved = 0
        now = datetime.now(UTC)
        try:
            with wdb.session_factory(engine)() as session, session.begin():
                rows = session.query(OutboxMessage).filter(
                    OutboxMessage.done_at.is_(None), OutboxMessage.next_attempt_at > now)
                for row in rows:
                    publish = row.kind == OutboxKind.PUBLISH
                    lease = PUBLISH_LEASE if publish else NOTIFY_LEASE
                    grace = timedelta(seconds=8 if publish else 1)
                    due = max(now, row.next_attempt_at - (lease - grace))
                    if due < row.next_attempt_at:
                        row.next_attempt_at = due
                        moved += 1
        finally:
            engine.dispose()
        return moved

    # -- observing -----------------------------------------------------------------------

    def tid(self, key: str) -> int:
        return self.people[key].telegram_id

    def items(self) -> dict[int, JSON]:
        rows = self.db.query(
            "SELECT id, state, officer_id, editor_id, decided_by_id, description, title, body,"
            " remote_id, remote_url, last_note FROM items WHERE id >= ?", self.first_item_id)
        names = ("id", "state", "officer_id", "editor_id", "decided_by_id", "description",
                 "title", "body", "remote_id", "remote_url", "last_note")
        return {int(r[0]): dict(zip(names, r, strict=True)) for r in rows}

    def health(self) -> JSON:
        """GET /healthz of the bot's webhook server (webhook mode only)."""
        port = self.telegram["webhook_port"]
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
                return dict(json.loads(response.read()))
        except urllib.error.HTTPError as error:
            return {"http_status": error.code, **json.loads(error.read() or b"{}")}

    def publish_keys(self) -> dict[int, str]:
        """Item id -> the idempotency key of its post (the publish outbox row's)."""
        return {int(item): str(key) for item, key in self.db.query(
            "SELECT item_id, idempotency_key FROM outbox WHERE kind = 'publish'")}

    def open_outbox(self, kinds: tuple[str, ...] = ("notify", "publish")) -> list[tuple[Any, ...]]:
        return self.db.query(
            "SELECT id, kind, template, target, attempts, next_attempt_at, last_error FROM outbox"
            f" WHERE done_at IS NULL AND kind IN ({', '.join('?' * len(kinds))})", *kinds)

    def unhandled_updates(self) -> int:
        return int(self.db.query(
            "SELECT count(*) FROM inbound_updates WHERE handled_at IS NULL")[0][0])

    def inbound(self) -> list[JSON]:
        rows = self.db.query("SELECT update_id, payload, handled_at, attempts, last_error"
                             " FROM inbound_updates ORDER BY update_id")
        return [{"update_id": int(r[0]), "payload": json.loads(r[1]), "handled_at": r[2],
                 "attempts": int(r[3]), "last_error": r[4]} for r in rows]

    def media_items(self) -> dict[str, int]:
        """Stored photo sha256 -> item id (to attribute the photos of cards)."""
        return {str(sha): int(item) for sha, item in
                self.db.query("SELECT sha256, item_id FROM media")}

    def quiet(self, seconds: float, timeout: float) -> None:
        """Waits until the bot has nothing left to do: every update handled, every outbox
        row done, and no Bot API call (other than polling) for `seconds`."""
        deadline = time.monotonic() + timeout
        last_activity = time.monotonic()
        while True:
            self.bot.check()
            fresh = self.log.refresh()
            if any(c["method"] != "getUpdates" for c in fresh):
                last_activity = time.monotonic()
            # Without a website (adapter "none") nobody takes the publish rows.
            kinds = ("notify", "publish") if self.site is not None else ("notify",)
            busy = self.unhandled_updates() or self.open_outbox(kinds)
            if busy:
                last_activity = time.monotonic()
            elif time.monotonic() - last_activity >= seconds:
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the bot did not settle within {timeout} s: unhandled updates "
                    f"{self.unhandled_updates()}, open outbox rows "
                    f"{self.open_outbox(kinds)[:5]}")
            time.sleep(0.2)


# --------------------------------------------------------------------------- test data


def jpeg(seed: int, size: tuple[int, int] = (320, 240)) -> bytes:
    """A small JPEG that differs per seed (distinct photos, distinct stored files)."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        draw.rectangle((x, y, x + rng.randrange(20, 120), y + rng.randrange(20, 90)),
                       fill=tuple(rng.randrange(256) for _ in range(3)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


# --------------------------------------------------------------------------- driving


@dataclass
class Plan:
    """What happens to one item, decided up front by the seed."""

    index: int
    officer: str
    editor: str
    official: str
    photo: bool
    approve: bool
    run: str  # names this test run on the website (titles), whatever the slugs

    @property
    def marker(self) -> str:
        return f"[berita-{self.index:03d}]"

    @property
    def title(self) -> str:
        return f"Kegiatan {self.run} desa nomor {self.index}"

    @property
    def body(self) -> str:
        return f"Warga desa {self.index} bergotong royong membersihkan balai desa."

    @property
    def reason(self) -> str:
        return f"Foto kurang jelas (berita {self.index})"


def make_plans(rng: random.Random, count: int, people: dict[str, Member],
               approve_rate: float = 0.7, photo_rate: float = 0.3) -> list[Plan]:
    run = "uji" + random.SystemRandom().randbytes(5).hex()
    officers = sorted(k for k, p in people.items() if p.role == "petugas")
    editors = sorted(k for k, p in people.items() if p.role == "editor")
    officials = sorted(k for k, p in people.items() if p.role == "pejabat")
    return [Plan(n, officers[n % len(officers)], rng.choice(editors), rng.choice(officials),
                 rng.random() < photo_rate, rng.random() < approve_rate, run)
            for n in range(count)]


@dataclass
class Injection:
    """One update the test injected: what for, and how to find it in the bot's inbox."""

    item: int  # plan index
    step: str
    ref: tuple[Any, ...]  # ("message", chat, message_id) or ("callback", query id)
    at: float


@dataclass
class Track:
    plan: Plan
    step: str = "new"
    item_id: int | None = None
    since: float = 0.0
    failed: int = 0  # steps whose effect never came (each recorded in Driver.failures)
    done_at: float | None = None
    question: int | None = None


FINAL = {"published", "rejected"}
# For a step whose effect never came: the step that injects its update again. Steps that
# wait for a notification (a card) or the publisher have nothing to press again.
REDO = {"draft": "new", "submitted": "draft", "claimed": "claim", "edited": "claimed",
        "forwarded": "edited", "question": "decide"}


class Driver:
    """Moves planned items through the SOP by injecting updates into the double."""

    def __init__(self, office: Office, plans: list[Plan], *, step_timeout: float = 90.0,
                 publishes: bool = True, recover_lost_replies: bool = False,
                 reply_grace: float = 10.0, spacing: float = 0.0,
                 stop_at: str | None = None) -> None:
        """`publishes`: approved items must end published (a website is configured).
        `recover_lost_replies`: when a direct answer the next step needs (the draft summary
        with Kirim, the question for a reason) does not come although the database shows
        the update was handled, do what a person would (send a line more, tap ❌ again)
        after `reply_grace` seconds, and count it in `recoveries`. Off, such a wait ends
        only at the step timeout, as a failure. `spacing`: item n is not started before
        n * spacing seconds after the first tick (a steady arrival instead of a burst).
        `stop_at`: items wait at this step (e.g. "decide") for the test to take over."""
        self.office = office
        self.publishes = publishes
        self.recover = recover_lost_replies
        self.reply_grace = reply_grace
        self.recoveries: list[str] = []
        self.control = office.double.control
        self.tracks = [Track(plan) for plan in plans]
        self.step_timeout = step_timeout
        self.injections: list[Injection] = []
        self.failures: list[str] = []
        self.items: dict[int, JSON] = {}
        self.busy_officers: set[str] = set()
        self.steps_taken = 0
        self.spacing = spacing
        self.stop_at = stop_at
        self.started: float | None = None

    # -- injecting -----------------------------------------------------------------------

    def _record(self, track: Track, step: str, ref: tuple[Any, ...]) -> None:
        self.injections.append(Injection(track.plan.index, step, ref, time.monotonic()))
        self.steps_taken += 1

    def _message(self, track: Track, step: str, user: str, **body: Any) -> JSON:
        action = body.pop("action", "send_text")
        telegram_id = self.office.tid(user)
        message = self.control.post(action, user=telegram_id, **body)
        self._record(track, step, ("message", int(message["chat"]["id"]),
                                   int(message["message_id"])))
        return dict(message)

    def _press(self, track: Track, step: str, user: str, chat: int, message_id: int,
               data: str) -> None:
        query = self.control.post("press_button", user=self.office.tid(user), chat=chat,
                                  message_id=message_id, callback_data=data)
        self._record(track, step, ("callback", str(query["id"])))

    # -- the loop ------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return all(track.step == "done" for track in self.tracks)

    def tick(self) -> None:
        """One round: read what happened, then take every step whose effect came."""
        if self.started is None:
            self.started = time.monotonic()
        self.office.bot.check()
        self.office.log.refresh()
        self.items = self.office.items()
        for track in self.tracks:
            if track.step not in ("done", self.stop_at):
                self._advance(track)

    def _go(self, track: Track, step: str) -> None:
        track.step = step
        track.since = time.monotonic()

    def _advance(self, track: Track) -> None:
        plan, office = track.plan, self.office
        item = self.items.get(track.item_id) if track.item_id is not None else None
        state = item["state"] if item else None
        officer_chat = office.tid(plan.officer)
        if track.step == "new":
            assert self.started is not None
            due = self.started + plan.index * self.spacing
            if plan.officer in self.busy_officers or time.monotonic() < due:
                return
            self.busy_officers.add(plan.officer)
            self._send_material(track)
            self._go(track, "draft")
        elif track.step == "draft":
            if track.item_id is None:
                officer_id = office.person_ids[officer_chat]
                found = [i for i in self.items.values() if i["officer_id"] == officer_id
                         and plan.marker in (i["description"] or "")]
                if not found:
                    return self._stalled(track, "the draft with the officer's material")
                track.item_id = int(found[0]["id"])
            button = f"submit:{track.item_id}"
            message = office.log.message_with_button(officer_chat, button)
            if message is None:
                if self._lost_reply(track, "draft summary"):
                    self._message(track, "text", plan.officer, text="(keterangan tambahan)")
                return self._stalled(track, "the draft summary with 📤 Kirim")
            self._press(track, "submit", plan.officer, officer_chat, message["message_id"],
                        button)
            self._go(track, "submitted")
        elif track.step == "submitted":
            if state == "draft":
                return self._stalled(track, "state submitted after 📤 Kirim")
            self.busy_officers.discard(plan.officer)
            self._go(track, "claim")
        elif track.step == "claim":
            button = f"claim:{track.item_id}"
            message = office.log.message_with_button(IT_CHAT, button)
            if message is None:
                return self._stalled(track, "the claim card in the IT team chat")
            self._press(track, "claim", plan.editor, IT_CHAT, message["message_id"], button)
            self._go(track, "claimed")
        elif track.step == "claimed":
            if state != "in_editing":
                return self._stalled(track, "state in_editing after ✋ Ambil")
            editor = plan.editor
            self._message(track, "judul", editor, action="send_command", command="judul",
                          args=f"{track.item_id} {plan.title}")
            self._message(track, "isi", editor, action="send_command", command="isi",
                          args=f"{track.item_id} {plan.body}")
            self._go(track, "edited")
        elif track.step == "edited":
            if not item or item["title"] != plan.title or item["body"] != plan.body:
                return self._stalled(track, "title and body saved after /judul and /isi")
            self._message(track, "ajukan", plan.editor, action="send_command",
                          command="ajukan", args=str(track.item_id))
            self._go(track, "forwarded")
        elif track.step == "forwarded":
            if state != "awaiting_approval":
                return self._stalled(track, "state awaiting_approval after /ajukan")
            self._go(track, "decide")
        elif track.step == "decide":
            chat = office.tid(plan.official)
            verb = "approve" if plan.approve else "reject"
            button = f"{verb}:{track.item_id}"
            message = office.log.message_with_button(chat, button)
            if message is None:
                return self._stalled(track, "the decision card in the official's chat")
            self._press(track, verb, plan.official, chat, message["message_id"], button)
            self._go(track, "decided" if plan.approve else "question")
        elif track.step == "question":
            chat = office.tid(plan.official)
            question = office.log.message_containing(
                chat, f"Tulis alasan penolakan #{track.item_id}:")
            if question is None:
                if self._lost_reply(track, "question for the reason"):
                    track.step = "decide"
                    return None
                return self._stalled(track, "the question for the reason of rejecting")
            self._message(track, "reason", plan.official, text=plan.reason,
                          reply_to=question["message_id"])
            self._go(track, "decided")
        elif track.step == "decided":
            wanted = {"approved", "published"} if plan.approve else {"rejected"}
            if state not in wanted:
                return self._stalled(track, f"state {' or '.join(sorted(wanted))}")
            if plan.approve and self.publishes:
                self._go(track, "published")
            else:
                track.step = "done"
                track.done_at = time.monotonic()
        elif track.step == "published":
            if state != "published":
                return self._stalled(track, "state published", patient=True)
            track.step = "done"
            track.done_at = time.monotonic()
        return None

    def _answer_missing(self, track: Track, grace: float) -> bool:
        """The step's direct answer has not come `grace` seconds after the step, although
        the update that should have brought it was handled (a slow poll is no loss)."""
        if time.monotonic() - track.since < grace:
            return False
        last = next((i for i in reversed(self.injections) if i.item == track.plan.index),
                    None)
        settled = datetime.now(UTC) - timedelta(seconds=2)  # its answer is in the log
        return last is not None and any(
            matches_ref(row["payload"], last.ref) and row["handled_at"] is not None
            and datetime.fromisoformat(row["handled_at"]).replace(tzinfo=UTC) < settled
            for row in self.office.inbound())

    def _lost_reply(self, track: Track, what: str) -> bool:
        """Whether to redo a step whose direct answer did not come (see __init__)."""
        if not self.recover or not self._answer_missing(track, self.reply_grace):
            return False
        self.recoveries.append(f"item {track.plan.index} (#{track.item_id}): no {what} "
                               f"{time.monotonic() - track.since:.0f} s after its update "
                               "was handled")
        track.since = time.monotonic()
        return True

    def _send_material(self, track: Track) -> None:
        plan = track.plan
        text = f"Gotong royong di desa {plan.index} {plan.marker}"
        if plan.photo:
            data = base64.b64encode(jpeg(plan.index)).decode()
            self._message(track, "photo", plan.officer, action="send_photo", data=data,
                          caption=text)
        else:
            self._message(track, "text", plan.officer, text=text)

    def _stalled(self, track: Track, what: str, patient: bool = False) -> None:
        """The step's effect has not come (yet). After the step timeout this is recorded as
        a failure with what the inbox knows of the update, and the step is taken again."""
        waited = time.monotonic() - track.since
        limit = self.step_timeout * (3 if patient else 1)
        if waited < limit:
            return
        last = next((i for i in reversed(self.injections) if i.item == track.plan.index),
                    None)
        self.failures.append(
            f"item {track.plan.index} (#{track.item_id}): no {what} after {waited:.0f} s; "
            f"last update injected: {last.step if last else '-'} "
            f"{self.inbox_fate(last) if last else ''}")
        track.since = time.monotonic()
        track.failed += 1
        if track.failed > 1:
            track.step = "done"  # give the item up; the failures are on record
            self.busy_officers.discard(track.plan.officer)
            return
        redo = REDO.get(track.step)
        if track.step == "decided":
            redo = "decide" if track.plan.approve else "question"
        if redo is not None:  # press again (recorded above as a failure all the same)
            if redo == "new":
                self.busy_officers.discard(track.plan.officer)
            self._go(track, redo)

    def inbox_fate(self, injection: Injection) -> str:
        """What became of an injected update: delivered, stored, handled?"""
        delivered = self.office.log.delivered()
        matches = [u for u, update in delivered.items() if matches_ref(update, injection.ref)]
        rows = [r for r in self.office.inbound() if matches_ref(r["payload"], injection.ref)]
        fates = [(r["update_id"], r["handled_at"], r["attempts"], r["last_error"])
                 for r in rows]
        return (f"(delivered as {matches or 'never'}; acknowledged below "
                f"{self.office.log.acknowledged_below()}; inbox rows {fates})")


def matches_ref(update: JSON, ref: tuple[Any, ...]) -> bool:
    if ref[0] == "callback":
        return str((update.get("callback_query") or {}).get("id")) == ref[1]
    message = update.get("message") or {}
    return (int((message.get("chat") or {}).get("id", 0)) == ref[1]
            and int(message.get("message_id", 0)) == ref[2])


# --------------------------------------------------------------------------- notifications


@dataclass(frozen=True)
class Notice:
    """One notification: a send to `chat` about `item`, of `kind`."""

    chat: int
    kind: str
    item: int


CARD = re.compile(r"^#(\d+) .*\nPetugas: ", re.DOTALL)  # bot.render.item_card, plain
NOTICE_PATTERNS = (
    ("claimed", re.compile(r"^✋ Kiriman #(\d+) sedang diedit oleh ")),
    ("approved", re.compile(r"^✅ #(\d+) .* disetujui oleh ")),
    ("rejected", re.compile(r"^❌ #(\d+) .* ditolak oleh ")),
    ("published", re.compile(r"^🌐 #(\d+) .* sudah terbit: ")),
    ("publish_failed", re.compile(r"^⚠️ #(\d+) .* gagal terbit: ")),
)


def notification_counts(log: CallLog, photos: dict[str, int],
                        card_chats: set[int]) -> Counter[Notice]:
    """Successful sends per notification, from the double's call log.

    Cards are recognised by their text (`item_card`) in the IT team chat (claim card) and
    in the officials' chats (decision card; its buttons depend on the item's state when it
    went out), notices by their text, a card's photo (sent just before it) by the sha256 of
    the uploaded file, which is the stored photo's. Cards and photos in other chats (the
    editor's own editing panel) are direct answers, not notifications."""
    counts: Counter[Notice] = Counter()
    for call in log.ok("sendMessage", "sendPhoto"):
        chat = int(call["params"]["chat_id"])
        message = call["result"]
        if call["method"] == "sendPhoto":
            sha = next(iter(call["files"].values()), {}).get("sha256")
            if chat in card_chats and sha in photos:
                counts[Notice(chat, "card_photo", photos[sha])] += 1
            continue
        text = message.get("text") or ""
        card = CARD.match(text)
        if card and chat in card_chats:
            kind = "claim_card" if chat == IT_CHAT else "decision_card"
            counts[Notice(chat, kind, int(card.group(1)))] += 1
        elif not card:
            for kind, pattern in NOTICE_PATTERNS:
                match = pattern.match(text)
                if match:
                    counts[Notice(chat, kind, int(match.group(1)))] += 1
                    break
    return counts


def expected_notifications(office: Office, track: Track, published: bool) -> set[Notice]:
    """Every notification the SOP sends for a tracked item that reached its final state."""
    plan, item = track.plan, track.item_id
    assert item is not None
    officials = [p.telegram_id for p in office.people.values() if p.role == "pejabat"]
    officer, editor = office.tid(plan.officer), office.tid(plan.editor)
    wanted = {Notice(IT_CHAT, "claim_card", item), Notice(officer, "claimed", item)}
    wanted |= {Notice(chat, "decision_card", item) for chat in officials}
    if plan.photo:
        wanted.add(Notice(IT_CHAT, "card_photo", item))
        wanted |= {Notice(chat, "card_photo", item) for chat in officials}
    verdict = "approved" if plan.approve else "rejected"
    wanted |= {Notice(officer, verdict, item), Notice(editor, verdict, item)}
    if plan.approve and published:
        decider = office.tid(plan.official)
        wanted |= {Notice(chat, "published", item) for chat in (officer, editor, decider)}
    return wanted


@dataclass
class NoticeReport:
    expected: int = 0
    missing: list[Notice] = field(default_factory=list)
    duplicates: dict[Notice, int] = field(default_factory=dict)
    unexpected: dict[Notice, int] = field(default_factory=dict)


def check_notifications(office: Office, tracks: list[Track],
                        published: bool = True) -> NoticeReport:
    counts = notification_counts(
        office.log, office.media_items(),
        {IT_CHAT} | {p.telegram_id for p in office.people.values() if p.role == "pejabat"})
    report = NoticeReport()
    ours = {t.item_id for t in tracks}
    items = office.items()
    expected: set[Notice] = set()
    for track in tracks:
        # An item that did not get where its plan leads fails check_states; its missing
        # notifications would only repeat that here.
        end = ("published" if published else "approved") if track.plan.approve else "rejected"
        if track.item_id is not None and items.get(track.item_id, {}).get("state") == end:
            expected |= expected_notifications(office, track, published)
    report.expected = len(expected)
    report.missing = sorted((n for n in expected if counts[n] == 0),
                            key=lambda n: (n.item, n.kind, n.chat))
    report.duplicates = {n: c for n, c in counts.items() if n in expected and c > 1}
    report.unexpected = {n: c for n, c in counts.items()
                         if n not in expected and n.item in ours}
    return report


# --------------------------------------------------------------------------- kill -9


class Killer:
    """kill -9 of the bot at random moments, and a restart after a random down time.

    After a kill the outbox leases of the dead process are let run out (`skip_downtime`);
    updates injected while the bot is down wait in the double. `marks` holds, per kill, the
    highest call seq the double had seen when the process was dead (to attribute a
    notification sent twice to the kill between its two copies)."""

    def __init__(self, office: Office, rng: random.Random,
                 interval: tuple[float, float] = (0.5, 6.0),
                 downtime: tuple[float, float] = (0.0, 1.5)) -> None:
        self.office = office
        self.rng = rng
        self.interval = interval
        self.downtime = downtime
        self.next_kill = time.monotonic() + rng.uniform(*interval)
        self.restart_at: float | None = None
        self.marks: list[int] = []
        self.moved = 0

    @property
    def kills(self) -> int:
        return self.office.bot.kills

    def tick(self) -> None:
        bot, now = self.office.bot, time.monotonic()
        if self.restart_at is not None:
            if now >= self.restart_at:
                bot.start()
                self.restart_at = None
                self.next_kill = time.monotonic() + self.rng.uniform(*self.interval)
            return
        if now >= self.next_kill:
            self.kill_now()
            self.restart_at = time.monotonic() + self.rng.uniform(*self.downtime)

    def kill_now(self) -> None:
        self.office.bot.kill()
        self.office.log.refresh()
        self.marks.append(max(self.office.log.calls, default=0))
        self.moved += self.office.skip_downtime()

    def ensure_running(self) -> None:
        if self.restart_at is not None or not self.office.bot.alive:
            self.office.bot.start()
            self.restart_at = None


def kills_between(marks: list[int], first: int, second: int) -> int:
    return sum(1 for mark in marks if first <= mark < second)


# --------------------------------------------------------------------------- final checks


@dataclass
class UpdateReport:
    injected: int = 0
    stored: int = 0
    lost: list[str] = field(default_factory=list)  # injected, never stored or never handled
    failed: list[str] = field(default_factory=list)  # stored, closed with an error
    handled_again: int = 0  # rows handled more than once (interrupted by a kill)
    redelivered: int = 0  # update ids getUpdates handed out more than once


def check_updates(office: Office, injections: list[Injection]) -> UpdateReport:
    """Every injected update is in the durable inbox and was handled without error."""
    rows = office.inbound()
    by_ref: dict[tuple[Any, ...], JSON] = {}
    for row in rows:
        payload = row["payload"]
        if "callback_query" in payload:
            by_ref[("callback", str(payload["callback_query"]["id"]))] = row
        elif "message" in payload:
            message = payload["message"]
            by_ref[("message", int(message["chat"]["id"]), int(message["message_id"]))] = row
    report = UpdateReport(injected=len(injections), stored=len(rows))
    for injection in injections:
        row = by_ref.get(injection.ref)
        what = f"item {injection.item} {injection.step} {injection.ref}"
        if row is None or row["handled_at"] is None:
            report.lost.append(f"{what}: {'never stored' if row is None else 'not handled'}")
        elif row["last_error"]:
            report.failed.append(f"{what}: {row['last_error']}")
    report.handled_again = sum(1 for row in rows if row["attempts"] > 1)
    report.redelivered = sum(1 for n in office.log.deliveries().values() if n > 1)
    return report


@dataclass
class PostReport:
    approved: int = 0
    posts: int = 0
    by_search: int = 0
    problems: list[str] = field(default_factory=list)


def check_posts(office: Office, tracks: list[Track], reader: WordPressReader,
                run: str) -> PostReport:
    """Exactly one post per approved item (the one the item records), none for a rejected
    one; looked up by slug (and slug-2, -3) and by the run's tag in the titles."""
    items = office.items()
    keys = office.publish_keys()
    approved = [t for t in tracks if t.plan.approve and t.item_id is not None]
    rejected = [t for t in tracks if not t.plan.approve and t.item_id is not None]
    report = PostReport(approved=len(approved))
    sample = next(iter(keys.items()), None)
    prefix = ""
    if sample is not None:
        item_id, key = sample
        assert key.endswith(str(item_id)), f"publish key {key!r} does not end in {item_id}"
        prefix = key[: -len(str(item_id))]
    slugs = {post_slug(keys.get(t.item_id, f"{prefix}{t.item_id}")): t.item_id
             for t in approved + rejected if t.item_id is not None}
    found = reader.posts_by_slug(slugs)
    for track in approved:
        assert track.item_id is not None
        posts = found.get(track.item_id, [])
        report.posts += len(posts)
        item = items[track.item_id]
        if len(posts) != 1:
            report.problems.append(f"item {track.item_id}: {len(posts)} posts "
                                   f"{[(p['id'], p['slug']) for p in posts]}")
        elif str(posts[0]["id"]) != str(item["remote_id"]):
            report.problems.append(f"item {track.item_id}: post {posts[0]['id']} but the item "
                                   f"records {item['remote_id']!r}")
    for track in rejected:
        assert track.item_id is not None
        if found.get(track.item_id):
            report.problems.append(f"rejected item {track.item_id} has posts "
                                   f"{found[track.item_id]}")
    titled = reader.posts_mentioning(run)
    report.by_search = len(titled)
    titles = Counter(str((p.get("title") or {}).get("raw", "")) for p in titled)
    report.problems += [f"{n} posts titled {title!r}" for title, n in titles.items() if n > 1]
    if len(titled) != len(approved):
        report.problems.append(f"{len(titled)} posts carry the run's tag {run!r}, "
                               f"{len(approved)} items were approved")
    return report


def check_states(office: Office, tracks: list[Track], published: bool = True) -> list[str]:
    """Each item is where its inputs lead: approved -> published (or approved without a
    website), rejected -> rejected; by the planned people, with the edited title."""
    items = office.items()
    problems = []
    for track in tracks:
        plan = track.plan
        if track.item_id is None or track.item_id not in items:
            problems.append(f"item {plan.index}: never created")
            continue
        item = items[track.item_id]
        wanted = ("published" if published else "approved") if plan.approve else "rejected"
        decider = office.person_ids[office.tid(plan.official)]
        editor = office.person_ids[office.tid(plan.editor)]
        if (item["state"], item["decided_by_id"], item["editor_id"], item["title"]) != (
                wanted, decider, editor, plan.title):
            problems.append(f"item {plan.index} (#{track.item_id}): {item['state']} decided by "
                            f"{item['decided_by_id']} edited by {item['editor_id']} titled "
                            f"{item['title']!r}; wanted {wanted} by {decider}/{editor}")
    return problems


@dataclass(frozen=True)
class Duplicate:
    notice: Notice
    seqs: tuple[int, ...]  # the double's call numbers of the copies
    kills: int  # kill -9s between the first copy and the last

    def __str__(self) -> str:
        n = self.notice
        return (f"{n.kind} to chat {n.chat} for item {n.item}: {len(self.seqs)} sends "
                f"(calls {list(self.seqs)}; {self.kills} kill(s) between the first and "
                f"the last)")


def duplicates_with_kills(office: Office, duplicates: dict[Notice, int],
                          marks: list[int]) -> list[Duplicate]:
    """Each notification sent more than once, with the kills between its copies."""
    found = []
    photos = office.media_items()
    chats = {IT_CHAT} | {p.telegram_id for p in office.people.values() if p.role == "pejabat"}
    for notice in sorted(duplicates, key=lambda n: (n.item, n.kind, n.chat)):
        seqs = tuple(call["seq"] for call in office.log.ok("sendMessage", "sendPhoto")
                     if notification_counts(_single(call), photos, chats).get(notice))
        found.append(Duplicate(notice, seqs, kills_between(marks, seqs[0], seqs[-1])))
    return found


def _single(call: JSON) -> CallLog:
    log = CallLog.__new__(CallLog)
    log.calls = {int(call["seq"]): call}
    return log


def log_summary(text: str, levels: tuple[str, ...] = ("error", "warning")) -> dict[str, int]:
    """The bot's log lines of `levels`, grouped by message (numbers blanked)."""
    counts: Counter[str] = Counter()
    for match in re.finditer(r'level=(\w+) logger=\S+ msg="((?:[^"\\]|\\.){0,90})', text):
        if match.group(1) in levels:
            counts[f"{match.group(1)}: {re.sub(r'[0-9]+', 'N', match.group(2))}"] += 1
    return dict(counts.most_common())


@dataclass(frozen=True)
class Fault:
    """One fault for the double: `fail_next` (status, retry_after) or `hang_next` (hang)."""

    method: str
    status: int = 0
    retry_after: int | None = None
    hang: float = 0.0
    count: int = 1

    def apply(self, control: ControlClient) -> None:
        if self.hang:
            control.post("hang_next", method=self.method, count=self.count,
                         seconds=self.hang)
        else:
            control.post("fail_next", method=self.method, count=self.count,
                         status=self.status, retry_after=self.retry_after)

    def __str__(self) -> str:
        what = f"hang {self.hang:.0f} s" if self.hang else (
            f"{self.status}" + (f" retry_after={self.retry_after}" if self.retry_after else ""))
        return f"{self.method} {what} x{self.count}"


def telegram_faults(rng: random.Random, count: int, hang: float) -> list[Fault]:
    """A seeded mix of Bot API faults: 502, 429 with retry_after, and hangs shorter than
    the bot's read timeout (`hang`), on sending, editing and polling."""
    menu = [
        lambda: Fault("sendMessage", 502, count=rng.randint(1, 3)),
        lambda: Fault("sendMessage", 429, retry_after=rng.randint(1, 2)),
        lambda: Fault("sendMessage", hang=hang),
        lambda: Fault("sendPhoto", 502),
        lambda: Fault("editMessageText", 502, count=rng.randint(1, 2)),
        lambda: Fault("editMessageText", 429, retry_after=1),
        lambda: Fault("editMessageText", hang=hang),
        lambda: Fault("getUpdates", 502, count=rng.randint(1, 2)),
        lambda: Fault("getUpdates", 429, retry_after=rng.randint(1, 2)),
        lambda: Fault("getUpdates", hang=hang),
    ]
    return [rng.choice(menu)() for _ in range(count)]


class FaultInjector:
    """Applies `faults` one at a time at a random pace, like bursts of a real outage.

    A fault for a method is armed only once the double has used up the last one armed for
    that method (it answered that many calls of it since) and then answered one call of it
    normally: `fail_next` counts calls, not time, so arming faster than the bot calls would
    chain every fault into one outage of that method lasting until all are used up, the bot
    backing off longer at each (up to 30 s between polls). Each fault is a burst instead,
    and the bot is seen to recover from it."""

    def __init__(self, office: Office, faults: list[Fault], rng: random.Random,
                 pace: tuple[float, float] = (0.2, 0.6)) -> None:
        self.office = office
        self.waiting = list(faults)
        self.rng = rng
        self.pace = pace
        self.applied: list[Fault] = []
        self.next_at = time.monotonic() + 1.0
        self._armed: dict[str, tuple[int, int]] = {}  # method -> (call seq then, count)

    @property
    def done(self) -> bool:
        return not self.waiting

    def _free(self, method: str) -> bool:
        if method not in self._armed:
            return True
        mark, count = self._armed[method]
        since = [call for seq, call in sorted(self.office.log.calls.items())
                 if seq > mark and call["method"] == method]
        return len(since) > count and any(call["status"] == 200 for call in since[count:])

    def tick(self) -> None:
        if not self.waiting or time.monotonic() < self.next_at:
            return
        fault = next((f for f in self.waiting if self._free(f.method)), None)
        if fault is None:
            return
        self.waiting.remove(fault)
        fault.apply(self.office.double.control)
        self._armed[fault.method] = (max(self.office.log.calls, default=0), fault.count)
        self.applied.append(fault)
        self.next_at = time.monotonic() + self.rng.uniform(*self.pace)


def error_answers(log: CallLog) -> dict[str, int]:
    """The double's answers other than 200, by method, status and description."""
    counts: Counter[str] = Counter()
    for call in log.calls.values():
        if call["status"] != 200:
            error = re.sub(r"[0-9]+", "N", str(call["error"] or ""))[:60]
            counts[f"{call['method']} {call['status']} {error}"] += 1
    return dict(counts.most_common())
