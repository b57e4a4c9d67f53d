"""How long each stage may take, from the SOP, as configured."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from workflow.calendar import Deadline, WorkingCalendar
from workflow.config import DeadlineSettings
from workflow.models import Status


class DeadlinePolicy(Protocol):
    def due(self, stage: Status, started_at: datetime) -> datetime | None:
        """When `stage`, entered at `started_at`, is overdue; None: no deadline."""


@dataclasses.dataclass(frozen=True)
class StageDeadlines:
    """Per-stage allowances on the office's working-time calendar."""

    allowances: Mapping[Status, Deadline]
    calendar: WorkingCalendar

    @classmethod
    def from_settings(cls, settings: DeadlineSettings, calendar: WorkingCalendar) -> StageDeadlines:
        allowances = {
            Status(item.name): Deadline.parse(getattr(settings, item.name))
            for item in dataclasses.fields(settings)
        }
        return cls(allowances, calendar)

    def due(self, stage: Status, started_at: datetime) -> datetime | None:
        allowance = self.allowances.get(stage)
        return None if allowance is None else self.calendar.due(started_at, allowance)
