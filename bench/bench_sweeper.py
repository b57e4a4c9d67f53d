"""Deadline sweeper benchmark: sweep time at 10,000 and 1,000,000 items, 100 overdue.

Run by hand::

    .venv/bin/python -m bench.bench_sweeper [--sizes 10000,1000000] [--runs 7]
        [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]   # or WARTA_TEST_PG_URL

For each database (SQLite in a temporary file; PostgreSQL in a private schema that is
dropped afterwards) and each size, the script bulk-loads the tables directly (not through
the workflow: executemany on SQLite, COPY on PostgreSQL):

* N items with one stage deadline each: 90% published (deadline closed), 10% - 100
  waiting for a claim with the deadline still ahead (open, not due), and 100 waiting for a
  claim since 09:00 with the deadline passed at 12:00 (open, overdue);
* a small office (officer, editors, officials, a kepala) for the recipients.

`now` is Wednesday 2026-11-25 14:00 WIB: the 100 are due an alert (2 outbox rows each:
the IT team and the webmaster) and not yet a reminder (15:00). Two figures per size:

* **first sweep**: finds the 100, writes 100 alerts (200 outbox rows), sets the markers;
  measured `--runs` times, undoing the markers and rows between runs (median shown);
* **steady sweep**: the every-minute case once the alerts are out: it still reads the 100
  overdue rows and checks their reminder time, and writes nothing.

It prints the candidate query's plan (EXPLAIN QUERY PLAN on SQLite, EXPLAIN ANALYZE on
PostgreSQL) to show that the partial index ``ix_stage_deadlines_pending`` is used and only
the overdue rows are read. Nothing here asserts timings.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, event, text, update
from sqlalchemy.orm import Session

from workflow import db
from workflow.config import AlertSettings, Settings, working_calendar
from workflow.models import OutboxMessage, Role, StageDeadline
from workflow.people import add_person
from workflow.sweeper import SweepResult, sweep

NOW = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)  # 14:00 WIB
OVERDUE = 100
CALENDAR = working_calendar(Settings())
ALERTS = AlertSettings()

# Naive UTC, as the UtcDateTime column stores it.
STARTED_LATE = datetime(2026, 11, 25, 2, 0)  # 09:00 WIB
DUE_LATE = datetime(2026, 11, 25, 5, 0)  # 12:00 WIB
STARTED_AHEAD = datetime(2026, 11, 25, 6, 30)  # 13:30 WIB
DUE_AHEAD = datetime(2026, 11, 25, 9, 0)  # 16:00 WIB (3 working hours later is Thu)
PAST = datetime(2026, 10, 1, 2, 0)


def rows(size: int, officer_id: int) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...]]]:
    """(item row, deadline row) for item ids 1..size; the last OVERDUE are overdue."""
    ahead_until = size - OVERDUE
    published_until = int(size * 0.9)
    for item_id in range(1, size + 1):
        if item_id > ahead_until:
            state, started, due, closed = "submitted", STARTED_LATE, DUE_LATE, None
        elif item_id > published_until:
            state, started, due, closed = "submitted", STARTED_AHEAD, DUE_AHEAD, None
        else:
            state, started, due, closed = "published", PAST, PAST + timedelta(hours=3), (
                PAST + timedelta(hours=1))
        item = (item_id, state, 1, officer_id, f"Berita {item_id}", "", "", "Bidang Sosial",
                "", "[]", "", "", "", started, started)
        deadline = (item_id, item_id, "approved" if state == "published" else "submitted",
                    started, due, closed)
        yield item, deadline


ITEM_COLUMNS = ("id", "state", "version", "officer_id", "description", "title", "body",
                "section", "category", "tags", "last_note", "remote_id", "remote_url",
                "created_at", "updated_at")
DEADLINE_COLUMNS = ("id", "item_id", "stage", "started_at", "due_at", "closed_at")


def seed_people(engine: Engine) -> int:
    with db.session_factory(engine)() as session:
        def person(telegram_id: int, name: str, *roles: Role) -> int:
            return add_person(session, None, NOW, telegram_id=telegram_id, name=name,
                              roles=roles, section="Bidang Sosial").id

        officer = person(1, "Petugas", Role.PETUGAS)
        person(2, "Editor", Role.EDITOR)
        person(3, "Pejabat", Role.PEJABAT)
        person(4, "Kepala", Role.KEPALA, Role.PEJABAT)
        return officer


def load_sqlite(engine: Engine, size: int, officer_id: int) -> None:
    stamp = "%Y-%m-%d %H:%M:%S.%f"

    def fmt(value: Any) -> Any:
        return value.strftime(stamp) if isinstance(value, datetime) else value

    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("BEGIN")
        batch_items: list[tuple[Any, ...]] = []
        batch_deadlines: list[tuple[Any, ...]] = []
        item_sql = (f"INSERT INTO items ({', '.join(ITEM_COLUMNS)}) "
                    f"VALUES ({', '.join('?' * len(ITEM_COLUMNS))})")
        deadline_sql = (f"INSERT INTO stage_deadlines ({', '.join(DEADLINE_COLUMNS)}) "
                        f"VALUES ({', '.join('?' * len(DEADLINE_COLUMNS))})")
        for item, deadline in rows(size, officer_id):
            batch_items.append(tuple(fmt(v) for v in item))
            batch_deadlines.append(tuple(fmt(v) for v in deadline))
            if len(batch_items) >= 50_000:
                cursor.executemany(item_sql, batch_items)
                cursor.executemany(deadline_sql, batch_deadlines)
                batch_items, batch_deadlines = [], []
        if batch_items:
            cursor.executemany(item_sql, batch_items)
            cursor.executemany(deadline_sql, batch_deadlines)
        cursor.execute("COMMIT")
        cursor.close()
    finally:
        raw.close()


def load_postgres(engine: Engine, size: int, officer_id: int) -> None:
    raw = engine.raw_connection()
    try:
        driver: Any = raw.driver_connection
        with driver.cursor() as cursor:
            with cursor.copy(f"COPY items ({', '.join(ITEM_COLUMNS)}) FROM STDIN") as copy:
                for item, _ in rows(size, officer_id):
                    copy.write_row(item)
            with cursor.copy(
                f"COPY stage_deadlines ({', '.join(DEADLINE_COLUMNS)}) FROM STDIN"
            ) as copy:
                for _, deadline in rows(size, officer_id):
                    copy.write_row(deadline)
            for table in ("items", "stage_deadlines"):
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {size})")
        driver.commit()
        with driver.cursor() as cursor:
            driver.autocommit = True
            # What autovacuum would soon do after a bulk load; done now so that it does
            # not run during the timings.
            cursor.execute("VACUUM (ANALYZE) items")
            cursor.execute("VACUUM (ANALYZE) stage_deadlines")
    finally:
        raw.close()


def reset(session: Session, size: int) -> None:
    """Undo a first sweep: markers back to NULL (by primary key: a scan of the whole
    table here would leave work for autovacuum that disturbs the next timing), its outbox
    rows gone."""
    with session.begin():
        session.execute(update(StageDeadline).where(StageDeadline.id > size - OVERDUE)
                        .values(alerted_at=None))
        session.execute(delete(OutboxMessage).where(OutboxMessage.template.like("deadline.%")))


def timed(session: Session) -> tuple[float, SweepResult]:
    started = time.perf_counter()
    result = sweep(session, NOW, ALERTS, CALENDAR)
    return (time.perf_counter() - started) * 1000, result


def capture_candidate_query(engine: Engine, session: Session) -> tuple[str, Any]:
    seen: list[tuple[str, Any]] = []

    def listener(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM stage_deadlines" in statement and "due_at <=" in statement and not seen:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        sweep(session, NOW, ALERTS, CALENDAR)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return seen[0]


def explain(engine: Engine, statement: str, parameters: Any) -> str:
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            return "\n".join(f"  {row[-1]}" for row in plan)
        plan = connection.exec_driver_sql(
            f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {statement}", parameters)
        return "\n".join(f"  {row[0]}" for row in plan)


def measure(engine: Engine, size: int, runs: int, loader: Any) -> dict[str, float]:
    db.upgrade(engine)
    officer = seed_people(engine)
    started = time.perf_counter()
    loader(engine, size, officer)
    build = time.perf_counter() - started
    with db.session_factory(engine)() as session:
        first: list[float] = []
        for _ in range(runs):
            reset(session, size)
            ms, result = timed(session)
            assert (result.alerts, result.rows) == (OVERDUE, 2 * OVERDUE), result
            first.append(ms)
        steady: list[float] = []
        for _ in range(runs):
            ms, result = timed(session)
            assert result == SweepResult(), result
            steady.append(ms)
        reset(session, size)
        statement, parameters = capture_candidate_query(engine, session)
    plan = explain(engine, statement, parameters)
    print(f"\n[{engine.dialect.name}] {size:,} items ({OVERDUE} overdue), "
          f"built in {build:.1f} s")
    print(f"  first sweep (100 alerts, 200 outbox rows): median "
          f"{statistics.median(first):.1f} ms  (min {min(first):.1f}, max {max(first):.1f})")
    print(f"  steady sweep (nothing new to send):        median "
          f"{statistics.median(steady):.1f} ms  (min {min(steady):.1f}, max {max(steady):.1f})")
    print("  candidate query plan:")
    print(plan)
    sys.stdout.flush()
    return {"first": statistics.median(first), "steady": statistics.median(steady)}


def run_sqlite(sizes: list[int], runs: int) -> dict[int, dict[str, float]]:
    results = {}
    with tempfile.TemporaryDirectory(prefix="warta-bench-") as folder:
        for size in sizes:
            path = Path(folder) / f"sweep-{size}.db"
            engine = db.make_engine(f"sqlite:///{path}")
            try:
                results[size] = measure(engine, size, runs, load_sqlite)
            finally:
                engine.dispose()
    return results


def run_postgres(base: str, sizes: list[int], runs: int) -> dict[int, dict[str, float]]:
    results = {}
    admin = db.make_engine(base)
    for size in sizes:
        schema = f"warta_bench_{uuid.uuid4().hex[:10]}"
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        separator = "&" if "?" in base else "?"
        engine = db.make_engine(f"{base}{separator}options=-csearch_path%3D{schema}")
        try:
            results[size] = measure(engine, size, runs, load_postgres)
        finally:
            engine.dispose()
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()
    return results


def summary(name: str, results: dict[int, dict[str, float]]) -> None:
    sizes = sorted(results)
    if len(sizes) < 2:
        return
    small, large = results[sizes[0]], results[sizes[-1]]
    for kind in ("first", "steady"):
        print(f"[{name}] {kind}: {small[kind]:.1f} ms at {sizes[0]:,} -> {large[kind]:.1f} ms "
              f"at {sizes[-1]:,}: ratio {large[kind] / small[kind]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--pg", default=os.environ.get("WARTA_TEST_PG_URL", ""))
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if not args.skip_sqlite:
        summary("sqlite", run_sqlite(sizes, args.runs))
    if args.pg:
        summary("postgresql", run_postgres(args.pg, sizes, args.runs))
    else:
        print("\n(no PostgreSQL: pass --pg URL or set WARTA_TEST_PG_URL)")


if __name__ == "__main__":
    main()
