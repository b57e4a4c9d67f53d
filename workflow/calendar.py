"""Working-time calendar: office hours, weekends and Indonesian holidays (SPEC §4).

Pure domain code (no database, no Telegram, no clock reads): every function takes the
moments it works on as arguments, so callers and tests pin time explicitly.

Model
-----
* The office has a time zone (default ``Asia/Jakarta``, WIB) and, per weekday, a list of
  half-open opening intervals ``[start, end)`` in wall-clock time (a lunch break is two
  intervals).  An interval ending at ``00:00`` (written ``24:00`` in settings) runs until
  midnight.  Default: Mon–Thu 07:30–16:00, Fri 07:30–16:30, Sat/Sun closed.
* A date is closed when it is a national holiday from the ``holidays`` package, a
  *cuti bersama* day (see below) or an extra closed date from the configuration.
  Extra *working* dates from the configuration win over all of these: they open a
  Saturday that is worked, or a holiday/cuti bersama day on which the office does work
  (also the way to correct an *estimated* Islamic holiday that the government fixed on
  another day).  An extra working date uses its weekday's own hours, or, when that
  weekday has none (a Saturday), ``extra_working_day_hours`` (default: the first weekday
  with hours, i.e. Monday's).

Holidays decision
-----------------
``holidays.country_holidays("ID")`` with the default category ("public") returns only the
*hari libur nasional* (e.g. 2026: Idul Fitri 21–22 March, Nyepi 19 March, 17 August…),
and no observed/substitute days apart from two historical special cases (Indonesia has no
general "observed" rule).  *Cuti bersama* (collective leave for civil servants, e.g.
2026-03-20, 03-23 and 03-24 around Idul Fitri) is only in the "government" category, which
the library knows for 2002–2027.  Warta serves a district office staffed by ASN, whose
offices close on cuti bersama, so **cuti bersama counts as closed by default**
(``include_cuti_bersama=True``); offices that keep working set it to False or list the
dates as extra working days.  Years after the library's data (cuti bersama is decided
yearly by an SKB of three ministers) must be added through ``extra_holidays``.
Observed days are kept (``observed=True``, the library default).

Durations
---------
* ``add_working_time(start, 0)`` returns ``start`` itself when the office is open at
  ``start``, otherwise the next opening (so the result is always a moment from which
  working time runs, and ``working_time_between(start, result) == 0``).  A positive
  duration that ends exactly at closing time returns the closing moment, not the next
  morning.
* "1 working day" (SOP "1 hari", the ``"1d"`` of the deadline settings) means **the same
  wall-clock time on the next working day**, counted from the first working moment at or
  after the start: a draft opened Tuesday 10:00 is due Wednesday 10:00, one opened Friday
  10:00 is due Monday 10:00, one opened Saturday is due Tuesday 07:30.  When that clock
  time is not inside the target day's hours (shorter day, lunch break) the deadline is
  the last working moment of that day before it, e.g. Friday 16:20 + 1 day → Monday
  16:00.  It is *not* a fixed 8 or 24 hours: use ``Deadline(timedelta(hours=8.5))`` for
  that.  See ``add_working_days``.
* Arithmetic is done on UTC instants, so offices in zones with daylight saving time work
  too.  (Python compares aware datetimes that share a tzinfo by wall clock, ignoring
  ``fold``; callers in a DST zone should compare ``.astimezone(UTC)`` values.  WIB, WITA
  and WIT have no DST.)
* Searches never look further than ``MAX_SEARCH_DAYS`` (about three years) ahead and raise
  ``WorkingTimeLimitError`` instead, which also catches a calendar with no opening at all.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from typing import Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

__all__ = [
    "DEFAULT_TIMEZONE",
    "MAX_SEARCH_DAYS",
    "WEEKDAY_KEYS",
    "Deadline",
    "DeadlineMode",
    "Interval",
    "OfficeHours",
    "WorkingCalendar",
    "WorkingTimeLimitError",
    "parse_intervals",
]

DEFAULT_TIMEZONE = "Asia/Jakarta"
MAX_SEARCH_DAYS = 3 * 366
WEEKDAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

Interval = tuple[time, time]
"""Half-open wall-clock interval ``[start, end)``; an end of ``time(0)`` means midnight."""

_MIDNIGHT = time(0)
_ZERO = timedelta(0)
_DAY = timedelta(days=1)

_WEEKDAY_ALIASES: Mapping[str, int] = MappingProxyType(
    {
        **{key: index for index, key in enumerate(WEEKDAY_KEYS)},
        "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3,
        "friday": 4, "saturday": 5, "sunday": 6,
        "senin": 0, "selasa": 1, "rabu": 2, "kamis": 3,
        "jumat": 4, "jum'at": 4, "sabtu": 5, "minggu": 6, "ahad": 6,
    }
)  # fmt: skip
_CLOSED_WORDS = frozenset({"", "-", "closed", "libur", "tutup", "none", "off"})
_INTERVAL_RE = re.compile(r"^(\d{1,2})[:.](\d{2})\s*-\s*(\d{1,2})[:.](\d{2})$")


class WorkingTimeLimitError(RuntimeError):
    """The answer lies further than ``MAX_SEARCH_DAYS`` ahead (or the office never opens)."""


# --------------------------------------------------------------------------- hours


def _end_minutes(end: time) -> int:
    return 24 * 60 if end == _MIDNIGHT else end.hour * 60 + end.minute


def _as_seconds(t: time, *, is_end: bool) -> float:
    if is_end and t == _MIDNIGHT:
        return 86400.0
    return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6


def _check_intervals(intervals: Iterable[Interval], where: str) -> tuple[Interval, ...]:
    checked: list[Interval] = []
    previous_end = -1.0
    for item in intervals:
        if not (isinstance(item, tuple | list) and len(item) == 2):
            raise ValueError(f"{where}: {item!r} is not a (start, end) pair of times")
        start, end = item
        if not (isinstance(start, time) and isinstance(end, time)):
            raise ValueError(f"{where}: {item!r} is not a (start, end) pair of times")
        if start.tzinfo is not None or end.tzinfo is not None:
            raise ValueError(f"{where}: office hours are wall-clock times without a time zone")
        begin, finish = _as_seconds(start, is_end=False), _as_seconds(end, is_end=True)
        if finish <= begin:
            raise ValueError(
                f"{where}: {start:%H:%M}-{end:%H:%M} must end after it starts "
                "(intervals cannot run past midnight)"
            )
        if begin < previous_end:
            raise ValueError(
                f"{where}: {start:%H:%M}-{end:%H:%M} overlaps or precedes the previous interval"
            )
        previous_end = finish
        checked.append((start, end))
    return tuple(checked)


def parse_intervals(text: str, key: str = "hours") -> tuple[Interval, ...]:
    """Parse ``"07:30-12:00,13:00-16:00"`` into ordered intervals.

    ``""``, ``"-"``, ``"closed"`` or ``"libur"`` mean a closed day; ``07.30`` (Indonesian
    notation) is accepted as well as ``07:30``; ``24:00`` may end the last interval.
    Raises ``ValueError`` naming ``key`` and the offending value.
    """
    if not isinstance(text, str):
        raise ValueError(f"{key}: expected a string such as '07:30-16:00', got {text!r}")
    if text.strip().lower() in _CLOSED_WORDS:
        return ()
    intervals: list[Interval] = []
    for raw_part in text.split(","):
        part = raw_part.strip()
        match = _INTERVAL_RE.match(part)
        if match is None:
            raise ValueError(
                f"{key}: {part!r} in {text!r} is not an interval such as 07:30-16:00 "
                "(several are separated by commas; empty means closed)"
            )
        h1, m1, h2, m2 = (int(group) for group in match.groups())
        try:
            start = time(h1, m1)
            end = _MIDNIGHT if (h2, m2) == (24, 0) else time(h2, m2)
        except ValueError:
            raise ValueError(f"{key}: {part!r} in {text!r} has an impossible time") from None
        intervals.append((start, end))
    return _check_intervals(intervals, f"{key} {text!r}")


@dataclass(frozen=True)
class OfficeHours:
    """Opening intervals for each weekday; ``week[0]`` is Monday, ``week[6]`` Sunday."""

    week: tuple[tuple[Interval, ...], ...]

    def __post_init__(self) -> None:
        if len(self.week) != 7:
            raise ValueError(f"office hours need 7 weekdays, got {len(self.week)}")
        normalised = tuple(
            _check_intervals(day, f"hours.{WEEKDAY_KEYS[index]}")
            for index, day in enumerate(self.week)
        )
        object.__setattr__(self, "week", normalised)

    @classmethod
    def default(cls) -> OfficeHours:
        """Mon–Thu 07:30–16:00, Fri 07:30–16:30, Sat/Sun closed."""
        weekday = ((time(7, 30), time(16, 0)),)
        friday = ((time(7, 30), time(16, 30)),)
        return cls((weekday, weekday, weekday, weekday, friday, (), ()))

    @classmethod
    def from_mapping(cls, hours: Mapping[int, Sequence[Interval]]) -> OfficeHours:
        """Build from ``{weekday (0 = Monday): [(start, end), ...]}``; missing days are closed."""
        for weekday in hours:
            if not (isinstance(weekday, int) and 0 <= weekday <= 6):
                raise ValueError(f"hours: weekday {weekday!r} is not 0 (Monday) … 6 (Sunday)")
        return cls(tuple(tuple(hours.get(index, ())) for index in range(7)))

    @classmethod
    def from_strings(cls, hours: Mapping[str, str], base: OfficeHours | None = None) -> OfficeHours:
        """Build from settings like ``{"mon": "07:30-16:00", "sat": ""}``.

        Keys are ``mon`` … ``sun`` (English or Indonesian full names are accepted too);
        weekdays missing from ``hours`` keep their hours from ``base`` (default hours).
        """
        week = list((base or cls.default()).week)
        seen: dict[int, str] = {}
        for key, value in hours.items():
            index = _WEEKDAY_ALIASES.get(str(key).strip().lower())
            if index is None:
                raise ValueError(
                    f"hours: unknown weekday key {key!r} (use {', '.join(WEEKDAY_KEYS)})"
                )
            if index in seen:
                raise ValueError(f"hours: {key!r} and {seen[index]!r} name the same weekday")
            seen[index] = key
            week[index] = parse_intervals(value, f"hours.{key}")
        return cls(tuple(week))

    def on(self, weekday: int) -> tuple[Interval, ...]:
        """Intervals of a weekday (0 = Monday)."""
        return self.week[weekday]

    @property
    def is_empty(self) -> bool:
        return not any(self.week)


# ------------------------------------------------------------------------ holidays


@functools.lru_cache(maxsize=128)
def _national_holidays(country: str, year: int, cuti_bersama: bool) -> Mapping[date, str]:
    """Closed dates of one year from the ``holidays`` package, cached per year."""
    categories: tuple[str, ...] = ("public",)
    if cuti_bersama and country == "ID":
        categories = ("public", "government")
    language = "id" if country == "ID" else None
    table = holidays.country_holidays(country, years=year, categories=categories, language=language)
    names: dict[date, str] = {}
    for day in sorted(table):
        if day.year == year:
            names[day] = "; ".join(table.get_list(day))
    return MappingProxyType(names)


def _default_zone() -> ZoneInfo:
    return ZoneInfo(DEFAULT_TIMEZONE)


def _date_setting(value: object, key: str) -> date:
    if isinstance(value, datetime):
        raise ValueError(f"{key}: {value!r} is a date-time, expected a date (YYYY-MM-DD)")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{key}: {value!r} is not a date (YYYY-MM-DD)") from None
    raise ValueError(f"{key}: {value!r} is not a date (YYYY-MM-DD)")


# ------------------------------------------------------------------------ calendar


@dataclass(frozen=True)
class WorkingCalendar:
    """Office working time.  All answers are aware datetimes in the office zone ``tz``."""

    tz: ZoneInfo = field(default_factory=_default_zone)
    hours: OfficeHours = field(default_factory=OfficeHours.default)
    country: str | None = "ID"
    """Country for national holidays (``holidays`` package); None disables them."""
    include_cuti_bersama: bool = True
    """Treat Indonesian collective-leave days (category "government") as closed."""
    extra_holidays: frozenset[date] = frozenset()
    extra_working_days: frozenset[date] = frozenset()
    extra_working_day_hours: tuple[Interval, ...] | None = None
    """Hours of an extra working date whose weekday is closed; None = the hours of the
    first weekday that has any (Monday with the defaults)."""

    def __post_init__(self) -> None:
        if not isinstance(self.tz, ZoneInfo):
            raise ValueError(f"timezone: {self.tz!r} is not a zoneinfo.ZoneInfo")
        if not isinstance(self.hours, OfficeHours):
            raise ValueError("hours: expected an OfficeHours")
        if self.country is not None and self.country not in holidays.list_supported_countries():
            raise ValueError(f"country: {self.country!r} is not supported by the holidays package")
        closed = frozenset(_date_setting(d, "extra_holidays") for d in self.extra_holidays)
        opened = frozenset(_date_setting(d, "extra_working_days") for d in self.extra_working_days)
        object.__setattr__(self, "extra_holidays", closed)
        object.__setattr__(self, "extra_working_days", opened)
        both = sorted(closed & opened)
        if both:
            raise ValueError(
                "extra_working_days: "
                f"{', '.join(d.isoformat() for d in both)} also listed in extra_holidays"
            )
        if self.extra_working_day_hours is not None:
            object.__setattr__(
                self,
                "extra_working_day_hours",
                _check_intervals(self.extra_working_day_hours, "extra_working_day_hours"),
            )
        if self.hours.is_empty and not (opened and self._fallback_hours()):
            raise ValueError("hours: the office is closed on every weekday")

    # ------------------------------------------------------------ construction

    @classmethod
    def from_settings(
        cls,
        timezone: str = DEFAULT_TIMEZONE,
        hours: Mapping[str, str] | None = None,
        extra_holidays: Iterable[date | str] = (),
        extra_working_days: Iterable[date | str] = (),
        *,
        country: str | None = "ID",
        include_cuti_bersama: bool = True,
        extra_working_day_hours: str | None = None,
    ) -> WorkingCalendar:
        """Build from plain configuration values.

        ``hours`` maps ``"mon"`` … ``"sun"`` to ``"07:30-16:00"``, ``"07:30-12:00,13:00-16:00"``
        or ``""`` (closed); weekdays not listed keep the default hours.  Dates may be
        ``date`` objects or ISO strings.  Raises ``ValueError`` whose message starts with
        the offending key (``timezone``, ``hours.fri``, ``extra_holidays`` …).
        """
        if not isinstance(timezone, str) or not timezone.strip():
            raise ValueError(f"timezone: {timezone!r} is not a time zone name")
        try:
            zone = ZoneInfo(timezone.strip())
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"timezone: unknown time zone {timezone!r} (e.g. Asia/Jakarta, Asia/Makassar)"
            ) from None
        office_hours = OfficeHours.from_strings(hours or {})
        if isinstance(extra_holidays, str | date):
            raise ValueError("extra_holidays: expected a list of dates")
        if isinstance(extra_working_days, str | date):
            raise ValueError("extra_working_days: expected a list of dates")
        closed = frozenset(_date_setting(d, "extra_holidays") for d in extra_holidays)
        opened = frozenset(_date_setting(d, "extra_working_days") for d in extra_working_days)
        fallback = (
            None
            if extra_working_day_hours is None
            else parse_intervals(extra_working_day_hours, "extra_working_day_hours")
        )
        if country is not None and not country.strip():
            country = None
        return cls(
            tz=zone,
            hours=office_hours,
            country=country.strip().upper() if country is not None else None,
            include_cuti_bersama=include_cuti_bersama,
            extra_holidays=closed,
            extra_working_days=opened,
            extra_working_day_hours=fallback,
        )

    # ------------------------------------------------------------------- dates

    def holiday_name(self, day: date) -> str | None:
        """Why ``day`` is closed although it is not a weekend, or None.

        Names come from the ``holidays`` package (in Indonesian for "ID"); an extra closed
        date from the configuration is ``"Libur kantor"``.  Extra working dates give None.
        """
        if day in self.extra_working_days:
            return None
        if day in self.extra_holidays:
            return "Libur kantor"
        if self.country is None:
            return None
        return _national_holidays(self.country, day.year, self.include_cuti_bersama).get(day)

    def is_holiday(self, day: date) -> bool:
        """True when ``day`` is a national holiday, cuti bersama or extra closed date."""
        return self.holiday_name(day) is not None

    def is_working_day(self, day: date) -> bool:
        """True when the office opens at some time on ``day``."""
        return bool(self._local_intervals(day))

    def intervals_on(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """Opening intervals of ``day`` as aware datetimes in the office zone."""
        return tuple(
            (opening.astimezone(self.tz), closing.astimezone(self.tz))
            for opening, closing in self._utc_intervals(day)
        )

    # ----------------------------------------------------------------- moments

    def is_working_time(self, moment: datetime) -> bool:
        """True when the office is open at ``moment`` (intervals are half-open)."""
        instant = self._utc(moment, "moment")
        return any(
            opening <= instant < closing
            for opening, closing in self._utc_intervals(self._local_date(instant))
        )

    def next_opening(self, moment: datetime) -> datetime:
        """The first working moment at or after ``moment``: ``moment`` itself when open."""
        return self.add_working_time(moment, _ZERO)

    def add_working_time(self, start: datetime, duration: timedelta) -> datetime:
        """The moment at which ``duration`` of working time has elapsed after ``start``.

        Counting starts at ``start`` if the office is open then, else at the next opening.
        ``duration == 0`` returns that first working moment.  Loops per opening interval,
        never further than ``MAX_SEARCH_DAYS`` days (``WorkingTimeLimitError``).
        """
        instant = self._utc(start, "start")
        if not isinstance(duration, timedelta) or duration < _ZERO:
            raise ValueError(f"duration must be a non-negative timedelta, got {duration!r}")
        remaining = duration
        day = self._local_date(instant)
        for offset in range(MAX_SEARCH_DAYS + 1):
            for opening, closing in self._utc_intervals(day + offset * _DAY):
                if closing <= instant:
                    continue
                begin = max(opening, instant)
                available = closing - begin
                if remaining <= available:
                    return (begin + remaining).astimezone(self.tz)
                remaining -= available
        raise WorkingTimeLimitError(
            f"{duration} of working time after {start.isoformat()} is not reached within "
            f"{MAX_SEARCH_DAYS} days; check the office hours and holidays"
        )

    def working_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Working time elapsed from ``a`` to ``b`` (zero when ``b <= a``).

        Consistent with ``add_working_time``:
        ``working_time_between(s, add_working_time(s, d)) == d``.
        """
        begin, end = self._utc(a, "a"), self._utc(b, "b")
        if end <= begin:
            return _ZERO
        total = _ZERO
        day, last = self._local_date(begin), self._local_date(end)
        while day <= last:
            for opening, closing in self._utc_intervals(day):
                low, high = max(opening, begin), min(closing, end)
                if high > low:
                    total += high - low
            day += _DAY
        return total

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """Same wall-clock time ``days`` working days after the first working moment.

        From ``s = next_opening(start)``, take the ``days``-th following working day and
        the clock time of ``s`` on it.  If the office is closed at that clock time there
        (shorter hours, lunch break), the deadline is the latest interval end before it,
        or the day's first opening when the clock time is earlier than any opening.
        ``days == 0`` returns ``s``.
        """
        if isinstance(days, bool) or not isinstance(days, int) or days < 0:
            raise ValueError(f"days must be a non-negative integer, got {days!r}")
        first = self.next_opening(start)
        if days == 0:
            return first
        day, counted = first.date(), 0
        for _ in range(MAX_SEARCH_DAYS):
            day += _DAY
            if self.is_working_day(day):
                counted += 1
                if counted == days:
                    break
        else:
            raise WorkingTimeLimitError(
                f"{days} working days after {start.isoformat()} are not reached within "
                f"{MAX_SEARCH_DAYS} days; check the office hours and holidays"
            )
        target = datetime.combine(day, first.time(), tzinfo=self.tz)
        target_utc = target.astimezone(UTC)
        intervals = self._utc_intervals(day)
        answer = intervals[0][0]
        for opening, closing in intervals:
            if opening <= target_utc < closing:
                answer = target_utc
                break
            if closing <= target_utc:
                answer = closing
        return answer.astimezone(self.tz)

    def due(self, start: datetime, deadline: Deadline) -> datetime:
        """When a stage entered at ``start`` with allowance ``deadline`` is due."""
        if deadline.mode == "clock":
            return (self._utc(start, "start") + deadline.amount).astimezone(self.tz)
        if deadline.mode == "working_days":
            return self.add_working_days(start, deadline.amount.days)
        return self.add_working_time(start, deadline.amount)

    def elapsed(self, start: datetime, end: datetime, deadline: Deadline) -> timedelta:
        """Time spent from ``start`` to ``end`` as ``deadline`` measures it (for reports):
        plain time for "clock" deadlines, working time otherwise."""
        if deadline.mode == "clock":
            return max(_ZERO, self._utc(end, "end") - self._utc(start, "start"))
        return self.working_time_between(start, end)

    # ----------------------------------------------------------------- helpers

    def _fallback_hours(self) -> tuple[Interval, ...]:
        if self.extra_working_day_hours is not None:
            return self.extra_working_day_hours
        for day in self.hours.week:
            if day:
                return day
        return ()

    def _local_intervals(self, day: date) -> tuple[Interval, ...]:
        own = self.hours.on(day.weekday())
        if day in self.extra_working_days:
            return own or self._fallback_hours()
        if self.is_holiday(day):
            return ()
        return own

    def _utc_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        result: list[tuple[datetime, datetime]] = []
        for start, end in self._local_intervals(day):
            opening = datetime.combine(day, start, tzinfo=self.tz).astimezone(UTC)
            if end == _MIDNIGHT:
                closing = datetime.combine(day + _DAY, _MIDNIGHT, tzinfo=self.tz)
            else:
                closing = datetime.combine(day, end, tzinfo=self.tz)
            closing_utc = closing.astimezone(UTC)
            if closing_utc > opening:  # a DST jump could swallow an interval entirely
                result.append((opening, closing_utc))
        return result

    def _local_date(self, instant: datetime) -> date:
        return instant.astimezone(self.tz).date()

    @staticmethod
    def _utc(moment: datetime, name: str) -> datetime:
        if not isinstance(moment, datetime):
            raise ValueError(f"{name} must be a datetime, got {moment!r}")
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware, got naive {moment.isoformat()}")
        return moment.astimezone(UTC)


# ----------------------------------------------------------------------- deadlines

DeadlineMode = Literal["working", "clock", "working_days"]
_DEADLINE_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*([dhm])(?:\s+(clock))?$")


@dataclass(frozen=True)
class Deadline:
    """Allowance for one stage.

    * ``"working"``: ``amount`` of working time (``add_working_time``);
    * ``"clock"``: plain elapsed time, for stages that run outside office hours
      (publishing, notifying a rejection);
    * ``"working_days"``: ``amount.days`` working days (``add_working_days``); ``amount``
      must be whole days.
    """

    amount: timedelta
    mode: DeadlineMode = "working"

    def __post_init__(self) -> None:
        if self.mode not in get_args(DeadlineMode):
            raise ValueError(f"deadline mode {self.mode!r} is not one of {get_args(DeadlineMode)}")
        if not isinstance(self.amount, timedelta) or self.amount < _ZERO:
            raise ValueError(f"deadline amount must be a non-negative timedelta: {self.amount!r}")
        if self.mode == "working_days" and self.amount % _DAY:
            raise ValueError(f"a working-days deadline must be whole days: {self.amount}")

    @classmethod
    def parse(cls, text: str) -> Deadline:
        """``"3h"``, ``"30m"``, ``"1.5h"`` → working time; ``"1d"`` → 1 working day;
        ``"1h clock"``, ``"2d clock"`` → plain clock time.  Raises ``ValueError``."""
        match = _DEADLINE_RE.match(text.strip().lower()) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"{text!r} is not a duration such as 3h, 1d, 30m or '1h clock'")
        number, unit, clock = match.groups()
        amount = float(number)
        if clock:
            seconds = amount * {"d": 86400, "h": 3600, "m": 60}[unit]
            return cls(timedelta(seconds=round(seconds)), "clock")
        if unit == "d":
            if amount != int(amount):
                raise ValueError(f"{text!r}: working days must be a whole number (use hours)")
            return cls(timedelta(days=int(amount)), "working_days")
        seconds = amount * {"h": 3600, "m": 60}[unit]
        return cls(timedelta(seconds=round(seconds)), "working")
