"""What each page shows, read from the workflow: the board, an item, its history, the figures.

No rule lives here: who may see or do what comes from `workflow.transitions`, edits are
`Edit`s for the workflow to apply, and a stale form is one whose item moved on.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow import checklist
from workflow.acting import acting_for
from workflow.actions import Edit
from workflow.board import BoardRow, board_items, board_rows, names_of
from workflow.catalogue.lookup import t_text
from workflow.context import Context
from workflow.errors import InvalidValue, NotAllowed
from workflow.models import (
    FINAL_STATES,
    AuditEvent,
    Item,
    Media,
    MediaKind,
    Person,
    Role,
    Status,
)
from workflow.post_html import default_caption, post_html_for_preview
from workflow.queries import get_item, history
from workflow.transitions import STAFF_ROLES, TRANSITIONS, Action, allowed_actions, can_view

if TYPE_CHECKING:
    from aiohttp import web

OPEN_STATES = [s for s in Status if s not in FINAL_STATES and s is not Status.DRAFT]


def _context(request: web.Request) -> Context:
    from web.app import CONTEXT

    return request.app[CONTEXT]


def start_target(start_param: str) -> str:
    """Where a Mini App button points: "item-7" opens item 7, anything else the board."""
    number = start_param.removeprefix("item-")
    return f"/items/{int(number)}" if number.isdigit() and len(number) < 10 else "/"


# --- the board -----------------------------------------------------------------------------


BOARD_PAGE = 20  # cards per column; the rest are counted and a link shows more


@dataclass(frozen=True)
class Card:
    item: Item
    waits_on: str
    used_minutes: int
    allowed_minutes: int | None
    late: bool
    mine: bool


@dataclass(frozen=True)
class Column:
    state: Status
    cards: list[Card]
    total: int
    more_href: str  # "" when every card of the column is shown


def board(request: web.Request, session: Session, person: Person) -> dict[str, Any]:
    """Every open item the person may see, by stage, theirs and the late ones first; each
    column shows its first cards and counts the rest (one query places them all, only the
    cards shown are read in full)."""
    warta = _context(request)
    now = warta.now()
    section = request.query.get("section", "")
    who = request.query.get("person", "")
    rows = board_rows(session, OPEN_STATES, person)
    sections = sorted({row.section for row in rows if row.section})
    people = names_of(session, sorted({i for row in rows
                                       for i in (row.officer_id, row.editor_id) if i}))
    if section:
        rows = [row for row in rows if row.section == section]
    if who.isdigit():
        rows = [row for row in rows if int(who) in (row.officer_id, row.editor_id)]
    rows.sort(key=lambda row: (not row.waits_on(person), not row.late(now), row.item_id))
    expanded = request.query.get("column", "")
    shown_there = int(request.query.get("shown", "0")) if request.query.get(
        "shown", "").isdigit() else 0
    placed = []
    for state in OPEN_STATES:
        in_column = [row for row in rows if row.status is state]
        limit = max(shown_there, BOARD_PAGE) if expanded == state.value else BOARD_PAGE
        placed.append((state, in_column[:limit], len(in_column)))
    items = board_items(session, [row.item_id for _, shown, _ in placed for row in shown])
    columns = [Column(state, [_card(warta, items[row.item_id], row, person, now)
                              for row in shown],
                      total, _more_href(request, state, len(shown)) if total > len(shown)
                      else "")
               for state, shown, total in placed]
    return {"template": "board.html", "columns": columns, "section": section,
            "sections": sections, "person_filter": who, "people": sorted(
                people.items(), key=lambda pair: pair[1]),
            "late_count": sum(row.late(now) for row in rows)}


def _more_href(request: web.Request, state: Status, shown: int) -> str:
    """The board again, with `BOARD_PAGE` more cards of this column, filters kept."""
    query = {key: value for key, value in request.query.items()
             if key in ("section", "person") and value}
    query |= {"column": state.value, "shown": str(shown + BOARD_PAGE)}
    return f"/?{urlencode(query)}#{state.value}"


def _card(warta: Context, item: Item, row: BoardRow, person: Person, now: datetime) -> Card:
    used = allowed = None
    if row.stage_started_at is not None and row.due_at is not None:
        # Working time is additive, so the time used is one span, late or not.
        used = warta.calendar.working_time_between(row.stage_started_at, now)
        allowed = warta.calendar.working_time_between(row.stage_started_at, row.due_at)
    return Card(item, _waits_on(item, person.language), int(used.total_seconds() // 60)
                if used else 0, int(allowed.total_seconds() // 60) if allowed else None,
                row.late(now), row.waits_on(person))


def _waits_on(item: Item, lang: str) -> str:
    if item.status is Status.SUBMITTED:
        return t_text("web.waits.it_team", lang)
    if item.status is Status.IN_EDITING and item.editor is not None:
        return item.editor.name
    if item.status is Status.AWAITING_APPROVAL:
        return t_text("web.waits.officials", lang)
    if item.status is Status.RETURNED_TO_OFFICER:
        return item.officer.name
    return t_text("web.waits.website", lang)


# --- one item ------------------------------------------------------------------------------


def item_page(request: web.Request, session: Session, person: Person) -> dict[str, Any]:
    """The editor for the claiming editor; for others the preview with what they may do.

    An officer (who may see their own item) is refused the editor: it is the IT team's."""
    warta = _context(request)
    item = get_item(session, int(request.match_info["item_id"]), person)
    if not person.roles & STAFF_ROLES:
        raise NotAllowed("the editor is for the office's staff", reason="role")
    actions = allowed_actions(item, person, acting_for(session, person, warta.now().date()))
    editing = Action.EDIT in actions
    return {"template": "item.html", "item": item, "editing": editing,
            "actions": [a for a in actions if a in BUTTONS], "buttons": BUTTONS,
            "noted": {a for a in actions if TRANSITIONS[a].needs_note},
            "checks": checklist.evaluate(item, warta.settings.checklist),
            "photos": [m for m in item.media if m.kind == MediaKind.PHOTO],
            "others": [m for m in item.media if m.kind != MediaKind.PHOTO],
            "saved": request.query.get("saved") == "1",
            "schedule": schedule_field(item, warta.zone),
            "default_caption": default_caption(item)}


# The steps an item's page offers as buttons (when the table allows them to the person),
# by their label's message key; whether one asks for a note is the table's to say.
BUTTONS: dict[Action, str] = {
    Action.CLAIM: "web.button.claim",
    Action.FORWARD: "web.button.forward",
    Action.RETURN_TO_OFFICER: "web.button.return",
    Action.APPROVE: "web.button.approve",
    Action.REJECT: "web.button.reject",
    Action.REQUEST_REVISION: "web.button.revise",
    Action.OPEN_CORRECTION: "web.button.correct",
    Action.TAKE_DOWN: "web.button.take_down",
}


def preview(request: web.Request, session: Session, person: Person) -> dict[str, Any]:
    """The post as the website will get it, in a phone-sized frame."""
    item = get_item(session, int(request.match_info["item_id"]), person)
    media = [(m, f"/media/{m.id}") for m in item.media]
    return {"template": "preview.html", "item": item,
            "post": post_html_for_preview(item, media)}


@dataclass(frozen=True)
class Step:
    event: AuditEvent
    title_diff: Sequence[tuple[str, str]]
    body_diff: Sequence[tuple[str, str]]


def history_page(request: web.Request, session: Session, person: Person) -> dict[str, Any]:
    """Who did what and when, with what changed in the title and body at each edit."""
    item = get_item(session, int(request.match_info["item_id"]), person)
    steps = []
    title, body = "", ""
    for event in history(session, item.id):
        new_title = event.data.get("title", title) if isinstance(event.data, dict) else title
        new_body = event.data.get("body", body) if isinstance(event.data, dict) else body
        steps.append(Step(event, _diff(title, new_title) if new_title != title else (),
                          _diff(body, new_body) if new_body != body else ()))
        title, body = new_title, new_body
    return {"template": "history.html", "item": item, "steps": steps}


def _diff(before: str, after: str) -> list[tuple[str, str]]:
    """Word-level changes as (kind, text): kind is "same", "added" or "removed"."""
    old, new = before.split(), after.split()
    parts: list[tuple[str, str]] = []
    for op, a1, a2, b1, b2 in difflib.SequenceMatcher(a=old, b=new).get_opcodes():
        if op == "equal":
            parts.append(("same", " ".join(old[a1:a2])))
            continue
        if a2 > a1:
            parts.append(("removed", " ".join(old[a1:a2])))
        if b2 > b1:
            parts.append(("added", " ".join(new[b1:b2])))
    return parts


def require_unchanged(session: Session, item_id: int, person: Person, version: str) -> None:
    """A form sent from a page that showed an older version of the item changes nothing:
    the answer names who acted last and when."""
    from web.app import Refusal

    item = get_item(session, item_id, person)
    if version.isdigit() and int(version) == item.version:
        return
    last = session.scalars(select(AuditEvent).where(AuditEvent.item_id == item_id)
                           .order_by(AuditEvent.id.desc()).limit(1)).first()
    by = last.actor.name if last is not None and last.actor is not None else "Warta"
    at = last.at if last is not None else item.updated_at
    raise Refusal(409, "web.stale", by=by, at=at)


def _tags(text: str) -> list[str]:
    return [tag.strip() for tag in text.replace(";", ",").split(",") if tag.strip()]


# The schedule as the office writes it, whatever the browser's locale: day first
# ("01/12/2026 09:00" or "09.00"), or ISO ("2026-12-01 09:00", as /jadwal takes it).
_DAY_FIRST = re.compile(r"(?P<day>\d{1,2})/(?P<month>\d{1,2})/(?P<year>\d{4})")
_ISO_DATE = re.compile(r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})")
_TIME = re.compile(r"(?P<hour>\d{1,2})[:.](?P<minute>\d{2})")
SCHEDULE_FORMAT = "%d/%m/%Y %H:%M"


def _schedule(text: str, zone: tzinfo) -> datetime:
    """The schedule field's moment in the office's time zone; InvalidValue (whose message
    shows the format) for anything else."""
    day_part, _, time_part = text.strip().replace("T", " ").partition(" ")
    day = _DAY_FIRST.fullmatch(day_part) or _ISO_DATE.fullmatch(day_part)
    clock = _TIME.fullmatch(time_part.strip())
    try:
        if day is None or clock is None:
            raise ValueError(text)
        return datetime(int(day["year"]), int(day["month"]), int(day["day"]),
                        int(clock["hour"]), int(clock["minute"]), tzinfo=zone)
    except ValueError:
        raise InvalidValue("bad schedule", field="publish_at") from None


def schedule_field(item: Item, zone: tzinfo) -> str:
    """The item's schedule as the page's field shows it (day first, 24-hour clock)."""
    return f"{item.publish_at.astimezone(zone):{SCHEDULE_FORMAT}}" if item.publish_at else ""


def edit_from_form(item: Item, fields: dict[str, str], zone: tzinfo) -> Edit:
    """The editor page's fields as one workflow Edit (only what the page changed)."""
    known = {m.id for m in item.media}

    def ids(text: str) -> list[int]:
        numbers = [int(part) for part in text.replace(",", " ").split() if part.isdigit()]
        if any(n not in known for n in numbers):
            raise InvalidValue("unknown media", field="media")
        return numbers

    title = fields.get("title")
    body = fields.get("body")
    cover = fields.get("cover", "")
    order = ids(fields.get("order", ""))
    remove = [media_id for media_id in known if fields.get(f"remove-{media_id}") == "on"]
    current_order = [m.id for m in item.media]
    category, tags = fields.get("category"), fields.get("tags")
    schedule = _schedule(fields["publish_at"], zone) if fields.get(
        "publish_at", "").strip() else None
    return Edit(
        alt_texts=_per_photo(item, fields, "alt", "alt_text"),
        captions=_per_photo(item, fields, "caption", "caption"),
        category=category.strip() if category is not None and
        category.strip() != item.category else None,
        tags=_tags(tags) if tags is not None and
        sorted(_tags(tags)) != sorted(item.tags) else None,
        publish_at=schedule if schedule is not None and schedule != item.publish_at
        else None,
        title=title if title is not None and title != item.title else None,
        body=body if body is not None and body.strip() != item.body else None,
        cover_media_id=int(cover) if cover.isdigit() and int(cover) in known and
        (item.cover is None or int(cover) != item.cover.id) else None,
        media_order=[i for i in order if i not in remove] if order and
        order != current_order else None,
        remove_media_ids=remove,
    )


def _per_photo(item: Item, fields: dict[str, str], prefix: str, column: str
               ) -> dict[int, str] | None:
    """A text the page asks of each medium (fields "<prefix>-<media id>"): those the
    person changed, by media id; None when none changed."""
    changed = {m.id: fields[f"{prefix}-{m.id}"].strip() for m in item.media
               if f"{prefix}-{m.id}" in fields
               and fields[f"{prefix}-{m.id}"].strip() != getattr(m, column)}
    return changed or None


def media_path(warta: Context, session: Session, person: Person, media_id: int,
               thumbnail: bool) -> tuple[Path, str]:
    """A stored file, if its item is one the person may see (else NotFound, so ids of
    other people's media cannot be probed)."""
    from workflow.errors import NotFound

    media = session.get(Media, media_id)
    if media is None or media.removed_at is not None:
        raise NotFound("no such media", media_id=media_id)
    item = session.get(Item, media.item_id)
    if item is None or not can_view(item, person):
        raise NotFound("no such media", media_id=media_id)
    if thumbnail and media.thumbnail_path:
        return warta.media.open_stored(media.thumbnail_path), "image/jpeg"
    return warta.media.open_stored(media.stored_path), media.mime


# --- the office ----------------------------------------------------------------------------


def require_figures(person: Person) -> None:
    """The office's figures are for the head, admins and the webmaster (the editors)."""
    if not person.roles & {Role.KEPALA, Role.ADMIN, Role.EDITOR}:
        raise NotAllowed("the dashboard is for the head, admins and the webmaster",
                         reason="role")


def dashboard(request: web.Request, session: Session, person: Person) -> dict[str, Any]:
    """The figures of the period as charts drawn in the page (server-side SVG)."""
    from web.charts import dashboard_values

    require_figures(person)
    return {"template": "dashboard.html",
            **dashboard_values(_context(request), session, person.language,
                               request.query.get("period", "month"))}


def people_page(request: web.Request, session: Session, person: Person) -> dict[str, Any]:
    from workflow import delegation, invitations
    from workflow.people import list_people

    if not person.has_role(Role.ADMIN):
        raise NotAllowed("people are managed by admins", reason="role")
    warta = _context(request)
    today = warta.local(warta.now()).date()
    return {"template": "people.html", "people": list_people(session),
            "invitations": invitations.open_invitations(session, warta.now()),
            "requests": invitations.pending_requests(session),
            "delegations": delegation.listed(session, today)}
