"""How long each stage may take, from the SOP, as configured."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Protocol

from workflow.config import DeadlineSettings, parse_duration
from workflow.models import Status


class DeadlinePolicy(Protocol):
    def due(self, stage: Status, started_at: datetime) -> datetime | None:
        """When `stage`, entered at `started_at`, is overdue; None: no deadline."""


AddWorkingTime = Callable[[datetime, timedelta], datetime]


@dataclasses.dataclass(frozen=True)
class StageDeadlines:
    """Per-stage allowances, each counted in working time or in plain clock time."""

    allowances: Mapping[Status, tuple[timedelta, bool]]
    add_working_time: AddWorkingTime | None = None

    @classmethod
    def from_settings(
        cls, settings: DeadlineSettings, add_working_time: AddWorkingTime | None = None
    ) -> StageDeadlines:
        allowances: dict[Status, tuple[timedelta, bool]] = {}
        for item in dataclasses.fields(settings):
            hours, clock = parse_duration(getattr(settings, item.name))
            allowances[Status(item.name)] = (timedelta(hours=hours), clock)
        return cls(allowances, add_working_time)

    def due(self, stage: Status, started_at: datetime) -> datetime | None:
        if stage not in self.allowances:
            return None
        allowed, clock = self.allowances[stage]
        if clock or self.add_working_time is None:
            return started_at + allowed
        return self.add_working_time(started_at, allowed)
