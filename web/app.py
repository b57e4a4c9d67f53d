"""The web server: routes, sign-in (login link or Mini App initData), and the pages' answers.

Each handler is thin, like the bot's: who is asking (read from the database at every
request), one workflow call, a rendered page. Refusals are pages in the person's
language with a 4xx status that change nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import mimetypes
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from sqlalchemy.orm import Session

from web import views
from web.charts import period_report
from web.initdata import InitDataRefused, validate
from web.security import (
    SESSION_COOKIE,
    clear_session_cookie,
    csrf_ok,
    csrf_token,
    security_headers,
    set_session_cookie,
)
from workflow import logins
from workflow.actions import Edit
from workflow.catalogue.formats import day_month_time
from workflow.catalogue.lookup import MESSAGES, t_text
from workflow.catalogue.refusals import refusal_text
from workflow.context import Context
from workflow.errors import (
    Conflict,
    NotAllowed,
    NotFound,
    WorkflowError,
    WrongState,
)
from workflow.models import Person, Role
from workflow.people import find_by_telegram_id, telegram_language
from workflow.queries import get_item
from workflow.reports.export import export
from workflow.reports.statistics import Report
from workflow.transitions import TRANSITIONS

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
MAX_FORM_BYTES = 64 * 1024  # a title and a body; media never come in through the web
CONTEXT = web.AppKey("warta", Context)
BOT_TOKEN = web.AppKey("bot_token", str)
SECRET = web.AppKey("secret", bytes)
TEMPLATES = web.AppKey("templates", jinja2.Environment)


class Refusal(Exception):
    """A page that says no: its status, the message key and the message's values."""

    def __init__(self, status: int, key: str, **values: object) -> None:
        super().__init__(key)
        self.status, self.key, self.values = status, key, values


def make_app(warta: Context, bot_token: str) -> web.Application:
    app = web.Application(client_max_size=MAX_FORM_BYTES, middlewares=[security_headers])
    app[CONTEXT] = warta
    app[BOT_TOKEN] = bot_token
    app[SECRET] = hashlib.sha256(b"warta web:" + bot_token.encode()).digest()
    app[TEMPLATES] = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
        undefined=jinja2.StrictUndefined)
    app.router.add_get("/login/{token}", login)
    app.router.add_get("/app", mini_app)
    app.router.add_post("/miniapp", mini_app_session)
    app.router.add_post("/logout", logout)
    app.router.add_get("/", page(views.board))
    app.router.add_get("/items/{item_id:\\d+}", page(views.item_page))
    app.router.add_get("/items/{item_id:\\d+}/preview", page(views.preview))
    app.router.add_get("/items/{item_id:\\d+}/history", page(views.history_page))
    app.router.add_post("/items/{item_id:\\d+}/save", form(save))
    app.router.add_post("/items/{item_id:\\d+}/act", form(act))
    app.router.add_get("/media/{media_id:\\d+}", media_file)
    app.router.add_get("/dashboard", page(views.dashboard))
    app.router.add_get("/dashboard.{format:xlsx|csv}", dashboard_download)
    app.router.add_get("/people", page(views.people_page))
    app.router.add_static("/static", HERE / "static", show_index=False)
    return app


# --- who is asking -------------------------------------------------------------------------


def _signed_in(request: web.Request, session: Session) -> Person:
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        raise Refusal(401, "web.sign_in_first")
    try:
        return logins.current_person(session, token, request.app[CONTEXT].now())
    except logins.LoginRefused:
        raise Refusal(401, "web.session_over") from None


def _language(request: web.Request, person: Person | None) -> str:
    return person.language if person else request.app[CONTEXT].settings.office.language


def _render(request: web.Request, person: Person | None, template: str, status: int = 200,
            **values: Any) -> web.Response:
    lang = _language(request, person)

    zone = request.app[CONTEXT].zone

    def text(key: str, **fill: object) -> str:
        return t_text(key, lang, **fill)

    def when(moment: datetime) -> str:
        return day_month_time(moment, zone, lang)

    def done(action: str) -> str:
        """An audit row's action as the bot's /riwayat names it."""
        key = f"done.{action.removeprefix('workflow.')}"
        return t_text(key, lang) if key in MESSAGES[lang] else action

    token = request.cookies.get(SESSION_COOKIE, "")
    html = request.app[TEMPLATES].get_template(template).render(
        t=text, when=when, done=done, lang=lang, me=person,
        csrf=csrf_token(request.app[SECRET], token) if token else "", **values)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def _refusal_page(request: web.Request, person: Person | None, refusal: Refusal
                  ) -> web.Response:
    """The refusal in the person's language, its moments in the office's time."""
    lang, zone = _language(request, person), request.app[CONTEXT].zone
    values = {name: _shown(value, zone, lang) for name, value in refusal.values.items()}
    error = values.pop("error", None)
    if isinstance(error, WorkflowError):
        values["reason"] = refusal_text(error, lang, zone)
    return _render(request, person, "refused.html", status=refusal.status,
                   message=t_text(refusal.key, lang, **values))


def _shown(value: object, zone: tzinfo, lang: str) -> object:
    """A refusal's value as the person reads it: moments in office time, states named."""
    if isinstance(value, datetime):
        return day_month_time(value, zone, lang)
    if isinstance(value, str) and value.startswith("state.") and value in MESSAGES[lang]:
        return t_text(value, lang)
    return value


# The page's status for each kind of refusal; its sentence is the bot's (refusal_text).
REFUSAL_STATUS: tuple[tuple[type[WorkflowError], int], ...] = (
    (Conflict, 409), (WrongState, 409), (NotFound, 404), (NotAllowed, 403),
)


def _refusal_for(error: WorkflowError) -> Refusal:
    """The workflow's refusal as a page: the same sentence the bot answers with."""
    status = next((code for kind, code in REFUSAL_STATUS if isinstance(error, kind)), 400)
    return Refusal(status, "web.refused_by_workflow", error=error)


View = Callable[[web.Request, Session, Person], dict[str, Any]]


def page(view: View) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A GET page: the signed-in person, the view's values, its template."""
    async def handler(request: web.Request) -> web.StreamResponse:
        warta = request.app[CONTEXT]
        with warta.session() as session:
            person: Person | None = None
            try:
                person = _signed_in(request, session)
                values = view(request, session, person)
            except Refusal as refusal:
                return _refusal_page(request, person, refusal)
            except WorkflowError as error:
                return _refusal_page(request, person, _refusal_for(error))
            return _render(request, person, values.pop("template"), **values)
    return handler


Action = Callable[[web.Request, Session, Person, dict[str, str]], str]


def form(action: Action) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A POST: signed in, CSRF checked, the item's version as the page showed it; one
    workflow call, then back to the item's page."""
    async def handler(request: web.Request) -> web.StreamResponse:
        warta = request.app[CONTEXT]
        try:
            fields = {key: str(value) for key, value in (await request.post()).items()}
        except (ValueError, web.HTTPRequestEntityTooLarge):
            with warta.session() as session:
                return _refusal_page(request, None, Refusal(413, "web.too_large"))
        with warta.session() as session:
            person: Person | None = None
            try:
                person = _signed_in(request, session)
                token = request.cookies.get(SESSION_COOKIE, "")
                if not csrf_ok(request.app[SECRET], token, fields.get("csrf", "")):
                    raise Refusal(403, "web.csrf")
                item_id = int(request.match_info["item_id"])
                views.require_unchanged(session, item_id, person, fields.get("version", ""))
                target = action(request, session, person, fields)
            except Refusal as refusal:
                return _refusal_page(request, person, refusal)
            except WorkflowError as error:
                return _refusal_page(request, person, _refusal_for(error))
        raise web.HTTPSeeOther(target)
    return handler


# --- sign-in ---------------------------------------------------------------------------------


async def login(request: web.Request) -> web.StreamResponse:
    """A one-time link from /web: start a session and go to the board."""
    warta = request.app[CONTEXT]
    with warta.session() as session:
        try:
            signed = logins.sign_in(session, request.match_info["token"], warta.now())
        except logins.LoginRefused as refused:
            return _refusal_page(request, None, Refusal(401, f"web.link_{refused.reason}"))
    response = web.HTTPSeeOther("/")
    set_session_cookie(response, signed.session_token, secure=request.secure)
    raise response


async def mini_app(request: web.Request) -> web.StreamResponse:
    """The page Telegram opens: its script hands the initData to /miniapp."""
    return _render(request, None, "miniapp.html")


async def mini_app_session(request: web.Request) -> web.StreamResponse:
    """initData in, a session cookie and where to go out; forged or old data gets 401."""
    warta = request.app[CONTEXT]
    fields = await request.post()
    max_age = timedelta(seconds=warta.settings.web.init_data_max_age_seconds)
    try:
        user = validate(str(fields.get("init_data", "")), request.app[BOT_TOKEN],
                        warta.now(), max_age)
    except InitDataRefused as refused:
        log.info("mini app: initData refused (%s)", refused.reason)
        return web.json_response({"error": t_text("web.init_data_refused",
                                                  warta.settings.office.language)}, status=401)
    with warta.session() as session:
        person = find_by_telegram_id(session, user.telegram_id)
        if person is None or not person.active:
            lang = telegram_language(user.language_code) or warta.settings.office.language
            return web.json_response({"error": t_text("web.not_registered", lang)},
                                     status=403)
        token = logins.issue_link(session, person, warta.now())
        signed = logins.sign_in(session, token, warta.now())
    target = views.start_target(user.start_param or str(fields.get("start", "")))
    response = web.json_response({"next": target})
    set_session_cookie(response, signed.session_token, secure=True, embedded=True)
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    warta = request.app[CONTEXT]
    token = request.cookies.get(SESSION_COOKIE, "")
    fields = await request.post()
    if token and csrf_ok(request.app[SECRET], token, str(fields.get("csrf", ""))):
        with warta.session() as session:
            logins.sign_out(session, token, warta.now())
    response = web.HTTPSeeOther("/")
    clear_session_cookie(response)
    raise response


# --- changes -------------------------------------------------------------------------------


def save(request: web.Request, session: Session, person: Person, fields: dict[str, str]) -> str:
    """Simpan: the editor's title, body, cover, order and removals, as one workflow edit."""
    warta = request.app[CONTEXT]
    item_id = int(request.match_info["item_id"])
    item = get_item(session, item_id, person)
    changes = views.edit_from_form(item, fields, warta.zone)
    session.rollback()
    warta.workflow.edit(session, person, item_id, warta.now(), changes)
    return f"/items/{item_id}?saved=1"


def act(request: web.Request, session: Session, person: Person, fields: dict[str, str]) -> str:
    """A step of the SOP from the page's buttons: the same calls, rules and errors as the
    bot's buttons."""
    warta = request.app[CONTEXT]
    item_id = int(request.match_info["item_id"])
    name = fields.get("action", "")
    action = next((a for a in views.BUTTONS if a.value == name), None)
    if action is None:
        raise Refusal(400, "web.refused", detail=name[:40])
    session.rollback()
    step = getattr(warta.workflow, action.value)
    if TRANSITIONS[action].needs_note:
        step(session, person, item_id, warta.now(), fields.get("note", ""))
    else:
        step(session, person, item_id, warta.now())
    return f"/items/{item_id}"


async def media_file(request: web.Request) -> web.StreamResponse:
    """A photo or file of an item, to people who may see that item; nobody else."""
    warta = request.app[CONTEXT]
    with warta.session() as session:
        person: Person | None = None
        try:
            person = _signed_in(request, session)
            path, mime = views.media_path(warta, session, person,
                                          int(request.match_info["media_id"]),
                                          thumbnail=request.query.get("size") == "thumb")
        except Refusal as refusal:
            return _refusal_page(request, person, refusal)
        except WorkflowError as error:
            return _refusal_page(request, person, _refusal_for(error))
    response = web.FileResponse(path, headers={
        "Content-Type": mime or mimetypes.guess_type(path.name)[0] or "application/octet-stream",
        "Cache-Control": "private, max-age=3600",
    })
    return response


DOWNLOAD_TYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


async def dashboard_download(request: web.Request) -> web.StreamResponse:
    """The dashboard's period as the /laporan workbook or CSV, in the person's language."""
    warta = request.app[CONTEXT]
    fmt = request.match_info["format"]
    with warta.session() as session:
        person: Person | None = None
        try:
            person = _signed_in(request, session)
            views.require_figures(person)
            report = period_report(warta, session, request.query.get("period", "month"))
        except Refusal as refusal:
            return _refusal_page(request, person, refusal)
        except WorkflowError as error:
            return _refusal_page(request, person, _refusal_for(error))
        lang = person.language
    body = await asyncio.to_thread(_exported, report, fmt, lang)
    name = f"laporan-{warta.local(report.start):%Y-%m-%d}.{fmt}"
    return web.Response(body=body, headers={
        "Content-Type": DOWNLOAD_TYPES[fmt],
        "Content-Disposition": f'attachment; filename="{name}"'})


def _exported(report: Report, fmt: str, lang: str) -> bytes:
    if fmt == "csv":
        return str(export(report, "csv", None, lang)).encode("utf-8")
    path = Path(export(report, fmt, None, lang))
    try:
        return path.read_bytes()
    finally:
        path.unlink(missing_ok=True)


__all__ = ["Edit", "Role", "make_app"]
