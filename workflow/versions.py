"""What each correction changed: the published versions of an item's title and body, compared.

Every publication's audit row (``workflow.mark_published``) keeps the title and body that
went to the website, so the history can show, for each correction, the lines it took out
and put in (difflib, line by line).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from workflow.models import AuditEvent
from workflow.transitions import Action


@dataclass(frozen=True)
class VersionChange:
    """How one published version differs from the one before it."""

    revision: int
    title: tuple[str, str] | None  # (before, after), None when unchanged
    body: tuple[tuple[str, str], ...]  # ("-" or "+", line), in order


def published_changes(events: Sequence[AuditEvent]) -> dict[int, VersionChange]:
    """For each publication after the first (by its audit row's id): what it changed."""
    changes: dict[int, VersionChange] = {}
    before: dict[str, object] | None = None
    for event in events:
        if event.action != Action.MARK_PUBLISHED.audit_verb or "body" not in event.data:
            continue
        now = event.data
        if before is not None:
            changes[event.id] = VersionChange(
                revision=int(str(now.get("revision", 0))),
                title=_changed(str(before.get("title", "")), str(now.get("title", ""))),
                body=tuple(body_diff(str(before.get("body", "")), str(now.get("body", "")))),
            )
        before = now
    return changes


def body_diff(old: str, new: str) -> list[tuple[str, str]]:
    """The lines taken out ("-") and put in ("+"), blank lines left out."""
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), n=0, lineterm="")
    return [(line[0], line[1:]) for line in lines
            if line[:1] in "-+" and not line.startswith(("---", "+++")) and line[1:].strip()]


def _changed(old: str, new: str) -> tuple[str, str] | None:
    return None if old == new else (old, new)
