"""An album's one answer, kept in the database rather than in a process's memory.

Telegram sends the parts of an album as separate updates. The officer gets one answer, when
no part has come for `telegram.album_wait_seconds`. With several bot processes the parts
may be handled by different ones, so what is owed lives in `album_answers`: each part holds
the answer back while it downloads (`hold`), then makes it due a quiet period later
(`part_done`); whichever process's `take_due` deletes the row sends the answer, so it goes
out once, and not while the chat has stored updates still to handle. A part that crashed
mid-way leaves the answer held for ALBUM_HOLD only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from workflow.models import AlbumAnswer, InboundUpdate
from workflow.transaction import transaction

# Album timing is real seconds between Telegram's deliveries (the officer's clock does not
# matter), so callers pass the wall clock, not the office clock a test may pin.
# Longest a part's download and storing may hold back the album's answer.
ALBUM_HOLD = timedelta(minutes=2)


@dataclass(frozen=True)
class DueAnswer:
    chat_id: int
    media_group_id: str
    draft_id: int | None  # None: no part was stored (all refused), nothing to show
    language: str


def hold(session: Session, now: datetime, chat_id: int, group: str, language: str) -> None:
    """A part is being handled: the answer waits for it (the first part creates the row)."""
    until = now + ALBUM_HOLD
    dialect = session.get_bind().dialect.name
    builder = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = builder(AlbumAnswer).values(chat_id=chat_id, media_group_id=group,
                                            draft_id=None, language=language, due_at=until)
    with transaction(session):
        session.execute(statement.on_conflict_do_update(
            index_elements=[AlbumAnswer.chat_id, AlbumAnswer.media_group_id],
            set_={"due_at": until}))


def part_done(session: Session, now: datetime, wait: timedelta, chat_id: int, group: str,
              draft_id: int | None) -> None:
    """A part is stored in `draft_id` (or refused: None): the answer is due `wait` (the
    quiet period) later, unless another part comes first."""
    with transaction(session):
        session.execute(update(AlbumAnswer).where(AlbumAnswer.chat_id == chat_id,
                                                  AlbumAnswer.media_group_id == group)
                        .values(due_at=now + wait,
                                draft_id=func.coalesce(draft_id, AlbumAnswer.draft_id)))


def take_due(session: Session, now: datetime) -> list[DueAnswer]:
    """The answers due now, each taken by exactly one caller (the row goes with it). Not
    while the chat has stored updates still to handle: more parts may be among them (a
    backlog can keep a stored part waiting longer than the quiet period)."""
    waiting = (select(InboundUpdate.update_id)
               .where(InboundUpdate.handled_at.is_(None),
                      InboundUpdate.chat_id == AlbumAnswer.chat_id))
    with transaction(session):
        rows = session.execute(delete(AlbumAnswer).where(AlbumAnswer.due_at <= now,
                                                         ~waiting.exists())
                               .returning(AlbumAnswer.chat_id, AlbumAnswer.media_group_id,
                                          AlbumAnswer.draft_id, AlbumAnswer.language)).all()
    return [DueAnswer(int(chat), str(group), None if draft is None else int(draft), str(lang))
            for chat, group, draft, lang in rows]
