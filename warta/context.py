"""Everything a command needs, built once from the settings: database, workflow, media."""

from __future__ import annotations

from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from workflow import db
from workflow.config import Settings, working_calendar
from workflow.deadlines import StageDeadlines
from workflow.errors import WorkflowError
from workflow.service import Workflow


class DatabaseNotReady(WorkflowError):
    code = "database_not_ready"


class Context:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def engine(self) -> Engine:
        return db.make_engine(self.settings.database.url)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return db.session_factory(self.engine)

    @cached_property
    def workflow(self) -> Workflow:
        calendar = working_calendar(self.settings)
        return Workflow(StageDeadlines.from_settings(self.settings.deadlines, calendar))

    def session(self) -> Session:
        """A session on a database whose schema is current (else a clear refusal)."""
        if not db.is_up_to_date(self.engine):
            raise DatabaseNotReady(
                "the database schema is not current: run `warta db upgrade` first"
            )
        return self.sessions()

    def upgrade(self) -> None:
        db.upgrade(self.engine)

    def revision(self) -> str | None:
        return db.current_revision(self.engine)

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()
