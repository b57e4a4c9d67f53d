"""The state-changing operations of the SOP. Each call is one database transaction.

A call loads the acting person and the item afresh (roles are checked as they are in the
database now, never as a button claims), checks the transitions table, and writes the
change, its audit row, the outbox rows and the stage deadline together, or nothing.
The session is the caller's; it must not be inside a transaction when a call starts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import case, func, inspect, literal, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from workflow import checklist, outbox, transitions
from workflow.acting import Acting, acting_for
from workflow.audience import Audience, Staff, deciders, told_of
from workflow.config import ChecklistSettings, NoteSettings
from workflow.deadlines import DeadlinePolicy
from workflow.errors import (
    Conflict,
    Incomplete,
    InvalidValue,
    MissingNote,
    NotAllowed,
    NotFound,
    WrongState,
)
from workflow.models import (
    DECISION_VERBS,
    WITH_ROLES,
    AuditEvent,
    Installation,
    Item,
    Media,
    MediaKind,
    OutboxKind,
    OutboxMessage,
    Person,
    Role,
    StageDeadline,
    Status,
    UtcDateTime,
)
from workflow.post_html import Span
from workflow.transaction import transaction
from workflow.transitions import TRANSITIONS, Action, Transition, WebsiteJob

PUBLISH_TARGET = "website"
CREATE_VERB = "workflow.create"  # a draft's making is no transition: nothing precedes it
MAX_NOTE = 2000
MAX_TITLE = 300
MAX_NAME = 200  # section and category columns
MAX_TAGS = 20
MAX_TAG = 60
MAX_ALT_TEXT = 300  # media.alt_text
MAX_CAPTION = 300  # media.caption
# An officer's edit of a message after Kirim, while the IT team has the item: a note to it.
EDITED_FOR_EDITOR = (Status.SUBMITTED, Status.IN_EDITING, Status.AWAITING_APPROVAL)
OFFICER_EDIT_VERB = "workflow.officer_edit"
OFFICER_EDIT_TEMPLATE = "item.officer_edit"
MAX_ORIGINS = 300  # items.forwarded_from; sources past it are left out
ORIGIN_SEPARATOR = "; "


@dataclass(frozen=True)
class NewMedia:
    """A file already stored by the media pipeline, to attach to an item."""

    kind: MediaKind
    sha256: str
    stored_path: str
    mime: str
    size: int
    width: int | None = None
    height: int | None = None
    thumbnail_path: str = ""
    original_name: str = ""
    telegram_file_unique_id: str = ""
    alt_text: str = ""  # a photo's own caption: what it shows, for readers who cannot see it


@dataclass(frozen=True)
class Edit:
    """An editor's changes; fields left as None stay as they are."""

    title: str | None = None
    body: str | None = None
    body_format: Sequence[Span] = ()  # with `body`: its formatting (offsets into it)
    category: str | None = None
    tags: Sequence[str] | None = None
    cover_media_id: int | None = None
    media_order: Sequence[int] | None = None
    remove_media_ids: Sequence[int] = field(default_factory=tuple)
    publish_at: datetime | None = None
    alt_texts: Mapping[int, str] | None = None  # media id -> what that photo shows
    captions: Mapping[int, str] | None = None  # media id -> the line under that photo

    def changed_fields(self) -> dict[str, Any]:
        changes = {
            "title": self.title,
            "body": self.body,
            "body_format": [span.to_json() for span in self.body_format] or None,
            "category": self.category,
            "tags": list(self.tags) if self.tags is not None else None,
            "cover_media_id": self.cover_media_id,
            "media_order": list(self.media_order) if self.media_order is not None else None,
            "remove_media_ids": list(self.remove_media_ids) or None,
            "publish_at": self.publish_at.isoformat() if self.publish_at else None,
            "alt_texts": {str(key): value for key, value in self.alt_texts.items()}
            if self.alt_texts else None,
            "captions": {str(key): value for key, value in self.captions.items()}
            if self.captions else None,
        }
        return {key: value for key, value in changes.items() if value is not None}


class Workflow:
    """The office's SOP, bound to its deadline policy and its forwarding checklist."""

    def __init__(
        self, deadlines: DeadlinePolicy, notes: NoteSettings | None = None, *,
        checklist: ChecklistSettings,
    ) -> None:
        self.deadlines = deadlines
        # None: any non-empty note will do (tests that drive the workflow directly).
        self.notes = notes or NoteSettings(min_words=0, min_chars=0)
        self.checklist = checklist

    # --- officer ---------------------------------------------------------------------

    def create_draft(
        self,
        session: Session,
        actor: Person,
        now: datetime,
        *,
        description: str = "",
        source: str | None = None,
        forwarded_from: str = "",
    ) -> Item:
        """A new draft; with `source` (the message that asked for it), asking again from
        the same message returns the draft it made instead of a second one."""
        with transaction(session):
            person = _reload_person(session, actor)
            if not person.has_role(Role.PETUGAS):
                raise NotAllowed("only officers create items", action="create", reason="role")
            if source is not None:
                made = _draft_made_by(session, person, source)
                if made is not None:
                    return made
            item = Item(
                state=Status.DRAFT,
                officer=person,
                editor=None,
                decided_by=None,
                description=description.strip(),
                section=person.section,
                tags=[],
                created_at=now,
                updated_at=now,
            )
            _note_origin(item, forwarded_from)
            session.add(item)
            session.flush()
            # A new draft has no files and no decisions: known, so not read back (the
            # caller shows the draft after the session has closed).
            set_committed_value(item, "media", [])
            set_committed_value(item, "decisions", [])
            _audit(session, item, person, CREATE_VERB, None, Status.DRAFT, now,
                   data={"source": source, "text": item.description}
                   if source is not None else None)
            _open_deadline(session, self.deadlines, item, Status.DRAFT, now)
            return item

    def current_draft_id(self, session: Session, actor: Person, now: datetime) -> int:
        """The officer's open draft (the newest), creating one when there is none."""
        existing = _open_draft_id(session, actor)
        return existing if existing is not None else self.create_draft(session, actor, now).id

    def add_text(
        self, session: Session, actor: Person, now: datetime, text: str, source: str | None,
        forwarded_from: str = "",
    ) -> Item:
        """An officer's message: appended to their open draft, or the start of a new one
        (one transaction either way). `forwarded_from` names where a forwarded text
        came from."""
        existing = _open_draft_id(session, actor)
        if existing is None:
            return self.create_draft(session, actor, now, description=text, source=source,
                                     forwarded_from=forwarded_from)
        return self.update_draft(session, actor, existing, now, append_text=text,
                                 source=source, forwarded_from=forwarded_from)

    def add_media(
        self, session: Session, actor: Person, item_id: int, now: datetime, new: NewMedia,
        source: str | None = None, forwarded_from: str = "",
    ) -> Media:
        """Attaches a stored file; the same Telegram file sent twice is attached once.
        `source` names the message that carried it (so that editing its caption later
        finds the item, see revise_text)."""
        with self._acting(session, actor, item_id, Action.UPDATE_DRAFT, now) as act:
            if new.telegram_file_unique_id:
                already = session.scalars(
                    select(Media).where(
                        Media.item_id == act.item.id,
                        Media.telegram_file_unique_id == new.telegram_file_unique_id,
                    )
                ).first()
                if already is not None:
                    return already
            position = session.scalar(
                select(func.coalesce(func.max(Media.position), 0)).where(
                    Media.item_id == act.item.id
                )
            )
            media = Media(
                item_id=act.item.id,
                position=(position or 0) + 1,
                added_at=now,
                **new.__dict__,
            )
            session.add(media)
            session.flush()
            _note_origin(act.item, forwarded_from)
            data: dict[str, Any] = {"media_id": media.id, "kind": new.kind}
            if source is not None:
                data["source"] = source
            act.record(data=data, verb="workflow.add_media")
            return media

    def update_draft(
        self,
        session: Session,
        actor: Person,
        item_id: int,
        now: datetime,
        *,
        append_text: str | None = None,
        section: str | None = None,
        activity_date: date | None = None,
        source: str | None = None,
        forwarded_from: str = "",
    ) -> Item:
        """The officer adds to the description, or sets the section or activity date.

        `source` names the message the text came from: text from a source already applied
        to this item is not appended again (the same message handled twice, after a crash).
        """
        with self._acting(session, actor, item_id, Action.UPDATE_DRAFT, now) as act:
            item = act.item
            data: dict[str, Any] = {}
            text = (append_text or "").strip()
            if text and source is not None and _text_applied(session, item.id, source):
                text = ""
                if section is None and activity_date is None:
                    return item
            if text:
                _note_origin(item, forwarded_from)
                item.description = "\n\n".join(
                    part for part in (item.description, text) if part
                )
                data["appended"] = len(text)
                if source is not None:
                    data["source"], data["text"] = source, text
            if section is not None:
                item.section = _bounded(section, MAX_NAME, "section")
                data["section"] = item.section
            if activity_date is not None:
                item.activity_date = activity_date
                data["activity_date"] = activity_date.isoformat()
            act.record(data=data)
            return item

    def revise_text(
        self, session: Session, actor: Person, now: datetime, message: str, text: str,
        source: str,
    ) -> Item | None:
        """An officer edited a message they had sent (`message`: its source without the edit
        time): the text it gave the description is replaced by `text`, not added to it.
        None when the message gave no item anything. Once the item is with the IT team the
        edit changes nothing but reaches its editor as a note (see _pass_on_edit); once
        decided it is refused, naming the item."""
        given = _given_by_message(session, actor, message)
        if given is None:
            return None
        item_id, earlier = given
        current = session.get(Item, item_id, populate_existing=True)
        session.rollback()
        if current is not None and current.status in EDITED_FOR_EDITOR:
            return _pass_on_edit(session, actor, now, item_id, text.strip(), source)
        if current is None or current.status not in transitions.OFFICER_WORK:
            raise WrongState("the message's item has left the officer", item_id=item_id,
                             state=current.state if current else "", reason="edited_late")
        with self._acting(session, actor, item_id, Action.UPDATE_DRAFT, now) as act:
            item, new = act.item, text.strip()
            if _text_applied(session, item.id, source):
                return item
            item.description = _replace_part(item.description, earlier, new)
            act.record(data={"source": source, "text": new, "replaced": len(earlier)})
            return item

    def submit(self, session: Session, actor: Person, item_id: int, now: datetime) -> Item:
        with self._acting(session, actor, item_id, Action.SUBMIT, now) as act:
            if not act.item.media and not act.item.description.strip():
                raise Incomplete("nothing to send yet", missing="content")
            act.item.submitted_at = now
            return act.move()

    def cancel(self, session: Session, actor: Person, item_id: int, now: datetime) -> Item:
        with self._acting(session, actor, item_id, Action.CANCEL, now) as act:
            return act.move()

    # --- editor ----------------------------------------------------------------------

    def claim(self, session: Session, actor: Person, item_id: int, now: datetime) -> Item:
        with self._acting(session, actor, item_id, Action.CLAIM, now) as act:
            item = act.item
            assert act.person is not None  # the table lets only editors claim
            item.editor = act.person  # the relationship, so the returned card names them
            item.claimed_at = now
            if not item.body:
                item.body = item.description
            return act.move()

    def edit(
        self, session: Session, actor: Person, item_id: int, now: datetime, changes: Edit
    ) -> Item:
        with self._acting(session, actor, item_id, Action.EDIT, now) as act:
            _apply_edit(session, act.item, changes, now)
            act.record(data=changes.changed_fields())
            return act.item

    def forward(self, session: Session, actor: Person, item_id: int, now: datetime) -> Item:
        with self._acting(session, actor, item_id, Action.FORWARD, now) as act:
            missing = [name for name in ("title", "body") if not getattr(act.item, name).strip()]
            if missing:
                raise Incomplete("title and body are needed", missing=",".join(missing))
            checklist.require(act.item, self.checklist)
            act.item.forwarded_at = now
            return act.move()

    def return_to_officer(
        self, session: Session, actor: Person, item_id: int, now: datetime, note: str
    ) -> Item:
        with self._acting(session, actor, item_id, Action.RETURN_TO_OFFICER, now, note) as act:
            return act.move()

    # --- official --------------------------------------------------------------------

    def approve(self, session: Session, actor: Person, item_id: int, now: datetime) -> Item:
        with self._acting(session, actor, item_id, Action.APPROVE, now) as act:
            _decided(act.item, act.person, now)
            return act.move()

    def reject(
        self, session: Session, actor: Person, item_id: int, now: datetime, reason: str
    ) -> Item:
        with self._acting(session, actor, item_id, Action.REJECT, now, reason) as act:
            _decided(act.item, act.person, now)
            return act.move()

    def request_revision(
        self, session: Session, actor: Person, item_id: int, now: datetime, note: str
    ) -> Item:
        with self._acting(session, actor, item_id, Action.REQUEST_REVISION, now, note) as act:
            return act.move()

    # --- publisher -------------------------------------------------------------------

    def mark_published(
        self, session: Session, item_id: int, now: datetime, *, remote_id: str, url: str
    ) -> Item:
        with self._acting(session, None, item_id, Action.MARK_PUBLISHED, now) as act:
            item = act.item
            item.remote_id, item.remote_url = remote_id, url
            item.published_at = item.published_at or now  # a correction keeps the first
            _finish_publish_job(session, item.id, now, remote_id=remote_id, url=url)
            # Every published version of the title and body stays in the audit, so the
            # history can show what a correction changed.
            return act.move(data={"remote_id": remote_id, "url": url, "title": item.title,
                                  "body": item.body, "revision": revision(session, item.id)})

    def mark_publish_failed(
        self, session: Session, item_id: int, now: datetime, reason: str
    ) -> Item:
        with self._acting(session, None, item_id, Action.MARK_PUBLISH_FAILED, now, reason) as act:
            _finish_publish_job(session, act.item.id, now, error=reason)
            return act.move()

    def retry_publish(
        self, session: Session, actor: Person, item_id: int, now: datetime
    ) -> Item:
        with self._acting(session, actor, item_id, Action.RETRY_PUBLISH, now) as act:
            return act.move()

    # --- after publishing ------------------------------------------------------------

    def open_correction(
        self, session: Session, actor: Person, item_id: int, now: datetime, reason: str
    ) -> Item:
        """A correction (ralat) of a published or withdrawn item: editing again, then the
        official's approval, then the same post updated with the dated `reason` at its end.
        An editor who opens it edits it; an official's goes to the item's editor."""
        with self._acting(session, actor, item_id, Action.OPEN_CORRECTION, now, reason) as act:
            item = act.item
            if act.person is not None and act.person.has_role(Role.EDITOR):
                item.editor = act.person
            item.claimed_at = now
            # This version is decided anew; the earlier decision stays in the audit.
            item.decided_by, item.decided_at = None, None
            return act.move(data={"revision": revision(session, item.id) + 1})

    def take_down(
        self, session: Session, actor: Person, item_id: int, now: datetime, reason: str
    ) -> Item:
        """An official takes a published item off the site (the post is hidden, not
        deleted); the publisher does it, exactly once, retrying while the site is down."""
        with self._acting(session, actor, item_id, Action.TAKE_DOWN, now, reason) as act:
            return act.move()

    def mark_withdrawn(self, session: Session, item_id: int, now: datetime) -> Item:
        with self._acting(session, None, item_id, Action.MARK_WITHDRAWN, now) as act:
            _finish_publish_job(session, act.item.id, now, remote_id=act.item.remote_id,
                                url=act.item.remote_url)
            return act.move()

    # --- hand-over -------------------------------------------------------------------

    def release(self, session: Session, actor: Person, item_id: int, now: datetime) -> Item:
        """The claiming editor puts the item back in the IT team's queue (work kept)."""
        with self._acting(session, actor, item_id, Action.RELEASE, now) as act:
            return _hand_back(act)

    def reassign(
        self, session: Session, actor: Person, item_id: int, now: datetime,
        *, to_telegram_id: int,
    ) -> Item:
        """An admin or the Head of Office gives an item in editing to another editor."""
        with self._acting(session, actor, item_id, Action.REASSIGN, now) as act:
            before = act.item.editor
            successor = session.scalars(
                select(Person).where(Person.telegram_id == to_telegram_id)
                .options(WITH_ROLES)).unique().one_or_none()
            if successor is None or not successor.has_role(Role.EDITOR):
                raise InvalidValue("not an active editor", field="editor",
                                   value=to_telegram_id)
            if before is not None and successor.id == before.id:
                raise InvalidValue("already this editor's item", field="editor_same")
            act.item.editor = successor
            act.item.claimed_at = now
            return act.move(data={"from_editor_id": before.id if before else None,
                                  "from_editor": before.name if before else "",
                                  "to_editor_id": successor.id, "to_editor": successor.name})

    def ensure_allowed(
        self, session: Session, actor: Person, item_id: int, action: Action,
        now: datetime | None = None,
    ) -> Item:
        """Raises the refusal `action` would meet now, changing nothing.

        For asking a reason only when it can still be used: nobody types why they reject
        an item that a colleague approved a minute ago."""
        transition = TRANSITIONS[action]
        with transaction(session):
            person = _reload_person(session, actor)
            item = session.get(Item, item_id, populate_existing=True)
            if item is None:
                raise NotFound(f"no item {item_id}", item_id=item_id)
            # Without `now`, no delegation is consulted: only the person's own roles count.
            acting = self.acting(session, transition, person, now) if now else None
            try:
                transitions.check(transition, item, person, acting)
            except WrongState:
                _explain_conflict(session, transition, item)
                raise
            return item

    # --- machinery -------------------------------------------------------------------

    @contextmanager
    def _acting(
        self,
        session: Session,
        actor: Person | None,
        item_id: int,
        action: Action,
        now: datetime,
        note: str | None = None,
    ) -> Iterator[_Act]:
        transition = TRANSITIONS[action]
        with transaction(session):
            # The item first: loading it refreshes its people, and the actor's roles must be
            # loaded after that, or the check would load them a second time.
            item = _lock_item(session, item_id)
            person = _reload_person(session, actor) if actor is not None else None
            acting = self.acting(session, transition, person, now)
            try:
                transitions.check(transition, item, person, acting)
            except WrongState:
                _explain_conflict(session, transition, item)
                raise
            cleaned = _clean_note(note, transition, self.notes)
            # Set before the action's own changes, so that they and it are one UPDATE (and
            # one version step) rather than two.
            item.updated_at = now
            yield _Act(self.deadlines, session, transition, item, person, now, cleaned,
                       acting, item.editor_id)
            session.flush()

    def acting(self, session: Session, transition: Transition, person: Person | None,
               now: datetime) -> Acting | None:
        """The delegation by which `person` takes an official's step today, if they need
        one (a pejabat decides in their own name)."""
        if person is None or Role.PEJABAT not in transition.roles \
                or person.has_role(Role.PEJABAT):
            return None
        return acting_for(session, person, self.deadlines.office_date(now))


def _open_deadline(session: Session, deadlines: DeadlinePolicy, item: Item, stage: Status,
                   now: datetime) -> None:
    due = deadlines.due(stage, now)
    if due is not None:
        session.add(StageDeadline(item_id=item.id, stage=stage, started_at=now, due_at=due))


@dataclass
class _Act:
    """One action under way inside its transaction."""

    deadlines: DeadlinePolicy | None  # None: only for hand-overs, which keep the clock
    session: Session
    transition: Transition
    item: Item
    person: Person | None
    now: datetime
    note: str
    acting: Acting | None = None  # the delegation the person decides by, if any
    previous_editor_id: int | None = None  # the item's editor before this action

    def record(self, data: dict[str, Any] | None = None, verb: str = "") -> AuditEvent:
        """Audits a change that leaves the item where it is, under the transition's verb
        unless `verb` names a finer one, and tells whom the transition names (an edit:
        every copy of the item's cards, wherever the edit was made)."""
        state = self.item.status
        event = _audit(
            self.session, self.item, self.person, verb or self.transition.action.audit_verb,
            state, state, self.now,
            note=self.note, data=self._with_acting(data),
        )
        today = self.deadlines.office_date(self.now) if self.deadlines else None
        _queue_notifications(self.session, self.item, self.transition, event, self.now, today)
        return event

    def _with_acting(self, data: dict[str, Any] | None) -> dict[str, Any] | None:
        """The audit data, naming in whose name the person acted (Plt/Plh) if they did."""
        if self.acting is None:
            return data
        return {**(data or {}), **self.acting.facts}

    def move(self, data: dict[str, Any] | None = None) -> Item:
        """Moves the item to the transition's target with audit, outbox and deadlines."""
        target = self.transition.target
        assert target is not None
        source = self.item.status
        self.item.state = target
        if self.note:
            self.item.last_note = self.note
        event = _audit(
            self.session, self.item, self.person, self.transition.action.audit_verb,
            source, target, self.now, note=self.note, data=self._with_acting(data),
        )
        if not self.transition.keeps_clock:
            # A stage left open by a hand-over (released, then claimed again) keeps the
            # clock it started with: the SOP's time is the office's, not each editor's.
            resumed = _close_deadlines(self.session, self.item.id, self.now, but=target)
            if not resumed:
                assert self.deadlines is not None
                _open_deadline(self.session, self.deadlines, self.item, target, self.now)
        today = self.deadlines.office_date(self.now) if self.deadlines else None
        _queue_notifications(self.session, self.item, self.transition, event, self.now,
                             today, self.previous_editor_id)
        if self.transition.website is not WebsiteJob.NONE:
            _queue_website_job(self.session, self.item, self.transition.website, self.now)
        return self.item


def _hand_back(act: _Act, data: dict[str, Any] | None = None) -> Item:
    """Returns a claimed item to the claim queue: title, body and media stay as edited."""
    editor = act.item.editor
    act.item.editor = None
    return act.move(data={"editor_id": editor.id if editor else None,
                          "editor": editor.name if editor else "", **(data or {})})


def release_claims_of(session: Session, editor: Person, actor: Person | None,
                      now: datetime) -> list[int]:
    """Inside the caller's transaction (a deactivation), returns every item `editor` had
    claimed to the IT team's queue, recorded as done by `actor`; returns their ids."""
    claimed = session.scalars(
        select(Item).where(Item.editor_id == editor.id, Item.state == Status.IN_EDITING)
        .order_by(Item.id).with_for_update(of=Item)
        .execution_options(populate_existing=True)).all()
    for item in claimed:
        item.updated_at = now
        act = _Act(None, session, TRANSITIONS[Action.RELEASE], item, actor, now, "",
                   previous_editor_id=editor.id)
        _hand_back(act, {"reason": "deactivated"})
    session.flush()
    return [item.id for item in claimed]


def _open_draft_id(session: Session, actor: Person) -> int | None:
    """The officer's newest draft, read outside any write transaction."""
    existing = session.scalar(
        select(Item.id)
        .where(Item.officer_id == actor.id, Item.state == Status.DRAFT)
        .order_by(Item.id.desc())
        .limit(1)
    )
    session.rollback()
    return existing


def _text_applied(session: Session, item_id: int, source: str) -> bool:
    """Whether text from `source` is already in the item: appended (see update_draft), or
    the draft was started with it (see add_text)."""
    found = session.scalar(
        select(AuditEvent.id)
        .where(
            AuditEvent.item_id == item_id,
            AuditEvent.action.in_((Action.UPDATE_DRAFT.audit_verb, CREATE_VERB,
                                   OFFICER_EDIT_VERB)),
            AuditEvent.data["source"].as_string() == source,
        )
        .limit(1)
    )
    return found is not None


def _note_origin(item: Item, origin: str) -> None:
    """Adds where forwarded material came from to the item's list of sources, once."""
    origin = " ".join(origin.split())[:MAX_NAME]
    known = [name for name in (item.forwarded_from or "").split(ORIGIN_SEPARATOR) if name]
    if origin and origin not in known:
        joined = ORIGIN_SEPARATOR.join([*known, origin])
        if len(joined) <= MAX_ORIGINS:
            item.forwarded_from = joined


def _pass_on_edit(session: Session, actor: Person, now: datetime, item_id: int, text: str,
                  source: str) -> Item:
    """The officer's edit of a message, for an item the IT team has: audited and sent to
    its editor (the IT team while nobody has claimed it) as a note; the item is as it was."""
    with transaction(session):
        person = _reload_person(session, actor)
        item = _lock_item(session, item_id)
        if item.status not in EDITED_FOR_EDITOR:  # decided meanwhile
            raise WrongState("the message's item has left the editor", item_id=item_id,
                             state=item.state, reason="edited_late")
        if _text_applied(session, item.id, source):
            return item
        event = _audit(session, item, person, OFFICER_EDIT_VERB, item.status, item.status, now,
                       note=text[:MAX_NOTE], data={"source": source})
        staff = Staff(session)
        told = told_of((Audience.EDITOR,), item, staff) or told_of((Audience.IT_TEAM,), item,
                                                                   staff)
        for target, recipient_id in told:
            session.add(OutboxMessage(
                kind=OutboxKind.NOTIFY, item_id=item.id, target=target,
                recipient_id=recipient_id, template=OFFICER_EDIT_TEMPLATE,
                payload={"event_id": event.id, "note": event.note},
                idempotency_key=f"notify:{event.id}:{target}:{recipient_id or ''}",
                next_attempt_at=now, created_at=now))
        session.flush()
        return item


def _given_by_message(session: Session, actor: Person, message: str) -> tuple[int, str] | None:
    """(item id, the text it gave now) for the officer's message `message`: the newest
    text among the audit rows of its versions, "" when it gave only a file."""
    rows = session.execute(
        select(AuditEvent.item_id, AuditEvent.data)
        .join(Item, Item.id == AuditEvent.item_id)
        .where(Item.officer_id == actor.id,
               AuditEvent.data["source"].as_string().startswith(f"{message}:"))
        .order_by(AuditEvent.id)
    ).all()
    session.rollback()
    if not rows:
        return None
    texts = [str(data["text"]) for _, data in rows if "text" in data]
    item_id = rows[-1][0]
    assert item_id is not None  # joined to its item
    return item_id, texts[-1] if texts else ""


def _replace_part(description: str, old: str, new: str) -> str:
    """The description with its last `old` replaced by `new` (or `new` added after it,
    when `old` is gone: the officer wrote around it since). Two messages with the very
    same words are told apart by nothing, so the later one's place is taken."""
    at = description.rfind(old) if old else -1
    if at < 0:
        return "\n\n".join(part for part in (description, new) if part)
    before, after = description[:at], description[at + len(old):]
    if not new:  # the part is emptied: its separator goes with it
        before = before.removesuffix("\n\n") if before else before
        after = after.removeprefix("\n\n") if not before else after
    return before + new + after


def _draft_made_by(session: Session, person: Person, source: str) -> Item | None:
    """The officer's open draft that `source` created, if any (see create_draft)."""
    return session.scalars(
        select(Item)
        .join(AuditEvent, AuditEvent.item_id == Item.id)
        .where(
            Item.officer_id == person.id,
            Item.state == Status.DRAFT,
            AuditEvent.action == CREATE_VERB,
            AuditEvent.data["source"].as_string() == source,
        )
        .limit(1)
    ).first()


def _reload_person(session: Session, actor: Person) -> Person:
    person = session.get(Person, actor.id, populate_existing=True, options=[WITH_ROLES])
    if person is None:
        raise NotAllowed("unknown person", reason="unknown")
    return person


def _lock_item(session: Session, item_id: int) -> Item:
    item = session.scalars(
        select(Item)
        .where(Item.id == item_id)
        .with_for_update(of=Item)
        .execution_options(populate_existing=True)
    ).first()
    if item is None:
        raise NotFound(f"no item {item_id}", item_id=item_id)
    return item


def _explain_conflict(session: Session, transition: Transition, item: Item) -> None:
    """Turns "wrong state" into "somebody already did it" when that is what happened."""
    last = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.item_id == item.id, AuditEvent.to_state == item.state)
        .order_by(AuditEvent.id.desc())
        .limit(1)
    ).first()
    if last is None or item.status is Status.DRAFT:
        return
    by = last.actor.name if last.actor is not None else ""
    raise Conflict(
        f"{transition.action}: already {last.action} by {by or 'the system'} at {last.at}",
        by=by,
        at=last.at,
        action=last.action.removeprefix("workflow."),
        state=item.state,
    )


def _clean_note(note: str | None, transition: Transition, notes: NoteSettings) -> str:
    cleaned = (note or "").strip()
    if transition.needs_note and not cleaned:
        raise MissingNote(f"{transition.action} needs a reason", action=transition.action)
    # Only an official's reason has a minimum: the officer and the editor act on it, and
    # "tidak" tells them nothing. The editor's note to the officer and the publisher's
    # error text are taken as written.
    if (transition.needs_note and Role.PEJABAT in transition.roles
            and not notes.long_enough(cleaned)):
        raise MissingNote(f"{transition.action} reason too short", action=transition.action,
                          reason="too_short", min_words=notes.min_words,
                          min_chars=notes.min_chars)
    if len(cleaned) > MAX_NOTE:
        raise InvalidValue("note too long", field="note", limit=MAX_NOTE)
    return cleaned


def _decided(item: Item, person: Person | None, now: datetime) -> None:
    # The relationship, not only its column: cards are drawn from this object (bot.notifier).
    item.decided_by = person
    item.decided_at = now


def _audit(
    session: Session,
    item: Item | None,
    person: Person | None,
    action: str,
    source: Status | None,
    target: Status | None,
    now: datetime,
    *,
    note: str = "",
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        item_id=item.id if item is not None else None,
        actor_id=person.id if person is not None else None,
        actor=person,  # loaded, for the cards drawn from this transaction (see below)
        action=action,
        from_state=source,
        to_state=target,
        note=note,
        data=data or {},
        at=now,
    )
    session.add(event)
    session.flush()
    if item is not None and action in DECISION_VERBS and "decisions" not in inspect(item).unloaded:
        # The item leaves this transaction as it is now (the notifier draws its cards from
        # it, bot.base.in_worker), not as it was loaded.
        set_committed_value(item, "decisions", [*item.decisions, event])
    return event


def _close_deadlines(session: Session, item_id: int, now: datetime, *, but: Status) -> bool:
    """Closes the item's open stages except one of stage `but`; True if one is left. One
    statement: every open stage is touched, those of `but` keep their closed_at (None),
    and RETURNING says which were open."""
    open_stages = session.execute(
        update(StageDeadline)
        .where(StageDeadline.item_id == item_id, StageDeadline.closed_at.is_(None))
        .values(closed_at=case((StageDeadline.stage != but, literal(now, UtcDateTime())),
                               else_=StageDeadline.closed_at))
        .returning(StageDeadline.stage)
        .execution_options(synchronize_session=False)
    ).scalars().all()
    return but in open_stages


NO_APPROVER_TEMPLATE = "item.no_approver"
NO_APPROVER_AUDIENCE = (Audience.ADMINS, Audience.ALERT)


def _queue_notifications(
    session: Session, item: Item, transition: Transition, event: AuditEvent, now: datetime,
    today: date | None, previous_editor_id: int | None = None,
) -> None:
    staff = Staff(session, today)
    told = told_of(transition.notify, item, staff, previous_editor_id)
    _queue(session, item, event, now, transition.action.notice_template, told)
    if Audience.OFFICIALS in transition.notify and not deciders(item, staff):
        # Nobody could decide: the admins hear now, not when the approval deadline passes.
        _queue(session, item, event, now, NO_APPROVER_TEMPLATE,
               told_of(NO_APPROVER_AUDIENCE, item, staff), key="no_approver")


def _queue(session: Session, item: Item, event: AuditEvent, now: datetime, template: str,
           told: Sequence[tuple[str, int | None]], key: str = "notify") -> None:
    rows = [outbox.notification_values(target=target, template=template,
                                       payload={"event_id": event.id, "note": event.note},
                                       key=f"{key}:{event.id}:{target}:{recipient_id or ''}",
                                       now=now, item_id=item.id, recipient_id=recipient_id)
            for target, recipient_id in told]
    outbox.queue(session, rows)


def _queue_website_job(session: Session, item: Item, job_kind: WebsiteJob, now: datetime
                       ) -> None:
    """The publisher's row for this version of the item: one per version and event, so a
    retry (or a crash) asks the website for the same thing again, never a second post."""
    event = website_event(job_kind, item)
    post_key = publish_key(installation_token(session), item.id)
    version = revision(session, item.id)
    key = website_key(post_key, event, version)
    job = session.scalars(
        select(OutboxMessage).where(OutboxMessage.idempotency_key == key)
    ).first()
    if job is None:
        session.add(
            OutboxMessage(
                kind=OutboxKind.PUBLISH,
                item_id=item.id,
                target=PUBLISH_TARGET,
                template=event,
                payload={"event": event, "revision": version, "post_key": post_key},
                idempotency_key=key,
                next_attempt_at=now,
                created_at=now,
            )
        )
        return
    # A retry after failure reuses the job: same key, so the website is asked for the
    # same post, and attempts start over.
    job.done_at = None
    job.attempts = 0
    job.next_attempt_at = now
    job.last_error = ""


def _finish_publish_job(
    session: Session,
    item_id: int,
    now: datetime,
    *,
    remote_id: str = "",
    url: str = "",
    error: str = "",
) -> None:
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.kind == OutboxKind.PUBLISH, OutboxMessage.item_id == item_id,
               OutboxMessage.done_at.is_(None))  # earlier versions' rows stay as they were
        .values(done_at=now, remote_id=remote_id, remote_url=url, last_error=error)
    )


def website_event(job_kind: WebsiteJob, item: Item) -> str:
    """The publisher's event: "publish" for a first post, "update" once the item has one
    (a correction, or a failed update tried again), "withdraw" for a take-down."""
    if job_kind is WebsiteJob.PUBLISH and item.remote_id:
        return "update"
    return job_kind.value


def website_key(post_key: str, event: str, version: int) -> str:
    """The key of one version's delivery: the post's own key for the first publication,
    ``<key>.r<n>`` for correction n and ``<key>.withdraw.r<n>`` for a take-down after it
    (the webhook adapter sends it as its Idempotency-Key)."""
    if event == "publish":
        return post_key
    middle = ".withdraw" if event == "withdraw" else ""
    return f"{post_key}{middle}.r{version}"


def revision(session: Session, item_id: int) -> int:
    """How many corrections the item has had opened: 0 for its first version."""
    return int(session.scalar(
        select(func.count()).select_from(AuditEvent).where(
            AuditEvent.item_id == item_id,
            AuditEvent.action == Action.OPEN_CORRECTION.audit_verb)
    ) or 0)


def correction_notes(session: Session, item_id: int) -> list[tuple[datetime, str]]:
    """Each correction's reason and when it was opened, oldest first (the dated notes at
    the end of a corrected post)."""
    events = session.scalars(
        select(AuditEvent).where(
            AuditEvent.item_id == item_id,
            AuditEvent.action == Action.OPEN_CORRECTION.audit_verb,
        ).order_by(AuditEvent.id)
    )
    return [(event.at, event.note) for event in events]


def installation_token(session: Session) -> str:
    """This database's own token (made by the migrations), part of every website key."""
    token = session.scalar(select(Installation.token).where(Installation.id == 1))
    if not token:
        raise RuntimeError("the installation row is missing: run `warta db upgrade`")
    return token


def publish_key(token: str, item_id: int) -> str:
    """The idempotency key of an item's post, also stored on the website's side (as its
    slug). The installation token keeps two installations (a test copy and production, or
    a database rebuilt from scratch) from taking each other's posts for their own."""
    return f"warta-{token}-{item_id}"


def _apply_edit(session: Session, item: Item, changes: Edit, now: datetime) -> None:
    if changes.title is not None:
        title = " ".join(changes.title.split())
        if not title or len(title) > MAX_TITLE:
            raise InvalidValue("title must be 1 to 300 characters", field="title")
        item.title = title
    if changes.body is not None:
        if not changes.body.strip():
            raise InvalidValue("body must not be empty", field="body")
        item.body = changes.body.strip()
        lead = len(changes.body) - len(changes.body.lstrip())
        item.body_format = [
            Span(span.style, max(span.start - lead, 0), min(span.end - lead, len(item.body)),
                 span.url).to_json()
            for span in changes.body_format if span.end - lead > max(span.start - lead, 0)]
    if changes.category is not None:
        item.category = _bounded(changes.category, MAX_NAME, "category")
    if changes.tags is not None:
        tags = sorted({_bounded(tag, MAX_TAG, "tags") for tag in changes.tags if tag.strip()})
        if len(tags) > MAX_TAGS:
            raise InvalidValue("too many tags", field="tags", limit=MAX_TAGS)
        item.tags = tags
    if changes.publish_at is not None:
        item.publish_at = changes.publish_at
    media = {m.id: m for m in item.media}
    for media_id in changes.remove_media_ids:
        _known(media, media_id).removed_at = now
        media[media_id].is_cover = False
    if changes.cover_media_id is not None:
        cover = _known(media, changes.cover_media_id)
        if cover.kind != MediaKind.PHOTO or cover.removed_at is not None:
            raise InvalidValue("the cover must be a photo of this item", field="cover")
        for other in media.values():
            other.is_cover = False
        session.flush()
        cover.is_cover = True
    if changes.media_order is not None:
        _reorder(media, changes.media_order)
    for media_id, alt in (changes.alt_texts or {}).items():
        _known(media, media_id).alt_text = _bounded(alt, MAX_ALT_TEXT, "alt_text") \
            if alt.strip() else ""
    for media_id, caption in (changes.captions or {}).items():
        _known(media, media_id).caption = _bounded(caption, MAX_CAPTION, "caption")
    session.flush()
    session.expire(item, ["media"])


def _bounded(text: str, limit: int, field: str) -> str:
    """`text` without surrounding blanks, refused when longer than its column allows."""
    cleaned = " ".join(text.split())
    if len(cleaned) > limit:
        raise InvalidValue(f"{field} longer than {limit} characters", field=field, limit=limit)
    return cleaned


def _reorder(media: dict[int, Media], order: Sequence[int]) -> None:
    """Puts the given media first, in that order; the rest keep their relative order."""
    for media_id in order:
        _known(media, media_id)
    if len(set(order)) != len(order):
        raise InvalidValue("a media id appears twice", field="order")
    rest = [m.id for m in sorted(media.values(), key=lambda m: m.position) if m.id not in order]
    for position, media_id in enumerate([*order, *rest], start=1):
        media[media_id].position = position


def _known(media: dict[int, Media], media_id: int) -> Media:
    if media_id not in media:
        raise InvalidValue(f"no media {media_id} on this item", field="media", media_id=media_id)
    return media[media_id]
