"""The publish worker: takes approved items from the outbox and puts them on the website.

Approving an item queues an outbox row (kind ``publish``, key ``warta-<id>``) in the same
transaction. :meth:`PublishWorker.run_once` then, for one due row at a time:

1. leases it (``outbox.lease_due``: the row is hidden from other workers for ``lease`` and
   its ``attempts`` goes up), in a transaction of its own;
2. reads the item and builds a :class:`PublishRequest` in a short read-only session;
3. calls the adapter outside any transaction (it may take minutes: media uploads);
4. records the outcome in one transaction:

   * success: ``workflow.mark_published`` (stores remote id and URL, closes the row, and
     queues the link for the officer, the editor and the approving official);
   * retryable failure (site down, timeout, 429, 5xx): ``outbox.retry_later`` with
     exponential backoff and jitter, until ``max_attempts`` tries have failed; then
     ``workflow.mark_publish_failed`` (which alerts the webmaster);
   * configuration problem (401, 403, wrong URL, TLS): the item stays ``approved``; its row
     is not counted as a failed attempt and is tried again after the pause (below); the
     webmaster gets one alert (template ``publish.config_problem``, payload ``reason``,
     naming the setting to check) per distinct problem and office day, however many items
     and retries meet it;
   * the site refuses this item's data (another 4xx, including 413 for a file over the
     site's upload limit): ``mark_publish_failed`` at once, since the same request would
     fail the same way;
   * the item is no longer ``approved`` (should not happen): the row is given up, noted.

Exactly once: the process may die at any point. Before the lease runs out nothing else
touches the row; after it, the row is leased again and the adapter is asked again with the
same idempotency key, and the adapter finds the post an earlier attempt created (WordPress:
by slug; webhook: the receiver dedupes by ``Idempotency-Key``) instead of making another.
So ``lease`` must be longer than the slowest publish (uploads included): a second worker
taking a row whose first worker is still uploading could create a second post.

After a configuration problem the worker pauses for ``backoff_max_seconds``: no row is
leased, so the site is not asked again and queued items wait, still ``approved``. When the
pause ends the rows are due again and go out as soon as the site accepts (fixed on the
site's side); a restart with corrected settings starts without a pause, so the other
queued items go out at once and the one that met the problem when its pause ends. Nobody
has to put anything back. A worker started anew (``warta publish --once`` from cron) does
not know an earlier process's pause, but a row that met the problem is not due again before
its own pause ends: each queued row asks the site at most once per pause, and the alert is
not repeated.

In the bot: call ``run_once`` in a thread every ``publisher.interval_seconds``, e.g.
``job_queue.run_repeating(job_callback(worker), interval=...)``. ``warta publish --once``
calls :func:`publish_once`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import hashlib
import logging
import random
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path, PurePosixPath
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, update
from sqlalchemy.orm import Session, sessionmaker

from publisher.base import (
    Adapter,
    MediaFile,
    PublishError,
    PublishRequest,
    PublishResult,
    PublishStatus,
)
from publisher.factory import make_adapter
from workflow import outbox
from workflow.actions import Workflow, correction_notes
from workflow.catalogue.formats import day_month_year
from workflow.catalogue.lookup import t_text
from workflow.clock import Clock, utc_now
from workflow.config import OfficeSettings, PublisherSettings
from workflow.context import Context
from workflow.errors import WrongState
from workflow.logs import bind
from workflow.media.storage import InvalidMediaPath, MediaStore
from workflow.models import Item, Media, MediaKind, OutboxKind, OutboxMessage, Status
from workflow.post_html import photo_alt, photo_caption, spans_from_json
from workflow.transaction import transaction

__all__ = [
    "CONFIG_PROBLEM_TEMPLATE",
    "DEFAULT_LEASE",
    "PublishWorker",
    "WorkerResult",
    "build_request",
    "excerpt",
    "job_callback",
    "make_worker",
    "publish_once",
]

log = logging.getLogger(__name__)

# Longer than the slowest publish we expect (a few large uploads at the adapter's upload
# timeout), because a row whose lease runs out mid-upload can be taken by another worker.
# It is also how long an item waits after a crash before it is tried again.
DEFAULT_LEASE = timedelta(minutes=10)
EXCERPT_WORDS = 30
MAX_REASON = 1000  # the workflow refuses notes over 2000 characters
MAX_ROWS_PER_RUN = 50  # bounds one run; the next run carries on
WARNINGS_TEMPLATE = "publish.warnings"
# The webmaster's alert once a take-down has failed max_attempts times (it keeps trying).
WITHDRAW_FAILING_TEMPLATE = "publish.withdraw_failing"
# The webmaster's alert for a configuration problem: payload {"reason": ...}, no item.
CONFIG_PROBLEM_TEMPLATE = "publish.config_problem"
_OFFICE_STATUSES: dict[str, PublishStatus] = {
    "publish": "publish",
    "pending": "pending",
    "draft": "draft",
}

class Outcome(enum.Enum):
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"
    RETRIED = "retried"
    FAILED = "failed"
    CONFIG_PROBLEM = "config_problem"
    SKIPPED = "skipped"


@dataclass
class WorkerResult:
    """What one run did."""

    published: int = 0  # first publications and corrections
    withdrawn: int = 0  # posts taken out of public view
    retried: int = 0  # failed for now, tried again later
    failed: int = 0  # moved to publish_failed (the webmaster is alerted)
    config_problems: int = 0  # the settings are wrong: left approved, tried after the pause
    skipped: int = 0  # rows given up because the item was no longer approved
    paused: bool = False  # nothing tried: waiting after a configuration problem
    busy: bool = False  # nothing tried: another run of this worker was under way

    def count(self, outcome: Outcome) -> None:
        name = outcome.value + ("s" if outcome is Outcome.CONFIG_PROBLEM else "")
        setattr(self, name, getattr(self, name) + 1)

    def __str__(self) -> str:
        text = (
            f"published {self.published}, withdrawn {self.withdrawn}, "
            f"retried {self.retried}, failed {self.failed}, "
            f"configuration problems {self.config_problems}, skipped {self.skipped}"
        )
        return text + (" (paused after a configuration problem)" if self.paused else "")


@dataclass(frozen=True)
class _Job:
    """A leased outbox row, as plain values (no session attached)."""

    row_id: int
    item_id: int | None
    key: str
    attempts: int
    event: str = "publish"  # publish | update | withdraw (actions.website_event)
    revision: int = 0
    post_key: str = ""  # the post's own key (the row's key names one version of it)

    @classmethod
    def of(cls, row: OutboxMessage) -> _Job:
        # Rows queued before corrections existed have no payload: first publications.
        payload = row.payload or {}
        return cls(row.id, row.item_id, row.idempotency_key, row.attempts,
                   str(payload.get("event", "publish")), int(payload.get("revision", 0)),
                   str(payload.get("post_key", row.idempotency_key)))


@dataclass(frozen=True)
class _Prepared:
    """What the adapter is asked, and which post it concerns (none for a first one)."""

    request: PublishRequest
    remote_id: str


class _NotPublishable(Exception):
    """The row's item cannot be published and never will be; give the row up."""


class _MediaProblem(Exception):
    """A stored file of the item is missing or unusable; a person has to look."""


class PublishWorker:
    """Publishes due outbox rows through one adapter. See the module docstring."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        workflow: Workflow,
        adapter: Adapter,
        media_root: Path | str,
        publisher_settings: PublisherSettings,
        clock: Clock = utc_now,
        rng: random.Random | None = None,
        *,
        post_status: str = "publish",
        lease: timedelta = DEFAULT_LEASE,
        max_rows: int = MAX_ROWS_PER_RUN,
        zone: tzinfo | None = None,
        language: str = "id",
    ) -> None:
        """post_status: ``website.post_status`` (publish, pending or draft); lease: see the
        module docstring; max_rows: most rows handled by one run; zone: the office's time
        zone (``office.timezone``), whose days bound repeated configuration alerts and date
        correction notes; language: ``office.language``, the notes' language."""
        self._sessions = sessions
        self._workflow = workflow
        self._adapter = adapter
        self._store = MediaStore(Path(media_root))
        self._settings = publisher_settings
        self._clock = clock
        self._rng = rng
        self._post_status = post_status
        self._lease = lease
        self._max_rows = max_rows
        self._zone = zone or ZoneInfo(OfficeSettings().timezone)
        self._language = language
        self._paused_until: datetime | None = None
        # The bot's job and a manual call may overlap; one run at a time per worker.
        self._running = threading.Lock()

    def run_once(self) -> WorkerResult:
        """Handles due rows until none is left, the site seems down, or the configuration
        is wrong. Database errors propagate: every row is then resumed after its lease."""
        result = WorkerResult()
        if not self._running.acquire(blocking=False):
            result.busy = True
            return result
        try:
            if self._paused():
                result.paused = True
                return result
            for _ in range(self._max_rows):
                job = self._lease_next()
                if job is None:
                    break
                with bind(item=job.item_id, actor="publisher"):
                    outcome = self._handle(job)
                result.count(outcome)
                # The site is down or misconfigured: the other rows would fail the same way.
                if outcome in (Outcome.RETRIED, Outcome.CONFIG_PROBLEM):
                    break
            return result
        finally:
            self._running.release()

    # --- one row -----------------------------------------------------------------------------

    def _lease_next(self) -> _Job | None:
        with self._sessions() as session:
            rows = outbox.lease_due(
                session, OutboxKind.PUBLISH, self._clock(), limit=1, lease=self._lease
            )
            if not rows:
                return None
            return _Job.of(rows[0])

    def _handle(self, job: _Job) -> Outcome:
        try:
            prepared = self._request_for(job)
        except _NotPublishable as exc:
            return self._give_up(job, str(exc))
        except _MediaProblem as exc:
            return self._fail(job, str(exc), Outcome.FAILED)
        request, remote_id = prepared.request, prepared.remote_id
        try:
            if job.event == "withdraw":
                self._adapter.withdraw(remote_id, request)
                return self._record_withdrawn(job)
            if job.event == "update":
                published = self._adapter.update(remote_id, request)
            else:
                published = self._adapter.publish(request)
        except PublishError as error:
            return self._publish_failed(job, error)
        except Exception as exc:  # a bug or an unforeseen answer: retried, then alerted
            log.exception("publish %s: unexpected error from the adapter", job.key)
            unexpected = PublishError(
                f"unexpected error: {type(exc).__name__}: {exc}", retryable=True
            )
            return self._publish_failed(job, unexpected)
        return self._record(job, published)

    def _request_for(self, job: _Job) -> _Prepared:
        """The request, read in a short session that is closed before the website is called."""
        if job.item_id is None:
            raise _NotPublishable("publish row without an item")
        expected = Status.WITHDRAWING if job.event == "withdraw" else Status.APPROVED
        with self._sessions() as session:
            item = session.get(Item, job.item_id)
            if item is None:
                raise _NotPublishable(f"item {job.item_id} does not exist")
            if item.status is not expected:
                raise _NotPublishable(f"item is {item.state}, not {expected}: not sent")
            if job.event != "publish" and not item.remote_id:
                raise _NotPublishable(f"{job.event} of an item with no post")
            request = build_request(item, job.post_key, self._store, self._clock(),
                                    self._post_status)
            if job.event != "publish":
                notes = tuple(self._correction_note(at, note)
                              for at, note in correction_notes(session, item.id))
                request = dataclasses.replace(request, corrections=notes,
                                              revision=job.revision)
            return _Prepared(request, item.remote_id)

    def _correction_note(self, at: datetime, note: str) -> str:
        """One dated correction note as readers see it at the end of the post."""
        day = day_month_year(at.astimezone(self._zone), self._language)
        return t_text("post.correction", self._language, date=day, note=note)

    def _publish_failed(self, job: _Job, error: PublishError) -> Outcome:
        if error.config_problem:
            if _item_specific(error):
                return self._fail(job, config_reason(error, self._adapter.name), Outcome.FAILED)
            return self._config_problem(job, error)
        if job.event == "withdraw":
            # A post that must come down is never given up on: tried again and again
            # (the webmaster is told once it keeps failing); the item stays withdrawing.
            return self._retry(job, error)
        if not error.retryable:
            return self._fail(job, f"the website refused the item: {error.reason}", Outcome.FAILED)
        if job.attempts >= self._settings.max_attempts:
            reason = f"gave up after {job.attempts} attempts; last error: {error.reason}"
            return self._fail(job, reason, Outcome.FAILED)
        return self._retry(job, error)

    def _retry(self, job: _Job, error: PublishError) -> Outcome:
        delay = outbox.backoff(
            job.attempts,
            self._settings.backoff_base_seconds,
            self._settings.backoff_max_seconds,
            self._rng,
        )
        log.warning(
            "publish %s: attempt %d failed (%s); next in %s",
            job.key,
            job.attempts,
            error.reason,
            delay,
        )
        with self._sessions() as session:
            outbox.retry_later(session, job.row_id, self._clock(), error.reason, delay)
        if job.event == "withdraw" and job.attempts >= self._settings.max_attempts:
            self._alert_withdraw_failing(job, error.reason)
        return Outcome.RETRIED

    def _alert_withdraw_failing(self, job: _Job, reason: str) -> None:
        """One alert per take-down (by its key) however long the site keeps failing."""
        now = self._clock()
        with self._sessions() as session, transaction(session):
            outbox.insert_once(session, [outbox.notification_values(
                target="alert", template=WITHDRAW_FAILING_TEMPLATE,
                payload={"reason": _shorten(reason), "attempts": job.attempts},
                key=f"{WITHDRAW_FAILING_TEMPLATE}:{job.key}", now=now, item_id=job.item_id)])

    def _config_problem(self, job: _Job, error: PublishError) -> Outcome:
        """The settings are wrong: nothing is wrong with the item, and trying other items
        would meet the same answer. The item stays approved; its row is tried again after
        the pause without counting this attempt; the webmaster is told once."""
        reason = _shorten(config_reason(error, self._adapter.name))
        now = self._clock()
        until = now + timedelta(seconds=self._settings.backoff_max_seconds)
        with self._sessions() as session, transaction(session):
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == job.row_id, OutboxMessage.done_at.is_(None))
                .values(
                    # The lease counted an attempt; a configuration problem is not one.
                    attempts=case(
                        (OutboxMessage.attempts > 0, OutboxMessage.attempts - 1), else_=0
                    ),
                    next_attempt_at=until,
                    last_error=reason,
                )
            )
            alerted = outbox.insert_once(session, [self._config_alert(reason, now)]) == 1
        self._paused_until = until
        log.error(
            "publish %s: %s; the item stays approved, publishing paused until %s%s",
            job.key,
            reason,
            until.isoformat(timespec="seconds"),
            "" if alerted else " (the webmaster was already alerted)",
        )
        return Outcome.CONFIG_PROBLEM

    def _config_alert(self, reason: str, now: datetime) -> dict[str, Any]:
        """The webmaster's alert: one per distinct reason and office day, by its key.

        Any: the row's values, as SQLAlchemy's Core insert takes them (outbox's type)."""
        day = now.astimezone(self._zone).date().isoformat()
        digest = hashlib.sha1(reason.encode(), usedforsecurity=False).hexdigest()
        return outbox.notification_values(
            target="alert", template=CONFIG_PROBLEM_TEMPLATE, payload={"reason": reason},
            key=f"{CONFIG_PROBLEM_TEMPLATE}:{digest}:{day}", now=now)

    def _fail(self, job: _Job, reason: str, outcome: Outcome) -> Outcome:
        """publish_failed: the transition closes the row and alerts the webmaster."""
        assert job.item_id is not None  # rows without an item never get this far
        reason = _shorten(reason)
        log.error("publish %s failed: %s", job.key, reason)
        try:
            with self._sessions() as session:
                self._workflow.mark_publish_failed(session, job.item_id, self._clock(), reason)
        except WrongState as exc:
            # Another worker finished the item after our lease ran out; its transition
            # closed the row.
            log.warning("publish %s: not marked failed: %s", job.key, exc)
            return Outcome.SKIPPED
        return outcome

    def _give_up(self, job: _Job, note: str) -> Outcome:
        log.error("publish %s: given up: %s", job.key, note)
        with self._sessions() as session:
            outbox.give_up(session, job.row_id, self._clock(), note)
        return Outcome.SKIPPED

    def _record(self, job: _Job, published: PublishResult) -> Outcome:
        assert job.item_id is not None
        try:
            with self._sessions() as session:
                self._workflow.mark_published(
                    session,
                    job.item_id,
                    self._clock(),
                    remote_id=published.remote_id,
                    url=published.url,
                )
        except WrongState as exc:
            log.warning("publish %s: already recorded: %s", job.key, exc)
            return Outcome.SKIPPED
        log.info("publish %s: published as %s %s", job.key, published.remote_id, published.url)
        if published.warnings:
            self._alert_warnings(job.item_id, published)
        return Outcome.PUBLISHED

    def _record_withdrawn(self, job: _Job) -> Outcome:
        assert job.item_id is not None
        try:
            with self._sessions() as session:
                self._workflow.mark_withdrawn(session, job.item_id, self._clock())
        except WrongState as exc:
            log.warning("withdraw %s: already recorded: %s", job.key, exc)
            return Outcome.SKIPPED
        log.info("withdraw %s: the post is out of public view", job.key)
        return Outcome.WITHDRAWN

    def _alert_warnings(self, item_id: int, published: PublishResult) -> None:
        """Published, but the webmaster should know (e.g. a video the site refused)."""
        log.warning("publish warnings for item %d: %s", item_id, "; ".join(published.warnings))
        now = self._clock()
        with self._sessions() as session, transaction(session):
            session.add(
                OutboxMessage(
                    kind=OutboxKind.NOTIFY,
                    item_id=item_id,
                    target="alert",
                    template=WARNINGS_TEMPLATE,
                    payload={"warnings": list(published.warnings), "url": published.url},
                    idempotency_key=f"{WARNINGS_TEMPLATE}:{item_id}:{published.remote_id}",
                    next_attempt_at=now,
                    created_at=now,
                )
            )

    # --- pause after a configuration problem -------------------------------------------------

    def _paused(self) -> bool:
        until = self._paused_until
        if until is None:
            return False
        if self._clock() >= until:
            self._paused_until = None
            return False
        return True


def _item_specific(error: PublishError) -> bool:
    """A configuration problem that only this item meets: a file over the site's upload
    limit (413). Other items still go out, so the item fails instead of pausing them all."""
    return error.status_code == 413


# --- building the request ----------------------------------------------------------------------


def build_request(
    item: Item, key: str, store: MediaStore, now: datetime, post_status: str = "publish"
) -> PublishRequest:
    """The request for an approved item, with its media as files under the media root.
    Raises _MediaProblem when a stored file is missing or its path is not a stored one."""
    status, publish_at = _status(item.publish_at, now, post_status)
    cover = item.cover
    return PublishRequest(
        item_id=item.id,
        idempotency_key=key,
        title=item.title,
        body=item.body,
        body_format=spans_from_json(item.body_format),
        excerpt=excerpt(item.body),
        category=item.category.strip() or None,
        tags=tuple(item.tags or ()),
        media=tuple(
            _media_file(item, media, index, store) for index, media in enumerate(item.media, 1)
        ),
        cover_sha256=cover.sha256 if cover is not None else None,
        status=status,
        publish_at=publish_at,
        section=item.section,
    )


def excerpt(body: str, words: int = EXCERPT_WORDS) -> str:
    """The first ``words`` words of the body, on one line."""
    parts = body.split()
    if len(parts) <= words:
        return " ".join(parts)
    return " ".join(parts[:words]) + " …"


def _status(
    publish_at: datetime | None, now: datetime, post_status: str
) -> tuple[PublishStatus, datetime | None]:
    """The office's status, or "future" for an item scheduled later: a site where posts
    wait for the webmaster (pending, draft) keeps its status and gets the date as a hint."""
    if post_status not in _OFFICE_STATUSES:
        raise ValueError(f"unknown post status {post_status!r}")
    if post_status == "publish" and publish_at is not None and publish_at > now:
        return "future", publish_at
    return _OFFICE_STATUSES[post_status], publish_at


def _media_file(item: Item, media: Media, index: int, store: MediaStore) -> MediaFile:
    try:
        path = store.open_stored(media.stored_path)
    except (InvalidMediaPath, FileNotFoundError) as exc:
        raise _MediaProblem(
            f"media {media.id} of item {item.id} is not in the media store "
            f"({media.stored_path}): {exc}"
        ) from exc
    # Stored files are named by their SHA-256, and the adapters identify files on the remote
    # side by the row's sha256 (media slugs): the two must agree.
    if PurePosixPath(media.stored_path).name.split(".")[0] != media.sha256:
        raise _MediaProblem(f"media {media.id}: stored path does not match its sha256")
    try:
        kind = MediaKind(media.kind)
    except ValueError:
        raise _MediaProblem(f"unknown media kind {media.kind!r}") from None
    return MediaFile(
        path=path,
        mime=media.mime,
        kind=kind,
        filename=_filename(item, media, index),
        sha256=media.sha256,
        alt=photo_alt(item, media) if kind == MediaKind.PHOTO else "",
        caption=photo_caption(item, media) if kind == MediaKind.PHOTO else "",
    )


def _filename(item: Item, media: Media, index: int) -> str:
    """The name readers see (document links, media titles): the sender's file name with the
    stored file's extension (photos are re-encoded as JPEG), else one made from the title
    (photos sent as photos have no name in Telegram)."""
    suffix = PurePosixPath(media.stored_path).suffix
    original = media.original_name.strip()
    if original:
        stem = PurePosixPath(original).stem if "." in original else original
        return stem + suffix
    words = " ".join(item.title.replace("/", " ").replace("\\", " ").split())
    stem = words[:60].rstrip() or media.kind
    return f"{stem} {index}{suffix}"


def config_reason(error: PublishError, adapter_name: str) -> str:
    """A webmaster alert for a configuration problem: what happened and what to check."""
    return f"website configuration problem: {error.reason}; {_config_hint(error, adapter_name)}"


def _config_hint(error: PublishError, adapter_name: str) -> str:
    status = error.status_code
    if adapter_name == "webhook":
        if status in (401, 403):
            return "check website.webhook_secret (the receiver rejected the signature)"
        return "check website.webhook_url"
    if status == 401 or (status == 400 and "credentials" in error.reason):
        return "check website.username and website.password (a WordPress Application Password)"
    if status == 403:
        return "check the WordPress user's role: it must be allowed to upload and publish"
    if status == 413:
        return "raise the site's upload size limit"
    return "check website.base_url (and website.rest_route_form)"


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


# --- running it --------------------------------------------------------------------------------


def make_worker(context: Context, *, clock: Clock = utc_now) -> PublishWorker | None:
    """The worker for the configured website, or None when ``website.adapter`` is "none"."""
    adapter = make_adapter(context.settings)
    if adapter is None:
        return None
    return PublishWorker(
        context.sessions,
        context.workflow,
        adapter,
        context.settings.media.dir,
        context.settings.publisher,
        clock,
        post_status=context.settings.website.post_status,
        zone=context.zone,
        language=context.settings.office.language,
    )


def publish_once(context: Context) -> WorkerResult:
    """``warta publish --once``: publish what is due now (nothing with adapter "none")."""
    context.session().close()  # refuses a database whose schema is not current
    worker = make_worker(context)
    return worker.run_once() if worker is not None else WorkerResult()


def job_callback(worker: PublishWorker) -> Callable[[object], Coroutine[Any, Any, None]]:
    """A python-telegram-bot job callback running ``worker.run_once`` in a thread:
    ``job_queue.run_repeating(job_callback(worker), interval=publisher.interval_seconds)``.
    Errors are logged, and the next run tries again (leases keep every row safe).
    The job's context is not used, so the publisher needs no PTB type; Coroutine[Any, Any, ...]
    is what every ``async def`` returns."""

    async def publish_job(_context: object) -> None:
        try:
            result = await asyncio.to_thread(worker.run_once)
        except Exception:
            log.exception("publish job failed; rows resume after their lease")
            return
        if result.published or result.failed or result.config_problems:
            log.info("publish job: %s", result)

    return publish_job
