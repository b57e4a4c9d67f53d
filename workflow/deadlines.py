"""How long each stage may take, from the SOP, as configured."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date, datetime
from typing import Protocol

from workflow.calendar import Deadline, WorkingCalendar
from workflow.config import DeadlineSettings
from workflow.models import Status


class DeadlinePolicy(Protocol):
    def due(self, stage: Status, started_at: datetime) -> datetime | None:
        """When `stage`, entered at `started_at`, is overdue; None: no deadline."""

    def office_date(self, moment: datetime) -> date:
        """The office's calendar date at `moment` (delegations run by office dates)."""


@dataclasses.dataclass(frozen=True)
class StageDeadlines:
    """Per-stage allowances on the office's working-time calendar."""

    allowances: Mapping[Status, Deadline]
    calendar: WorkingCalendar

    @classmethod
    def from_settings(cls, settings: DeadlineSettings, calendar: WorkingCalendar) -> StageDeadlines:
        allowances = {Status(name): d for name, d in allowances_from(settings).items()}
        return cls(allowances, calendar)

    def due(self, stage: Status, started_at: datetime) -> datetime | None:
        allowance = self.allowances.get(stage)
        return None if allowance is None else self.calendar.due(started_at, allowance)

    def office_date(self, moment: datetime) -> date:
        return moment.astimezone(self.calendar.tz).date()


def allowances_from(
    deadlines: DeadlineSettings | Mapping[str, Deadline] | None,
) -> dict[str, Deadline]:
    """Stage name → parsed allowance, from settings (None: the SOP defaults) or from
    allowances already parsed."""
    if isinstance(deadlines, Mapping):
        return {str(stage): deadline for stage, deadline in deadlines.items()}
    return (deadlines or DeadlineSettings()).allowances()


def allowance_texts(
    deadlines: DeadlineSettings | Mapping[str, Deadline] | None,
) -> dict[str, str]:
    """Stage name → its allowance as configured ("3h", "1h clock"), for reports."""
    if isinstance(deadlines, Mapping):
        return {str(stage): _deadline_text(d) for stage, d in deadlines.items()}
    settings = deadlines or DeadlineSettings()
    return {name: str(value) for name, value in dataclasses.asdict(settings).items()}


def _deadline_text(deadline: Deadline) -> str:
    minutes = deadline.amount.total_seconds() / 60
    if deadline.mode == "working_days":
        return f"{deadline.amount.days}d"
    text = f"{minutes / 60:g}h" if minutes % 60 == 0 else f"{minutes:g}m"
    return f"{text} clock" if deadline.mode == "clock" else text
