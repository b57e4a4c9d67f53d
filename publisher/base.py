"""The one interface every website adapter implements, and the errors it raises.

No Telegram, no database here: the outbox worker builds a :class:`PublishRequest` from an
approved item, calls :meth:`Adapter.publish`, stores the :class:`PublishResult`, and decides
what to do with a :class:`PublishError` from its two flags:

* ``retryable``: the site was unreachable, timed out, rate limited (429) or failed (5xx).
  Try again later with backoff; nothing about the item needs to change.
* ``config_problem``: credentials rejected (401), permission denied (403), no API at the
  configured URL (404 on the API root, not a WordPress site, ...). Retrying will not help
  until the webmaster fixes the configuration; alert them. Never retryable.
* neither: the site refused this item's data (a 4xx such as an invalid parameter or a file
  type the site does not accept). Retrying the same request will fail the same way.

Exactly once: ``publish()`` must be idempotent by ``request.idempotency_key``. The worker
may call it again after a crash at any point (including after the site created the post but
before the worker stored the result), and the second call must return the same remote
post instead of creating another one.

Corrections and take-downs: ``update()`` replaces a published post in place (same id and
URL) and ``withdraw()`` hides it (never deletes it). Both are idempotent by nature: the
request says the whole post as it must be, so a retry after a crash writes the same thing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final, Literal, Protocol, runtime_checkable

import requests

from workflow.models import MediaKind
from workflow.post_html import Span

__all__ = [
    "STATUSES",
    "Adapter",
    "MediaFile",
    "PublishError",
    "PublishRequest",
    "PublishResult",
    "PublishStatus",
    "error_from_exception",
    "error_from_status",
]

log = logging.getLogger(__name__)

PublishStatus = Literal["publish", "future", "pending", "draft"]
STATUSES: Final[frozenset[str]] = frozenset({"publish", "future", "pending", "draft"})


@dataclass(frozen=True)
class MediaFile:
    """One stored file attached to an item."""

    path: Path  # stored file on local disk
    mime: str  # checked from content, e.g. image/jpeg, application/pdf, video/mp4
    kind: MediaKind
    filename: str  # human file name for the website; may contain unicode
    sha256: str  # hex digest of the file's bytes; identifies the file on the remote side
    alt: str = ""  # alt text (photos)
    caption: str = ""

    def __post_init__(self) -> None:
        MediaKind(self.kind)  # a string that names no kind is a ValueError
        if len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256):
            raise ValueError("sha256 must be 64 lowercase hex digits")


@dataclass(frozen=True)
class PublishRequest:
    """Everything an adapter needs to put one approved item on a website."""

    item_id: int
    idempotency_key: str  # e.g. "warta-17"; unique per item, stable across retries
    title: str
    body: str  # plain text from users; paragraphs separated by blank lines; NEVER HTML
    excerpt: str
    category: str | None
    tags: tuple[str, ...]
    media: tuple[MediaFile, ...]  # in display order
    cover_sha256: str | None  # which photo is the featured image
    status: PublishStatus
    publish_at: datetime | None  # aware datetime; required for status "future"
    section: str = ""  # office section (bidang); informative
    # Correction notes (plain text, dated by the worker, oldest first) shown at the end of
    # the post; empty for a first publication.
    corrections: tuple[str, ...] = ()
    # 0 for the first publication, then one more for every correction: keys a delivery.
    revision: int = 0
    # The editor's formatting of `body` (bold, italic, links...), rendered by post_html.
    body_format: tuple[Span, ...] = ()

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")
        if self.status == "future" and self.publish_at is None:
            raise ValueError('status "future" needs publish_at')
        if self.publish_at is not None and self.publish_at.utcoffset() is None:
            raise ValueError("publish_at must be timezone-aware")
        if not self.idempotency_key.strip():
            raise ValueError("idempotency_key must not be empty")
        if self.cover_sha256 is not None and not any(
            m.sha256 == self.cover_sha256 and m.kind == MediaKind.PHOTO for m in self.media
        ):
            raise ValueError("cover_sha256 must name one of the request's photos")


@dataclass(frozen=True)
class PublishResult:
    """Where the item ended up."""

    remote_id: str
    url: str
    # Things a person should know although publishing succeeded,
    # e.g. "video linked, not uploaded: site refused video/mp4".
    warnings: tuple[str, ...] = ()


class PublishError(Exception):
    """Publishing failed; see the module docstring for what the flags mean."""

    def __init__(
        self,
        reason: str,
        *,
        retryable: bool,
        config_problem: bool = False,
        status_code: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason  # short, human, safe to show to a webmaster (no secrets)
        # A configuration problem is never fixed by trying again.
        self.retryable = retryable and not config_problem
        self.config_problem = config_problem
        self.status_code = status_code

    def __str__(self) -> str:
        return self.reason

    def __repr__(self) -> str:
        return (
            f"PublishError({self.reason!r}, retryable={self.retryable}, "
            f"config_problem={self.config_problem}, status_code={self.status_code})"
        )


@runtime_checkable
class Adapter(Protocol):
    """A website the outbox worker can publish to."""

    name: str

    def find_published(self, key: str) -> PublishResult | None:
        """The item already on the site under idempotency ``key``, or None."""
        ...

    def publish(self, request: PublishRequest) -> PublishResult:
        """Put the item on the site; idempotent by ``request.idempotency_key``."""
        ...

    def update(self, remote_id: str, request: PublishRequest) -> PublishResult:
        """Replace the post ``remote_id`` in place with ``request`` (a correction, or a
        withdrawn post put back): same post, same URL; idempotent (the same request twice
        leaves the post as one call would)."""
        ...

    def withdraw(self, remote_id: str, request: PublishRequest) -> None:
        """Take the post out of public view without deleting it; idempotent."""
        ...

    def check(self) -> None:
        """An authenticated request; raises PublishError(config_problem=True) when the
        URL or credentials are wrong, PublishError(retryable=True) when the site is down."""
        ...


# --- mapping HTTP outcomes onto PublishError, shared by the HTTP adapters -------------------

_RETRYABLE_STATUS: Final[frozenset[int]] = frozenset({408, 425, 429})
_CONFIG_STATUS: Final[dict[int, str]] = {
    401: "credentials rejected",
    403: "permission denied",
    404: "not found (wrong URL?)",
    405: "method not allowed (wrong URL?)",
    413: "request too large for the site (raise its upload limit)",
}


def error_from_status(status: int, what: str, detail: str = "") -> PublishError:
    """The PublishError for an HTTP error answer to ``what`` (e.g. "POST /wp/v2/posts")."""
    reason = f"{what}: HTTP {status}"
    if status in _CONFIG_STATUS:
        reason += f" {_CONFIG_STATUS[status]}"
    if detail:
        reason += f": {detail}"
    return PublishError(
        reason,
        retryable=status in _RETRYABLE_STATUS or status >= 500,
        config_problem=status in _CONFIG_STATUS,
        status_code=status,
    )


def error_from_exception(exc: requests.RequestException, what: str) -> PublishError:
    """The PublishError for a request that got no HTTP answer at all."""
    if isinstance(exc, requests.Timeout):
        return PublishError(f"{what}: timed out", retryable=True)
    if isinstance(exc, requests.exceptions.SSLError):
        # A certificate problem does not go away by waiting.
        return PublishError(f"{what}: TLS error: {exc}", retryable=False, config_problem=True)
    if isinstance(exc, requests.ConnectionError):
        return PublishError(f"{what}: cannot connect to the site", retryable=True)
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema)):
        return PublishError(f"{what}: invalid URL: {exc}", retryable=False, config_problem=True)
    # Other transport trouble (broken chunked answer, too many redirects...): try again.
    return PublishError(f"{what}: {type(exc).__name__}: {exc}", retryable=True)
