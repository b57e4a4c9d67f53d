"""Everything a command or the bot needs, built once from the settings and on demand."""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from workflow import db
from workflow.actions import Workflow
from workflow.calendar import WorkingCalendar
from workflow.clock import Clock, utc_now
from workflow.config import Settings, working_calendar
from workflow.deadlines import StageDeadlines
from workflow.errors import WorkflowError
from workflow.media.limits import MB, MediaLimits
from workflow.media.storage import MediaStore


class DatabaseNotReady(WorkflowError):
    code = "database_not_ready"


class Context:
    def __init__(self, settings: Settings, clock: Clock = utc_now) -> None:
        self.settings = settings
        self.clock = clock
        self.zone = ZoneInfo(settings.office.timezone)
        self._schema_checked = False

    @cached_property
    def engine(self) -> Engine:
        return db.make_engine(self.settings.database.url)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return db.session_factory(self.engine)

    @cached_property
    def calendar(self) -> WorkingCalendar:
        return working_calendar(self.settings)

    @cached_property
    def workflow(self) -> Workflow:
        return Workflow(StageDeadlines.from_settings(self.settings.deadlines, self.calendar),
                        self.settings.notes, checklist=self.settings.checklist)

    @cached_property
    def media(self) -> MediaStore:
        return MediaStore(Path(self.settings.media.dir), media_limits(self.settings))

    def now(self) -> datetime:
        return self.clock()

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)

    def ensure_schema(self) -> None:
        """Refuses clearly when the database is not migrated to the current schema."""
        if self._schema_checked:
            return
        if not db.is_up_to_date(self.engine):
            raise DatabaseNotReady(
                "the database schema is not current: run `warta db upgrade` first"
            )
        self._schema_checked = True

    def session(self) -> Session:
        """A session on a database whose schema is current (else a clear refusal)."""
        self.ensure_schema()
        return self.sessions()

    def upgrade(self) -> None:
        db.upgrade(self.engine)

    def revision(self) -> str | None:
        return db.current_revision(self.engine)

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()


def media_limits(settings: Settings) -> MediaLimits:
    media = settings.media
    return MediaLimits(
        max_photo_bytes=int(media.max_photo_mb * MB),
        max_document_bytes=int(media.max_document_mb * MB),
        max_video_bytes=int(media.max_video_mb * MB),
        download_limit_bytes=(
            None if settings.telegram.local_mode else int(settings.telegram.max_download_mb * MB)
        ),
        photo_long_edge=media.photo_max_edge,
        jpeg_quality=media.jpeg_quality,
        thumbnail_long_edge=media.thumbnail_edge,
        max_image_pixels=int(media.max_image_megapixels * 1_000_000),
        max_archive_inflated_bytes=int(media.max_archive_inflated_mb * MB),
        max_archive_ratio=media.max_archive_ratio,
    )
