"""What the benchmarks share: the environment line, spread, SQL counts per step, databases.

Statements are attributed to the step of the bot that ran them (intake, identity, action,
notifier, sweeper, publisher) through a context variable set by wrappers installed here, at
bench level only: the product code is not changed, its functions are wrapped for the run.
"""

from __future__ import annotations

import contextlib
import contextvars
import cProfile
import dataclasses
import functools
import io
import os
import platform
import pstats
import sqlite3
import statistics
import threading
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import Executor, Future
from importlib import metadata
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Engine, event, text

from bot import base, common, inbox, notifier, scheduler
from publisher import worker
from workflow import db

STEP: contextvars.ContextVar[str] = contextvars.ContextVar("bench_step", default="other")
# The steps an update goes through, in order; "other" is what no wrapper claimed.
UPDATE_STEPS = ("intake", "identity", "action", "notifier")
HARNESS = "harness"  # the benchmark's own queries, never counted as the bot's

Params = ParamSpec("Params")
Result = TypeVar("Result")


def step_order(name: str) -> tuple[int, str]:
    """Sorts the update's steps in their order, then the rest by name."""
    return (UPDATE_STEPS.index(name) if name in UPDATE_STEPS else len(UPDATE_STEPS), name)


@contextlib.contextmanager
def step(name: str) -> Iterator[None]:
    token = STEP.set(name)
    try:
        yield
    finally:
        STEP.reset(token)


def _sync_in(name: str, function: Callable[Params, Result]) -> Callable[Params, Result]:
    @functools.wraps(function)
    def wrapper(*args: Params.args, **kwargs: Params.kwargs) -> Result:
        with step(name):
            return function(*args, **kwargs)
    return wrapper


def _async_in(name: str, function: Callable[Params, Awaitable[Result]],
              ) -> Callable[Params, Awaitable[Result]]:
    @functools.wraps(function)
    async def wrapper(*args: Params.args, **kwargs: Params.kwargs) -> Result:
        with step(name):
            return await function(*args, **kwargs)
    return wrapper


# (owner, attribute, step, is async): owner is a class or a module. bot.app looks up
# common.identify and scheduler.sweep_job when the application is built, so the wrappers
# must be in place before build_application. A flush started from a handler copies the
# handler's context; its own wrapper names it "notifier" again.
_WRAPPED: tuple[tuple[Any, str, str, bool], ...] = (
    *((inbox.Inbox, name, "intake", False) for name in
      ("store", "next_offset", "pending", "start_attempt", "finish", "prune")),
    (inbox.Processor, "handle", "action", True),
    (common, "identify", "identity", True),
    (notifier.Notifier, "flush", "notifier", True),
    (scheduler, "sweep_job", "sweeper", True),
    (worker.PublishWorker, "run_once", "publisher", False),
)


@contextlib.contextmanager
def steps_attributed() -> Iterator[None]:
    """Wraps the bot's step functions so the statements they run carry their step's name."""
    originals = [(owner, name, getattr(owner, name)) for owner, name, _, _ in _WRAPPED]
    try:
        for owner, name, label, is_async in _WRAPPED:
            original = getattr(owner, name)
            setattr(owner, name, _async_in(label, original) if is_async
                    else _sync_in(label, original))
        yield
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


class ThreadProfiles(Executor):
    """cProfile of the work the bot runs in its database threads (bot.base.in_worker), which
    a sampling profiler of the event loop's thread does not see: each piece of work is
    profiled in its thread (one profile per thread, merged in `report`)."""

    def __init__(self, threads: Executor) -> None:
        self.threads = threads
        self.profiles: list[cProfile.Profile] = []
        self._local = threading.local()

    def submit(self, fn: Callable[..., Result], /, *args: Any,
               **kwargs: Any) -> Future[Result]:
        def profiled() -> Result:
            profile = getattr(self._local, "profile", None)
            if profile is None:
                profile = self._local.profile = cProfile.Profile()
                self.profiles.append(profile)
            profile.enable()
            try:
                return fn(*args, **kwargs)
            finally:
                profile.disable()
        return self.threads.submit(profiled)

    def report(self, top: int = 60) -> str:
        if not self.profiles:
            return "(no database work in threads)"
        out = io.StringIO()
        stats = pstats.Stats(self.profiles[0], stream=out)
        for other in self.profiles[1:]:
            stats.add(other)
        stats.sort_stats("cumulative").print_stats(top)
        return out.getvalue()


@contextlib.contextmanager
def database_threads_profiled() -> Iterator[list[ThreadProfiles]]:
    """Profiles the bot's database threads while in the block (bot.base looks its threads
    up through `_threads` at every call); yields the profilers, one per Context."""
    original = base._threads
    made: dict[int, ThreadProfiles] = {}

    def profiled(warta: Any) -> Executor:
        if id(warta) not in made:
            made[id(warta)] = ThreadProfiles(original(warta))
        return made[id(warta)]

    found: list[ThreadProfiles] = []
    base._threads = profiled
    try:
        yield found
    finally:
        base._threads = original
        found.extend(made.values())


class StatementCounter:
    """SQL statements (BEGIN and COMMIT included where the driver sends them) per step."""

    def __init__(self, engine: Engine, *, keep_text: bool = False) -> None:
        self.counts: Counter[str] = Counter()
        # With keep_text: how often each statement's opening words ran, per step.
        self.texts: Counter[tuple[str, str]] = Counter()
        self.keep_text = keep_text
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, _connection: object, _cursor: object, statement: str,
               *_: object) -> None:
        name = STEP.get()
        self.counts[name] += 1
        if self.keep_text:
            self.texts[name, " ".join(statement.split())[:90]] += 1

    def take(self) -> Counter[str]:
        """The counts so far (the harness's own left out), and a fresh start."""
        counts, self.counts = self.counts, Counter()
        del counts[HARNESS]
        for key in [key for key in self.texts if key[0] == HARNESS]:
            del self.texts[key]
        return counts


@dataclasses.dataclass(frozen=True)
class Spread:
    """The median of several runs with their range."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def show(self, digits: int = 0) -> str:
        if len(self.values) == 1:
            return f"{self.values[0]:.{digits}f}"
        return (f"{self.median:.{digits}f} ({min(self.values):.{digits}f}–"
                f"{max(self.values):.{digits}f})")


def spread(values: Sequence[float]) -> Spread:
    return Spread(tuple(values))


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (`share` in 0..1) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1]


# --------------------------------------------------------------------------- databases


def postgres_base_url() -> str:
    url = os.environ.get("WARTA_TEST_PG_URL", "")
    if not url:
        raise SystemExit("--database postgres needs WARTA_TEST_PG_URL "
                         "(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    return url


@contextlib.contextmanager
def database_url(kind: str, workdir: Path) -> Iterator[str]:
    """A fresh, empty database of `kind` ("sqlite" or "postgres") for one run: a file in
    `workdir`, or a private schema on WARTA_TEST_PG_URL dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    base = postgres_base_url()
    schema = f"warta_bench_{uuid.uuid4().hex[:10]}"
    admin = db.make_engine(base)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        separator = "&" if "?" in base else "?"
        yield f"{base}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def _postgres_version() -> str:
    url = os.environ.get("WARTA_TEST_PG_URL", "")
    if not url:
        return "not configured"
    engine = db.make_engine(url)
    try:
        with engine.connect() as connection:
            return str(connection.execute(text("SHOW server_version")).scalar())
    except Exception as error:  # the figure is informative; an absent server is no failure
        return f"unreachable ({type(error).__name__})"
    finally:
        engine.dispose()


def load_now() -> str:
    """The 1-minute load average: other work on a shared machine moves every figure."""
    return f"load {os.getloadavg()[0]:.1f}"


def environment() -> str:
    """One line saying what the figures were measured on (the machine is shared: the load
    average says how busy it was)."""
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    return (f"env: {os.cpu_count()} CPUs ({usable} usable), load {load} · "
            f"Python {platform.python_version()} · SQLite {sqlite3.sqlite_version} · "
            f"PostgreSQL {_postgres_version()} · SQLAlchemy {metadata.version('sqlalchemy')} "
            f"· python-telegram-bot {metadata.version('python-telegram-bot')}")
