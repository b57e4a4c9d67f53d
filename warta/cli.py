"""The `warta` command: one entry point for the server's operator.

`warta [--config FILE] SUB-COMMAND ...`; the file defaults to $WARTA_CONFIG, then to
config.toml in the working directory, then to built-in defaults (SQLite in warta.db).
Exit codes: 0 done, 1 refused (the message says why), 2 bad configuration or usage.
What it prints comes from the catalogue (`cli.*`), in the office's language.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TextIO

from warta.render import describe_change, describe_person, format_item
from workflow import delegation, invitations, people
from workflow.calendar import Deadline
from workflow.catalogue.formats import DEFAULT_LANGUAGE, day_month_time
from workflow.catalogue.lookup import t_text
from workflow.config import ConfigError, Settings, load_settings
from workflow.context import Context
from workflow.errors import WorkflowError
from workflow.models import Delegation, Person, Status
from workflow.queries import get_item_unchecked, list_items

Handler = Callable[[Context, argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(config_path(args.config))
    except ConfigError as error:
        say(DEFAULT_LANGUAGE, "configuration_error", error=error, to=sys.stderr)
        return 2
    handler: Handler = args.handler
    context = Context(settings)
    language = settings.office.language
    try:
        return handler(context, args)
    except ConfigError as error:
        say(language, "configuration_error", error=error, to=sys.stderr)
        return 2
    except WorkflowError as error:
        say(language, "refused", error=error, to=sys.stderr)
        return 1
    finally:
        context.close()


def say(language: str, key: str, *, to: TextIO | None = None, **values: object) -> None:
    """Prints the catalogue's `cli.<key>` in `language` (to stdout unless `to`)."""
    print(t_text(f"cli.{key}", language, **values), file=to or sys.stdout)


def config_path(given: str | None) -> Path | None:
    if given:
        return Path(given)
    if os.environ.get("WARTA_CONFIG"):
        return Path(os.environ["WARTA_CONFIG"])
    default = Path("config.toml")
    return default if default.exists() else None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="warta", description=__doc__.splitlines()[0])
    parser.add_argument("--config", metavar="FILE", help="configuration file (TOML)")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    database = _group(commands, "db", "database schema")
    _command(database, "upgrade", "create or migrate the database to the current schema",
             cmd_db_upgrade)

    user = _group(commands, "user", "people and their roles")
    add = _command(user, "add", "register a person", cmd_user_add)
    add.add_argument("--telegram-id", type=int, required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--role", action="append", required=True,
                     help="petugas|editor|pejabat|admin|kepala; repeat or comma-separate")
    add.add_argument("--section", default="", help="bidang/bagian")
    add.add_argument("--language", default=None, help="id or en (default: office language)")
    _command(user, "list", "list people", cmd_user_list)
    set_role = _command(user, "set-role", "replace a person's roles", cmd_user_set_role)
    set_role.add_argument("--telegram-id", type=int, required=True)
    set_role.add_argument("--role", action="append", required=True)
    for name, active in (("deactivate", False), ("activate", True)):
        toggle = _command(user, name, f"{name} a person", cmd_user_active)
        toggle.add_argument("--telegram-id", type=int, required=True)
        toggle.set_defaults(active=active)

    invite = _command(commands, "invite", "make an invitation link for new people (they ask "
                      "to join from it; an admin approves in the bot)", cmd_invite)
    invite.add_argument("--role", action="append", required=True,
                        help="petugas|editor|pejabat|admin|kepala; repeat or comma-separate")
    invite.add_argument("--section", default="", help="bidang/bagian")
    invite.add_argument("--uses", type=int, default=1, help="how many people may use it")
    invite.add_argument("--valid", type=validity, default="7d", metavar="DURATION",
                        help="how long it may be used: 7d, 12h, 30m (default 7d)")
    invite.add_argument("--auto-approve", action="store_true",
                        help="let people in without an admin's approval")

    deputy = _command(commands, "delegate", "name an acting official (Plt/Plh) for a pejabat; "
                      "--list or --revoke N instead", cmd_delegate)
    deputy.add_argument("--for", dest="principal", type=int, metavar="TELEGRAM_ID",
                        help="the pejabat")
    deputy.add_argument("--to-person", dest="stand_in", type=int, metavar="TELEGRAM_ID",
                        help="who acts for them")
    deputy.add_argument("--from", dest="start", type=date.fromisoformat, metavar="YYYY-MM-DD")
    deputy.add_argument("--to", dest="end", type=date.fromisoformat, metavar="YYYY-MM-DD",
                        help="last day included")
    deputy.add_argument("--title", choices=["plt", "plh"], default="plt")
    deputy.add_argument("--list", action="store_true", help="running and future delegations")
    deputy.add_argument("--revoke", type=int, metavar="N", help="end delegation N now")

    _command(commands, "run", "run the Telegram bot (long polling, or webhook if configured)",
             cmd_run)

    publish = _command(commands, "publish", "publish approved items to the website",
                       cmd_publish)
    publish.add_argument("--once", action="store_true", required=True,
                         help="publish what is due now and exit (for cron and tests)")

    report = _command(commands, "report", "SOP report: items, time per stage, on-time rates",
                      cmd_report)
    report.add_argument("--from", dest="start", type=date.fromisoformat, metavar="YYYY-MM-DD")
    report.add_argument("--to", dest="end", type=date.fromisoformat, metavar="YYYY-MM-DD",
                        help="last day included")
    report.add_argument("--period", help="minggu, bulan, minggu-lalu, bulan-lalu or YYYY-MM")
    report.add_argument("--format", default="text", choices=["text", "csv", "xlsx", "png"])
    report.add_argument("--output", metavar="FILE", help="where to write (xlsx/png need one)")
    report.add_argument("--language", default=None, choices=["id", "en"])

    _command(commands, "demo", "play a whole office day locally (no token, no internet)",
             cmd_demo)
    _command(commands, "web", "serve the web pages alone ([web] listen), without the bot",
             cmd_web)

    _command(commands, "doctor", "check configuration, database, media, Telegram, website "
             "and calendar; one line per check", cmd_doctor)
    backup = _command(commands, "backup", "copy the database and the media into a new "
                      "directory (safe while the bot runs)", cmd_backup)
    backup.add_argument("directory", type=Path, metavar="DIR")
    restore = _command(commands, "restore", "restore a backup made by `warta backup` "
                       "(stop the bot first)", cmd_restore)
    restore.add_argument("directory", type=Path, metavar="DIR")
    restore.add_argument("--force", action="store_true",
                         help="replace a database that holds data and add to a non-empty "
                              "media directory")
    restore.add_argument("--verify-only", action="store_true",
                         help="check the backup against its manifest and stop")

    item = _group(commands, "item", "news items")
    listing = _command(item, "list", "list items", cmd_item_list)
    listing.add_argument("--state", choices=[s.value for s in Status], action="append")
    show = _command(item, "show", "show an item with its history", cmd_item_show)
    show.add_argument("item_id", type=int)
    return parser


def validity(text: str) -> timedelta:
    """`--valid 7d`: the deadlines' duration syntax, counted in plain clock time."""
    try:
        return Deadline.parse(text).amount
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _group(commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str,
           help_text: str) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    group = commands.add_parser(name, help=help_text)
    return group.add_subparsers(required=True, metavar="ACTION")


def _command(group: argparse._SubParsersAction[argparse.ArgumentParser], name: str,
             help_text: str, handler: Handler) -> argparse.ArgumentParser:
    command = group.add_parser(name, help=help_text, description=help_text)
    command.set_defaults(handler=handler)
    return command


# --- handlers ---------------------------------------------------------------------------


def cmd_run(context: Context, _args: argparse.Namespace) -> int:
    from warta.wiring import run
    from workflow.logs import setup_logging

    # One structured line per event, secrets redacted; httpx (whose request URLs hold the
    # token) stays at WARNING.
    setup_logging(context.settings)
    context.ensure_schema()
    run(context)
    return 0


def cmd_web(context: Context, _args: argparse.Namespace) -> int:
    import asyncio

    from web.server import serve_alone
    from workflow.logs import setup_logging

    if not context.settings.web.listen:
        print("warta: set [web] listen (e.g. \"0.0.0.0:8080\") to serve the pages",
              file=sys.stderr)
        return 2
    setup_logging(context.settings)
    context.ensure_schema()
    asyncio.run(serve_alone(context))
    return 0


def cmd_publish(context: Context, _args: argparse.Namespace) -> int:
    from publisher.worker import publish_once

    result = publish_once(context)
    say(context.settings.office.language, "published", result=result)
    return 0


def cmd_report(context: Context, args: argparse.Namespace) -> int:
    from workflow.reports.export import export
    from workflow.reports.statistics import build_report, period_for

    zone, language = context.zone, context.settings.office.language
    if args.start or args.end:
        if not (args.start and args.end) or args.end < args.start:
            say(language, "report_range", to=sys.stderr)
            return 2
        start = datetime.combine(args.start, time(), zone)
        end = datetime.combine(args.end + timedelta(days=1), time(), zone)
    else:
        try:
            start, end = period_for(args.period or "minggu", context.now(), zone)
        except ValueError as error:
            say(language, "refused", error=error, to=sys.stderr)
            return 2
    if args.format in ("xlsx", "png") and not args.output:
        say(language, "report_needs_output", format=args.format, to=sys.stderr)
        return 2
    with context.session() as session:
        report = build_report(session, start, end, context.calendar, context.settings.deadlines,
                              now=min(end, context.now()))
    result = export(report, args.format, args.output, args.language or language)
    if args.output is None:
        print(result)
    else:
        say(language, "written", path=result)
    return 0


def cmd_demo(_context: Context, _args: argparse.Namespace) -> int:
    from warta.demo import main as demo

    return demo()


def cmd_doctor(context: Context, _args: argparse.Namespace) -> int:
    from warta.doctor import doctor
    from workflow.logs import remove_logging, setup_logging

    handler = setup_logging(context.settings, level=logging.WARNING)
    try:
        failed = False
        for check in doctor(context.settings, context.now()):
            print(check.line(), flush=True)
            failed = failed or check.failed
    finally:
        remove_logging(handler)
    return 1 if failed else 0


def cmd_backup(context: Context, args: argparse.Namespace) -> int:
    from warta.backup import backup

    say(context.settings.office.language, "backup", directory=args.directory.resolve())
    backup(context.settings, args.directory, progress=lambda line: print(f"  {line}"))
    return 0


def cmd_restore(context: Context, args: argparse.Namespace) -> int:
    from warta.backup import restore, verify_backup

    language = context.settings.office.language
    if args.verify_only:
        manifest, problems = verify_backup(args.directory)
        for problem in problems:
            say(language, "verify_failed", problem=problem)
        if problems:
            return 1
        say(language, "verified", directory=args.directory.resolve(),
            database=manifest.database_kind, revision=manifest.alembic_revision,
            files=manifest.file_count, size=manifest.total_bytes, made=manifest.created_at)
        return 0
    context.close()  # the restore uses connections of its own
    say(language, "restore", directory=args.directory.resolve())
    restore(context.settings, args.directory, force=args.force,
            progress=lambda line: print(f"  {line}"))
    return 0


def cmd_db_upgrade(context: Context, _args: argparse.Namespace) -> int:
    context.upgrade()
    say(context.settings.office.language, "database_revision", revision=context.revision())
    return 0


def cmd_user_add(context: Context, args: argparse.Namespace) -> int:
    language = context.settings.office.language
    with context.session() as session:
        person = people.add_person(
            session, None, context.now(), telegram_id=args.telegram_id, name=args.name,
            roles=people.parse_roles(args.role), section=args.section,
            language=args.language or language, language_chosen=args.language is not None,
        )
        say(language, "person_added", person=describe_person(person, language))
    return 0


def cmd_invite(context: Context, args: argparse.Namespace) -> int:
    language = context.settings.office.language
    with context.session() as session:
        new = invitations.create_invitation(
            session, None, context.now(), roles=people.parse_roles(args.role),
            section=args.section, uses=args.uses, valid=args.valid,
            auto_approve=args.auto_approve)
    invitation = new.invitation
    section = t_text("section.suffix", language, section=invitation.section) \
        if invitation.section else ""
    facts = {"roles": ", ".join(invitation.roles), "section": section, "uses": args.uses,
             "until": day_month_time(invitation.expires_at, context.zone, language)}
    username = bot_username(context.settings)
    if username:
        say(language, "invite_link", link=invitations.invitation_link(username, new.token),
            **facts)
    else:
        say(language, "invite_token", token=new.token, **facts)
    return 0


def bot_username(settings: Settings) -> str:
    """The bot's @username: from the configuration, else from Telegram's getMe with the
    token; "" when neither is possible (no token, no network)."""
    if settings.telegram.bot_username:
        return settings.telegram.bot_username
    if not settings.telegram.token.strip():
        return ""
    import asyncio

    from telegram.error import TelegramError

    from warta.doctor import get_me

    try:
        return asyncio.run(get_me(settings)).username or ""
    except TelegramError:
        return ""


def cmd_user_list(context: Context, _args: argparse.Namespace) -> int:
    language = context.settings.office.language
    with context.session() as session:
        rows = people.list_people(session)
        if not rows:
            say(language, "no_people")
        for person in rows:
            print(describe_person(person, language))
    return 0


def cmd_user_set_role(context: Context, args: argparse.Namespace) -> int:
    with context.session() as session:
        change = people.change_roles(session, None, context.now(), args.telegram_id,
                                     exactly=people.parse_roles(args.role))
        _updated(context, change.person, describe_change(change))
    return 0


def cmd_user_active(context: Context, args: argparse.Namespace) -> int:
    with context.session() as session:
        person = people.set_active(session, None, context.now(), args.telegram_id,
                                   args.active)
        _updated(context, person)
    return 0


def _updated(context: Context, person: Person, change: str = "") -> None:
    language = context.settings.office.language
    say(language, "person_updated", person=describe_person(person, language) + change)


def cmd_delegate(context: Context, args: argparse.Namespace) -> int:
    language = context.settings.office.language
    now = context.now()
    with context.session() as session:
        if args.revoke:
            delegation.revoke(session, None, now, args.revoke)
            say(language, "delegation_revoked", number=args.revoke)
            return 0
        if args.list:
            listed = delegation.listed(session, now.date())
            if not listed:
                say(language, "no_delegations")
            for made in listed:
                _say_delegation(language, made)
            return 0
        if None in (args.principal, args.stand_in, args.start, args.end):
            say(language, "delegate_usage", to=sys.stderr)
            return 2
        made = delegation.delegate(
            session, None, now, now.date(), principal_telegram_id=args.principal,
            delegate_telegram_id=args.stand_in, starts_on=args.start, ends_on=args.end,
            title=delegation.Title(args.title.capitalize()))
        _say_delegation(language, made)
    return 0


def _say_delegation(language: str, made: Delegation) -> None:
    say(language, "delegation_saved", number=made.id, name=made.delegate.name,
        title=made.title, principal=made.principal.name,
        starts_on=made.starts_on.isoformat(), ends_on=made.ends_on.isoformat())


def cmd_item_list(context: Context, args: argparse.Namespace) -> int:
    with context.session() as session:
        items = list_items(session, [Status(s) for s in args.state or []])
        if not items:
            say(context.settings.office.language, "no_items")
        for item in items:
            title = item.title or item.description.split("\n", 1)[0][:60]
            print(f"#{item.id:<5} {item.state:<20} {item.officer.name:<24} {title}")
    return 0


def cmd_item_show(context: Context, args: argparse.Namespace) -> int:
    with context.session() as session:
        item = get_item_unchecked(session, args.item_id)
        print(format_item(session, item.id, context.settings.office.language))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


