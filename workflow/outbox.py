"""Taking work from the outbox: due rows, leases, success, retry with backoff.

Rows are written by the transitions (and the deadline sweeper) in their own transactions.
A worker leases due rows by pushing `next_attempt_at` forward before doing the slow part
(a Telegram message, a website call) outside any transaction, then records the outcome.
If the worker dies mid-way the lease runs out and the row is taken again: delivery is at
least once from here, and the receivers make it once (a post is looked up by its key on
the website; a notification row is marked done right after its message went out).

Notification rows (kind "notify"):
- `target`: "person" (with `recipient_id`), "it_team", "alert" or "cards" (edit every
  copy of the item's card); `template`: what happened (`item.<action>`, `deadline.*`,
  `digest.daily`); `payload`: facts for the message (event id, note, ...).

A writer that sends what it queues itself (the bot, right after its handler's commit) says
so on its session (`send_from_here`): its rows go in already leased to it, and come back
after the commit (`committed_here`) with what the transaction loaded, so that nobody
leases or reads them again. If it dies first, the lease runs out and any worker takes them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, event, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from workflow.models import OutboxKind, OutboxMessage
from workflow.transaction import transaction

DEFAULT_LEASE = timedelta(minutes=2)
# Keys in Session.info: the session's writer sends its own rows; rows queued in the open
# transaction; rows committed and not yet taken by the writer.
_SENDS_ITSELF = "outbox.sends_itself"
_QUEUED = "outbox.queued"
_COMMITTED = "outbox.committed"


def notification_values(
    *,
    target: str,
    template: str,
    payload: dict[str, Any],
    key: str,
    now: datetime,
    item_id: int | None = None,
    recipient_id: int | None = None,
) -> dict[str, Any]:
    """A notification row for a Core insert (every column, so executemany can batch)."""
    return {
        "kind": OutboxKind.NOTIFY.value,
        "item_id": item_id,
        "target": target,
        "recipient_id": recipient_id,
        "template": template,
        "payload": payload,
        "idempotency_key": key,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "done_at": None,
        "remote_id": "",
        "remote_url": "",
        "last_error": "",
    }


def queue(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Notification rows (see notification_values) in one INSERT, whoever many they are;
    leased to the session's writer if it sends them itself."""
    if not rows:
        return
    # render_nulls: a row without a recipient is not a statement of its own.
    statement = insert(OutboxMessage).execution_options(render_nulls=True)
    if not session.info.get(_SENDS_ITSELF):
        session.execute(statement, rows)
        return
    leased = [{**row, "attempts": 1, "next_attempt_at": row["next_attempt_at"] + DEFAULT_LEASE}
              for row in rows]
    made = session.scalars(statement.returning(OutboxMessage), leased).all()
    session.info.setdefault(_QUEUED, []).extend(made)


def send_from_here(session: Session) -> None:
    """This session's writer sends the notification rows it queues (see the module doc)."""
    session.info[_SENDS_ITSELF] = True


def committed_here(session: Session) -> list[OutboxMessage]:
    """The rows this session queued, leased to it, whose transactions have committed."""
    rows: list[OutboxMessage] = session.info.pop(_COMMITTED, [])
    return rows


@event.listens_for(Session, "after_commit")
def _queued_rows_committed(session: Session) -> None:
    if _QUEUED in session.info:
        session.info.setdefault(_COMMITTED, []).extend(session.info.pop(_QUEUED))


@event.listens_for(Session, "after_rollback")
def _queued_rows_gone(session: Session) -> None:
    session.info.pop(_QUEUED, None)


def insert_once(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """INSERT ... ON CONFLICT (idempotency_key) DO NOTHING, on SQLite and PostgreSQL;
    returns how many rows went in (a key already queued is left as it is)."""
    table = cast(Table, OutboxMessage.__table__)  # Core, not the ORM's bulk insert
    name = session.get_bind().dialect.name
    written = 0
    for row in rows:
        if name in ("postgresql", "sqlite"):
            builder = postgresql.insert if name == "postgresql" else sqlite.insert
            statement: Any = builder(table).values(row).on_conflict_do_nothing(
                index_elements=["idempotency_key"])
        else:  # pragma: no cover - only the two supported databases
            exists = session.scalar(select(OutboxMessage.id).where(
                OutboxMessage.idempotency_key == row["idempotency_key"]))
            if exists is not None:
                continue
            statement = insert(table).values(row)
        # RETURNING tells whether the row went in (rowcount is not reliable with the
        # implicit RETURNING SQLAlchemy adds on PostgreSQL).
        written += len(session.execute(statement.returning(table.c.id)).all())
    return written


def any_due(session: Session, kind: OutboxKind, now: datetime) -> bool:
    """Whether a row of `kind` is due: a read that takes no write lock, to skip leasing
    when there is nothing to do (most of the times a worker looks)."""
    found = session.scalar(
        select(OutboxMessage.id)
        .where(
            OutboxMessage.kind == kind,
            OutboxMessage.done_at.is_(None),
            OutboxMessage.next_attempt_at <= now,
        )
        .limit(1)
    )
    session.rollback()
    return found is not None


def lease_due(
    session: Session,
    kind: OutboxKind,
    now: datetime,
    *,
    limit: int = 20,
    lease: timedelta = DEFAULT_LEASE,
    finished: Sequence[int] = (),
    made: Sequence[object] = (),
) -> list[OutboxMessage]:
    """Due rows of `kind`, oldest first, each hidden from other workers for `lease`.
    `finished` are rows delivered since the last lease, marked done (with `made`, see
    finish) in the same transaction: one commit for both."""
    with transaction(session):
        if finished:
            _mark_done(session, finished, now, made=made)
        rows = list(
            session.scalars(
                select(OutboxMessage)
                .where(
                    OutboxMessage.kind == kind,
                    OutboxMessage.done_at.is_(None),
                    OutboxMessage.next_attempt_at <= now,
                )
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        for row in rows:
            row.next_attempt_at = now + lease
            row.attempts += 1
        return rows


def finish(
    session: Session,
    row_id: int,
    now: datetime,
    *,
    remote_id: str = "",
    remote_url: str = "",
    made: Sequence[object] = (),
) -> None:
    """Marks a row done; `made` are rows its delivery produced (a card's message copy),
    saved in the same transaction so that "sent" and "remembered" cannot part."""
    finish_many(session, [row_id], now, remote_id=remote_id, remote_url=remote_url, made=made)


def finish_many(
    session: Session,
    row_ids: Sequence[int],
    now: datetime,
    *,
    remote_id: str = "",
    remote_url: str = "",
    made: Sequence[object] = (),
) -> None:
    """Marks rows done in one statement, with what their deliveries produced (see finish)."""
    with transaction(session):
        _mark_done(session, row_ids, now, remote_id=remote_id, remote_url=remote_url, made=made)


def _mark_done(session: Session, row_ids: Sequence[int], now: datetime, *, remote_id: str = "",
               remote_url: str = "", made: Sequence[object] = ()) -> None:
    session.add_all(made)
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(row_ids))
        .values(done_at=now, remote_id=remote_id, remote_url=remote_url, last_error="")
    )


def retry_later(
    session: Session, row_id: int, now: datetime, error: str, delay: timedelta
) -> None:
    with transaction(session):
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id, OutboxMessage.done_at.is_(None))
            .values(next_attempt_at=now + delay, last_error=error[:2000])
        )


def give_up(session: Session, row_id: int, now: datetime, error: str) -> None:
    """Stops retrying a row (kept, with its error, for the record)."""
    with transaction(session):
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id)
            .values(done_at=now, last_error=error[:2000])
        )


def backoff(
    attempts: int, base: float, ceiling: float, rng: random.Random | None = None
) -> timedelta:
    """Exponential backoff with full jitter: up to base * 2^(attempts-1), capped."""
    chooser = rng or random
    limit = min(ceiling, base * 2 ** max(0, attempts - 1))
    return timedelta(seconds=chooser.uniform(limit / 2, limit))


def pending_count(session: Session, kind: OutboxKind) -> int:
    count = session.scalar(
        select(func.count()).where(OutboxMessage.kind == kind, OutboxMessage.done_at.is_(None))
    )
    return int(count or 0)
