"""Helpers that drive items through the SOP for tests."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from workflow.actions import Edit, NewMedia, Workflow
from workflow.config import ChecklistSettings
from workflow.models import Item, MediaKind, Person, Status

# The harnesses' checklist: their sample items (no cover, a line of body) pass it, so
# tests about other things forward them; tests/test_bot_checklist.py checks the rules.
HARNESS_CHECKLIST = ChecklistSettings(cover_photo=False, min_body_words=0, max_title_chars=0,
                                      activity_date=False, section=False, category=False,
                                      photo_alt_text=False)



def harness_checklist_toml() -> str:
    """HARNESS_CHECKLIST as the `[checklist]` table of a config file written by a test."""
    lines = [f"{name} = {str(value).lower()}"
             for name, value in dataclasses.asdict(HARNESS_CHECKLIST).items()]
    return "[checklist]\n" + "\n".join(lines) + "\n"


PHOTO = NewMedia(kind=MediaKind.PHOTO, sha256="a" * 64, stored_path="aa/a.jpg",
                 mime="image/jpeg", size=1000, width=800, height=600)
REASSIGNED_TO = 2002  # the second editor of tests.conftest's office


def perform(wf: Workflow, session: Session, action: str, actor: Person | None, item_id: int,
            now: datetime) -> Item:
    """Takes `action` with plausible arguments, as the bot or publisher would."""
    calls = {
        "update_draft": lambda: wf.update_draft(session, actor, item_id, now, append_text="lagi"),
        "submit": lambda: wf.submit(session, actor, item_id, now),
        "cancel": lambda: wf.cancel(session, actor, item_id, now),
        "claim": lambda: wf.claim(session, actor, item_id, now),
        "edit": lambda: wf.edit(session, actor, item_id, now, Edit(title="Judul baru")),
        "forward": lambda: wf.forward(session, actor, item_id, now),
        "return_to_officer": lambda: wf.return_to_officer(session, actor, item_id, now,
                                                          "Fotonya kurang"),
        "approve": lambda: wf.approve(session, actor, item_id, now),
        "reject": lambda: wf.reject(session, actor, item_id, now, "Tidak layak tayang"),
        "request_revision": lambda: wf.request_revision(session, actor, item_id, now,
                                                        "Perbaiki judul"),
        "mark_published": lambda: wf.mark_published(session, item_id, now, remote_id="7",
                                                     url="https://example.go.id/berita-7"),
        "mark_publish_failed": lambda: wf.mark_publish_failed(session, item_id, now,
                                                              "situs mati"),
        "retry_publish": lambda: wf.retry_publish(session, actor, item_id, now),
        "open_correction": lambda: wf.open_correction(session, actor, item_id, now,
                                                      "Nama desa salah"),
        "take_down": lambda: wf.take_down(session, actor, item_id, now, "Data belum boleh tayang"),
        "mark_withdrawn": lambda: wf.mark_withdrawn(session, item_id, now),
        "release": lambda: wf.release(session, actor, item_id, now),
        "reassign": lambda: wf.reassign(session, actor, item_id, now,
                                        to_telegram_id=REASSIGNED_TO),
    }
    return calls[action]()  # type: ignore[no-untyped-call, arg-type]


def item_in(wf: Workflow, session: Session, office: Any, state: Status,
            now: datetime) -> Item:
    """A fresh item of `office.officer`, driven to `state` by the right people."""
    o = office
    item = wf.create_draft(session, o.officer, now, description="Kegiatan posyandu di desa")
    wf.add_media(session, o.officer, item.id, now, PHOTO)
    path = {
        Status.DRAFT: [],
        Status.CANCELLED: [("cancel", o.officer)],
        Status.SUBMITTED: [("submit", o.officer)],
        Status.IN_EDITING: [("submit", o.officer), ("claim", o.editor), ("edit", o.editor)],
        Status.RETURNED_TO_OFFICER: [("submit", o.officer), ("claim", o.editor),
                                     ("return_to_officer", o.editor)],
        Status.AWAITING_APPROVAL: [("submit", o.officer), ("claim", o.editor),
                                   ("edit", o.editor), ("forward", o.editor)],
    }
    decided = path[Status.AWAITING_APPROVAL]
    path[Status.APPROVED] = [*decided, ("approve", o.official)]
    path[Status.REJECTED] = [*decided, ("reject", o.official)]
    path[Status.PUBLISHED] = [*path[Status.APPROVED], ("mark_published", None)]
    path[Status.PUBLISH_FAILED] = [*path[Status.APPROVED], ("mark_publish_failed", None)]
    path[Status.WITHDRAWING] = [*path[Status.PUBLISHED], ("take_down", o.official)]
    path[Status.WITHDRAWN] = [*path[Status.WITHDRAWING], ("mark_withdrawn", None)]
    for action, actor in path[state]:
        item = perform(wf, session, action, actor, item.id, now)
    assert item.status is state
    return item
