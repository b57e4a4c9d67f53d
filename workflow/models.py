"""The records Warta keeps: people, items, media, audit events, the outbox and deadlines.

Times are stored as UTC and always come back timezone-aware. Status and role values are
stored as their lowercase strings so the database stays readable with plain SQL.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Annotated, Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    joinedload,
    mapped_column,
    relationship,
)


class Status(enum.StrEnum):
    """Where an item is in the SOP."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    IN_EDITING = "in_editing"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    PUBLISHED = "published"
    REJECTED = "rejected"
    RETURNED_TO_OFFICER = "returned_to_officer"
    PUBLISH_FAILED = "publish_failed"
    CANCELLED = "cancelled"
    # Taken down by an official: the website is being asked to hide the post.
    WITHDRAWING = "withdrawing"
    # Out of public view on the website (never deleted); a correction may bring it back.
    WITHDRAWN = "withdrawn"


FINAL_STATES = frozenset({Status.PUBLISHED, Status.REJECTED, Status.CANCELLED, Status.WITHDRAWN})


class Role(enum.StrEnum):
    PETUGAS = "petugas"
    EDITOR = "editor"
    PEJABAT = "pejabat"
    ADMIN = "admin"
    KEPALA = "kepala"


class MediaKind(enum.StrEnum):
    PHOTO = "photo"
    DOCUMENT = "document"
    VIDEO = "video"


class OutboxKind(enum.StrEnum):
    NOTIFY = "notify"
    PUBLISH = "publish"


class UtcDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as naive UTC and returns them aware, on every database."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; pass an aware one")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


intpk = Annotated[int, mapped_column(Integer, primary_key=True)]
moment = Annotated[datetime, mapped_column(UtcDateTime())]

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        dict[str, Any]: JSON(),
    }


class Person(Base):
    __tablename__ = "people"

    id: Mapped[intpk]
    telegram_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    name: Mapped[str] = mapped_column(String(200))
    section: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str] = mapped_column(String(8), default="id")
    # False until the person (or an admin naming it) chose a language; the first update
    # from them then takes it from their Telegram app's language.
    language_chosen: Mapped[bool] = mapped_column(Boolean, default=False,
                                                  server_default=false())
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[moment]
    # Loaded only where roles are checked (see WITH_ROLES): an item's officer and editor
    # are shown by name far more often than they are asked for their roles.
    role_rows: Mapped[list[PersonRole]] = relationship(
        cascade="all, delete-orphan", lazy="select", order_by="PersonRole.role"
    )

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(Role(row.role) for row in self.role_rows)

    def has_role(self, role: Role) -> bool:
        return self.active and role in self.roles


class PersonRole(Base):
    __tablename__ = "person_roles"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(20), primary_key=True)


# The audit verbs of an official's decision (Item.decisions).
DECISION_VERBS = ("workflow.approve", "workflow.reject")


class Item(Base):
    """One piece of news on its way from an officer's phone to the website."""

    __tablename__ = "items"
    __table_args__ = (Index(None, "state"), Index(None, "officer_id"))

    id: Mapped[intpk]
    state: Mapped[str] = mapped_column(String(24))
    version: Mapped[int] = mapped_column(Integer)
    officer_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    editor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    description: Mapped[str] = mapped_column(Text, default="")
    title: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    # The editor's formatting of the body (workflow.post_html.Span as JSON objects).
    body_format: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list,
                                                              server_default="[]")
    section: Mapped[str] = mapped_column(String(200), default="")
    category: Mapped[str] = mapped_column(String(200), default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    activity_date: Mapped[date | None]
    publish_at: Mapped[datetime | None]
    last_note: Mapped[str] = mapped_column(Text, default="")
    # Forwarded material keeps its source: the channels, chats or people it came from.
    forwarded_from: Mapped[str] = mapped_column(String(300), default="", server_default="")
    remote_id: Mapped[str] = mapped_column(String(100), default="")
    remote_url: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[moment]
    updated_at: Mapped[moment]
    submitted_at: Mapped[datetime | None]
    claimed_at: Mapped[datetime | None]
    forwarded_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    published_at: Mapped[datetime | None]

    officer: Mapped[Person] = relationship(foreign_keys=[officer_id], lazy="joined")
    editor: Mapped[Person | None] = relationship(foreign_keys=[editor_id], lazy="joined")
    decided_by: Mapped[Person | None] = relationship(foreign_keys=[decided_by_id], lazy="joined")
    media: Mapped[list[Media]] = relationship(
        foreign_keys="Media.item_id",
        order_by="Media.position",
        primaryjoin="and_(Media.item_id == Item.id, Media.removed_at.is_(None))",
        viewonly=True,
        lazy="selectin",
    )
    # The decisions' audit rows: a card says in whose name (Plt/Plh) the last was taken.
    decisions: Mapped[list[AuditEvent]] = relationship(
        foreign_keys="AuditEvent.item_id",
        order_by="AuditEvent.id",
        primaryjoin="and_(AuditEvent.item_id == Item.id, "
        f"AuditEvent.action.in_({DECISION_VERBS!r}))",
        viewonly=True,
        # With every item, not when first read: cards are drawn from items whose session
        # has closed (loading it only when read saved ~3 statements an update but failed
        # there).
        lazy="selectin",
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (SQLAlchemy reads it once)

    @property
    def status(self) -> Status:
        return Status(self.state)

    @property
    def cover(self) -> Media | None:
        """The chosen cover, else the first photo."""
        photos = [m for m in self.media if m.kind == MediaKind.PHOTO]
        return next((m for m in photos if m.is_cover), photos[0] if photos else None)


class Media(Base):
    __tablename__ = "media"
    __table_args__ = (
        Index(None, "item_id", "position"),
        Index(
            "uq_media_item_telegram_file",
            "item_id",
            "telegram_file_unique_id",
            unique=True,
            sqlite_where=text("telegram_file_unique_id != ''"),
            postgresql_where=text("telegram_file_unique_id != ''"),
        ),
        # One cover per item, kept by the database, not by hope.
        Index(
            "uq_media_item_cover",
            "item_id",
            unique=True,
            sqlite_where=text("is_cover AND removed_at IS NULL"),
            postgresql_where=text("is_cover AND removed_at IS NULL"),
        ),
    )

    id: Mapped[intpk]
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    kind: Mapped[str] = mapped_column(String(12))
    sha256: Mapped[str] = mapped_column(String(64))
    stored_path: Mapped[str] = mapped_column(String(300))
    thumbnail_path: Mapped[str] = mapped_column(String(300), default="")
    mime: Mapped[str] = mapped_column(String(120))
    size: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int | None]
    height: Mapped[int | None]
    position: Mapped[int] = mapped_column(Integer)
    is_cover: Mapped[bool] = mapped_column(Boolean, default=False)
    original_name: Mapped[str] = mapped_column(String(300), default="")
    # What the photo shows, for readers who cannot see it: the officer's caption on this
    # photo, or the editor's words.
    alt_text: Mapped[str] = mapped_column(String(300), default="", server_default="")
    # The line under the photo on the website: the editor's words, else where and when
    # it was taken (workflow.post_html.photo_caption).
    caption: Mapped[str] = mapped_column(String(300), default="", server_default="")
    telegram_file_unique_id: Mapped[str] = mapped_column(String(120), default="")
    added_at: Mapped[moment]
    removed_at: Mapped[datetime | None]


class AuditEvent(Base):
    """Who did what, when: one row per state change or edit, never updated."""

    __tablename__ = "audit_events"
    __table_args__ = (Index(None, "item_id", "id"), Index(None, "at"))

    id: Mapped[intpk]
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    action: Mapped[str] = mapped_column(String(60))
    from_state: Mapped[str | None] = mapped_column(String(24))
    to_state: Mapped[str | None] = mapped_column(String(24))
    note: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[moment]

    actor: Mapped[Person | None] = relationship(lazy="joined")


class OutboxMessage(Base):
    """Work to do after commit: a notification for the bot or a post for the website.

    Rows are written in the transaction that causes them, so a rolled-back transition
    tells nobody; the unique idempotency key stops the same work being queued twice.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index(
            "ix_outbox_pending",
            "kind",
            "next_attempt_at",
            sqlite_where=text("done_at IS NULL"),
            postgresql_where=text("done_at IS NULL"),
        ),
    )

    id: Mapped[intpk]
    kind: Mapped[str] = mapped_column(String(12))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"))
    target: Mapped[str] = mapped_column(String(60))
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    template: Mapped[str] = mapped_column(String(60), default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[moment]
    created_at: Mapped[moment]
    done_at: Mapped[datetime | None]
    remote_id: Mapped[str] = mapped_column(String(100), default="")
    remote_url: Mapped[str] = mapped_column(String(1000), default="")
    last_error: Mapped[str] = mapped_column(Text, default="")


class StageDeadline(Base):
    """The time allowed for one stage of one item, and which alerts went out for it."""

    __tablename__ = "stage_deadlines"
    __table_args__ = (
        # The sweeper's range: open stages with an escalation still to come. Fully
        # escalated stages leave the index, so a sweep reads only what it may act on.
        Index(
            "ix_stage_deadlines_pending",
            "due_at",
            sqlite_where=text("closed_at IS NULL AND escalated_at IS NULL"),
            postgresql_where=text("closed_at IS NULL AND escalated_at IS NULL"),
        ),
        Index(None, "item_id"),
    )

    id: Mapped[intpk]
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    stage: Mapped[str] = mapped_column(String(24))
    started_at: Mapped[moment]
    due_at: Mapped[moment]
    closed_at: Mapped[datetime | None]
    alerted_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]


class MessageCopy(Base):
    """A message about an item that sits in someone's chat, so it can be edited later."""

    __tablename__ = "message_copies"
    __table_args__ = (UniqueConstraint("chat_id", "message_id"), Index(None, "item_id"))

    id: Mapped[intpk]
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    purpose: Mapped[str] = mapped_column(String(30))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[moment]


class InboundUpdate(Base):
    """A Telegram update, stored before it is acknowledged and handled.

    Telegram forgets an update once the next getUpdates call acknowledges it; keeping it
    here first means a crash between acknowledging and handling loses nothing: on restart
    the unhandled rows are handled first, in order.
    """

    __tablename__ = "inbound_updates"
    __table_args__ = (
        Index(
            "ix_inbound_updates_pending",
            "update_id",
            sqlite_where=text("handled_at IS NULL"),
            postgresql_where=text("handled_at IS NULL"),
        ),
    )

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    # The chat the update belongs to (0: none), whose updates are handled in order by one
    # process at a time (see ChatClaim).
    chat_id: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[moment]
    handled_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")


class ChatClaim(Base):
    """Which bot process handles a chat's stored updates for now (PostgreSQL, several
    processes): one holder per chat keeps the chat's updates in order; a holder that stops
    renewing `until` (crashed, cut off) loses the chat to the next process that looks."""

    __tablename__ = "chat_claims"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    holder: Mapped[str] = mapped_column(String(100))
    until: Mapped[moment]


class AlbumAnswer(Base):
    """The one answer an officer is owed for an album, whose parts arrive as separate
    updates and may be handled by different processes: due when no part came for a while,
    sent by the process whose DELETE takes the row."""

    __tablename__ = "album_answers"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    media_group_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    # The draft the parts went to; None while the first part is still being stored.
    draft_id: Mapped[int | None] = mapped_column(Integer)
    language: Mapped[str] = mapped_column(String(8), default="id")
    due_at: Mapped[moment]


class Installation(Base):
    """This installation's identity: a random token that makes its keys on a website its own.

    Two installations (a test copy and production, or a database rebuilt from scratch)
    publishing to one site must never take each other's posts for their own."""

    __tablename__ = "installation"

    id: Mapped[intpk]
    token: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[moment]


class Invitation(Base):
    """A link an admin shares so that a new person can join with a role, no Telegram id typed.

    Only the token's SHA-256 is kept: the link itself is a secret the database never holds."""

    __tablename__ = "invitations"

    id: Mapped[intpk]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    roles: Mapped[list[str]] = mapped_column(JSON)
    section: Mapped[str] = mapped_column(String(200), default="")
    uses_left: Mapped[int] = mapped_column(Integer)
    auto_approve: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[moment]
    expires_at: Mapped[moment]
    revoked_at: Mapped[datetime | None]

    # Loaded on demand: the rows are locked FOR UPDATE, which PostgreSQL refuses on the
    # nullable side of the outer join a joined load would add.
    created_by: Mapped[Person | None] = relationship(lazy="select")


class JoinRequest(Base):
    """Someone who opened an invitation link, waiting for (or given) an admin's answer."""

    __tablename__ = "join_requests"
    __table_args__ = (
        # One open request per Telegram account: a second tap finds the first.
        Index(
            "uq_join_requests_pending_telegram_id",
            "telegram_id",
            unique=True,
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
    )

    id: Mapped[intpk]
    invitation_id: Mapped[int] = mapped_column(ForeignKey("invitations.id"))
    telegram_id: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(200))
    username: Mapped[str] = mapped_column(String(64), default="")
    language: Mapped[str] = mapped_column(String(8), default="id")
    state: Mapped[str] = mapped_column(String(12))
    requested_at: Mapped[moment]
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))

    invitation: Mapped[Invitation] = relationship(lazy="select")
    decided_by: Mapped[Person | None] = relationship(foreign_keys=[decided_by_id], lazy="select")


class Delegation(Base):
    """An acting official (Plt/Plh): who decides for a pejabat, on which office days.

    The range is of office-calendar dates, both ends included; a revoked one stays for
    the record."""

    __tablename__ = "delegations"
    __table_args__ = (Index(None, "delegate_id", "ends_on"), Index(None, "principal_id"))

    id: Mapped[intpk]
    principal_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    delegate_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    title: Mapped[str] = mapped_column(String(8))
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[moment]
    revoked_at: Mapped[datetime | None]

    principal: Mapped[Person] = relationship(foreign_keys=[principal_id], lazy="joined")
    delegate: Mapped[Person] = relationship(foreign_keys=[delegate_id], lazy="joined")


class WebLogin(Base):
    """A one-time browser login link sent to a person by the bot (only its hash is kept)."""

    __tablename__ = "web_logins"

    id: Mapped[intpk]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[moment]
    expires_at: Mapped[moment]
    used_at: Mapped[datetime | None]


class WebSession(Base):
    """A signed-in browser: idle and absolute expiry, ended by logging out."""

    __tablename__ = "web_sessions"

    id: Mapped[intpk]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[moment]
    last_seen_at: Mapped[moment]
    ended_at: Mapped[datetime | None]


# Loader option for queries whose people will be asked about their roles: joined, so that a
# person and their roles are one statement (queries must then call .unique() on results).
WITH_ROLES = joinedload(Person.role_rows)
