"""What sniffing found a file to be: its MIME type and the media kind that content is."""

from __future__ import annotations

from dataclasses import dataclass

from workflow.models import MediaKind


@dataclass(frozen=True, slots=True)
class Detected:
    mime: str
    # None: a type no kind accepts (named only so the refusal can say what was sent).
    kind: MediaKind | None = None
