"""One office under test: its files, people, configuration and processes."""

from __future__ import annotations

import contextlib
import io
import json
import random
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.faults.observers import JSON, CallLog, Db
from tests.faults.processes import BotProcess, DoubleProcess, child_env
from tests.flow import harness_checklist_toml
from warta.cli import main as warta_main
from workflow import db as wdb
from workflow.models import Item, OutboxKind, OutboxMessage, Person, Status

IT_CHAT = -100_777_001
ALERT_CHAT = -100_777_002

# Leases as the bot's code sets them (bot/notifier.py via workflow.outbox, and
# publisher.worker): a row leased by a process that was killed is taken again after these.
NOTIFY_LEASE = timedelta(minutes=2)
PUBLISH_LEASE = timedelta(minutes=10)


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
    """One office for one test: files, double, people, and the bot process.

    What runs, each in its own process, as in production:

    - the Telegram Bot API double (`python -m telesim`), driven over its `/_control` API
      with `ControlClient`; it outlives every bot process, so updates injected while the bot
      is down wait in its queue like they would at Telegram;
    - `warta --config FILE run`, started, `kill -9`ed and started again (`BotProcess`);
    - a real WordPress (tests/wordpress_site.py), optionally behind `FlakyProxy`, a small
      reverse proxy that passes requests through, answers 500, holds them until the client
      gives up, or drops the connection, switchable while the bot runs.

    The office puts them together: a temp directory with config.toml, the SQLite database
    and the media directory, people registered with `warta user add`, and the observers the
    checks need: `CallLog` (every Bot API call the bot made, read incrementally), `Db`
    (read-only SQLite queries from outside the bot) and `WordPressReader`.
    """

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
        env = child_env(PTB_TIMEDELTA="true", WARTA_TELEGRAM_TOKEN=self.double.token,
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

{harness_checklist_toml()}""", encoding="utf-8")

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
