"""One atomic unit of work on the caller's session, holding the write lock from its start."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from workflow.db import begin_write
from workflow.errors import WrongState


@contextmanager
def transaction(session: Session) -> Iterator[None]:
    """One atomic unit of work on the caller's session."""
    if session.in_transaction():
        if session.new or session.dirty or session.deleted:
            raise RuntimeError("the session has unsaved changes; a workflow call is atomic")
        # Only reads happened since the last call (for example an expired attribute was
        # loaded); end that read so this call gets a transaction, and locks, of its own.
        session.commit()
    try:
        with session.begin():
            begin_write(session)
            yield
    except StaleDataError:
        # Only reachable if a row changed under us despite the lock; report it as the
        # same conflict a late second tap would get.
        raise WrongState("the item changed meanwhile; try again") from None
