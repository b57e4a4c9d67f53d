"""Moves planned items through the SOP by injecting people's updates."""

from __future__ import annotations

import base64
import io
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from PIL import Image, ImageDraw

from tests.faults.observers import JSON
from tests.faults.office import IT_CHAT, Member, Office


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
    """Moves planned items through the SOP by injecting updates into the double.

    The updates are a person's (officer text or photo + Kirim, editor Ambil + /judul + /isi +
    /ajukan, official ✅ or ❌ + reason), one step at a time per item and many items at once;
    the driver waits for each step's effect in the database (and for the buttons it needs in
    the double's chats), and never assumes the bot is up.
    """

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
