"""Working-time calendar (workflow/calendar.py).

Every moment is an explicit datetime; nothing reads the clock.  Default office hours:
Mon–Thu 07:30–16:00, Fri 07:30–16:30 (WIB, Asia/Jakarta), Sat/Sun closed, Indonesian
public holidays and cuti bersama closed.

August 2026 for reference: Fri 7, Sat 8, Sun 9, Mon 10 … Fri 14, Mon 17 (Independence
Day), Tue 18 … (Tue 25 is Maulid Nabi).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workflow import calendar as calendar_module
from workflow.calendar import (
    MAX_SEARCH_DAYS,
    Deadline,
    OfficeHours,
    WorkingCalendar,
    WorkingTimeLimitError,
    parse_intervals,
)

WIB = ZoneInfo("Asia/Jakarta")
H = timedelta(hours=1)
M = timedelta(minutes=1)


def wib(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=WIB)


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar()


# ------------------------------------------------------------------ add_working_time


def test_friday_afternoon_runs_over_the_weekend(cal: WorkingCalendar) -> None:
    # Fri 7 Aug 15:50 → 16:30 gives 40 min; Sat/Sun closed; Mon 07:30 + 2h20 = 09:50.
    due = cal.add_working_time(wib(2026, 8, 7, 15, 50), 3 * H)
    assert due == wib(2026, 8, 10, 9, 50)
    assert due.tzinfo == WIB


def test_national_holiday_is_skipped(cal: WorkingCalendar) -> None:
    # Fri 14 Aug 15:00 → 16:30 gives 1h30; Sat 15, Sun 16 closed; Mon 17 Aug is
    # Independence Day; Tue 18 07:30 + remaining 1h30 = 09:00.
    assert date(2026, 8, 17).weekday() == 0
    assert cal.is_holiday(date(2026, 8, 17))
    assert cal.add_working_time(wib(2026, 8, 14, 15, 0), 3 * H) == wib(2026, 8, 18, 9, 0)


def test_entered_after_hours_starts_at_next_opening(cal: WorkingCalendar) -> None:
    # Tue 4 Aug 18:00 is after closing; counting starts Wed 07:30, + 1h = 08:30.
    assert cal.add_working_time(wib(2026, 8, 4, 18, 0), H) == wib(2026, 8, 5, 8, 30)
    # Before opening on the same day: Wed 05:00 → Wed 07:30 + 1h.
    assert cal.add_working_time(wib(2026, 8, 5, 5, 0), H) == wib(2026, 8, 5, 8, 30)


def test_entered_on_weekend_starts_monday(cal: WorkingCalendar) -> None:
    # Sat 8 Aug 10:00 → Mon 10 Aug 07:30 + 1h = 08:30.
    assert cal.add_working_time(wib(2026, 8, 8, 10, 0), H) == wib(2026, 8, 10, 8, 30)


def test_duration_ending_at_closing_returns_closing_time(cal: WorkingCalendar) -> None:
    # Mon 10 Aug 13:00 + 3h = 16:00 exactly, the closing moment (not Tue 07:30).
    assert cal.add_working_time(wib(2026, 8, 10, 13, 0), 3 * H) == wib(2026, 8, 10, 16, 0)
    # One minute more spills into Tuesday.
    assert cal.add_working_time(wib(2026, 8, 10, 13, 0), 3 * H + M) == wib(2026, 8, 11, 7, 31)


def test_zero_duration(cal: WorkingCalendar) -> None:
    inside = wib(2026, 8, 10, 10, 15)
    assert cal.add_working_time(inside, timedelta(0)) == inside
    assert cal.add_working_time(wib(2026, 8, 10, 20, 0), timedelta(0)) == wib(2026, 8, 11, 7, 30)
    # Closing moment itself is outside the half-open interval.
    assert cal.add_working_time(wib(2026, 8, 10, 16, 0), timedelta(0)) == wib(2026, 8, 11, 7, 30)


def test_utc_input_is_answered_in_wib(cal: WorkingCalendar) -> None:
    # 08:50 UTC = 15:50 WIB on Fri 7 Aug → Mon 10 Aug 09:50 WIB = 02:50 UTC.
    start = datetime(2026, 8, 7, 8, 50, tzinfo=UTC)
    due = cal.add_working_time(start, 3 * H)
    assert due == datetime(2026, 8, 10, 2, 50, tzinfo=UTC)
    assert due.tzinfo == WIB
    assert (due.hour, due.minute) == (9, 50)
    # A UTC moment that is Saturday morning in Jakarta but still Friday in New York.
    ny = datetime(2026, 8, 7, 21, 0, tzinfo=ZoneInfo("America/New_York"))  # Sat 08:00 WIB
    assert not cal.is_working_time(ny)
    assert cal.next_opening(ny) == wib(2026, 8, 10, 7, 30)


def test_other_office_zone() -> None:
    wita = ZoneInfo("Asia/Makassar")  # UTC+8
    cal = WorkingCalendar.from_settings("Asia/Makassar")
    # 07:00 WIB = 08:00 WITA on Mon 10 Aug: open in Makassar.
    assert cal.is_working_time(wib(2026, 8, 10, 7, 0))
    assert cal.add_working_time(wib(2026, 8, 10, 7, 0), H) == datetime(
        2026, 8, 10, 9, 0, tzinfo=wita
    )


def test_bad_arguments(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.add_working_time(datetime(2026, 8, 10, 9, 0), H)
    with pytest.raises(ValueError, match="non-negative"):
        cal.add_working_time(wib(2026, 8, 10, 9, 0), -H)
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.working_time_between(wib(2026, 8, 10), datetime(2026, 8, 11))
    with pytest.raises(ValueError, match="non-negative integer"):
        cal.add_working_days(wib(2026, 8, 10, 9, 0), -1)


# -------------------------------------------------------- is_working_time / next_opening


def test_is_working_time_boundaries(cal: WorkingCalendar) -> None:
    assert not cal.is_working_time(wib(2026, 8, 10, 7, 29))
    assert cal.is_working_time(wib(2026, 8, 10, 7, 30))
    assert cal.is_working_time(wib(2026, 8, 10, 15, 59))
    assert not cal.is_working_time(wib(2026, 8, 10, 16, 0))  # Monday closes at 16:00
    assert cal.is_working_time(wib(2026, 8, 14, 16, 15))  # Friday until 16:30
    assert not cal.is_working_time(wib(2026, 8, 14, 16, 30))
    assert not cal.is_working_time(wib(2026, 8, 8, 10, 0))  # Saturday
    assert not cal.is_working_time(wib(2026, 8, 17, 10, 0))  # 17 Agustus


def test_next_opening(cal: WorkingCalendar) -> None:
    assert cal.next_opening(wib(2026, 8, 10, 9, 0)) == wib(2026, 8, 10, 9, 0)
    assert cal.next_opening(wib(2026, 8, 14, 17, 0)) == wib(2026, 8, 18, 7, 30)


# ------------------------------------------------------------ working_time_between


def test_working_time_between_across_weekend(cal: WorkingCalendar) -> None:
    # Fri 7 Aug 15:00–16:30 = 1h30, Mon 10 Aug 07:30–09:00 = 1h30.
    assert cal.working_time_between(wib(2026, 8, 7, 15, 0), wib(2026, 8, 10, 9, 0)) == 3 * H
    # A whole week: 4 × 8h30 + 9h = 43h.
    assert cal.working_time_between(wib(2026, 8, 10), wib(2026, 8, 17)) == 43 * H


def test_working_time_between_reversed_or_closed(cal: WorkingCalendar) -> None:
    assert cal.working_time_between(wib(2026, 8, 10, 12), wib(2026, 8, 10, 9)) == timedelta(0)
    assert cal.working_time_between(wib(2026, 8, 8, 0), wib(2026, 8, 10, 7, 30)) == timedelta(0)


# ------------------------------------------------------------------ config values


def test_extra_holiday_from_config() -> None:
    cal = WorkingCalendar.from_settings("Asia/Jakarta", {}, [date(2026, 8, 10), "2026-08-11"])
    assert cal.holiday_name(date(2026, 8, 10)) == "Libur kantor"
    # Fri 7 Aug 15:50 → 40 min; Mon 10 and Tue 11 closed; Wed 12 07:30 + 2h20 = 09:50.
    assert cal.add_working_time(wib(2026, 8, 7, 15, 50), 3 * H) == wib(2026, 8, 12, 9, 50)


def test_extra_working_saturday() -> None:
    cal = WorkingCalendar.from_settings(extra_working_days=[date(2026, 8, 8)])
    # Sat 8 Aug is worked with Monday's hours (07:30–16:00):
    # Fri 15:50 → 40 min, Sat 07:30 + 2h20 = 09:50.
    assert cal.is_working_day(date(2026, 8, 8))
    assert cal.add_working_time(wib(2026, 8, 7, 15, 50), 3 * H) == wib(2026, 8, 8, 9, 50)
    half_day = WorkingCalendar.from_settings(
        extra_working_days=[date(2026, 8, 8)], extra_working_day_hours="08:00-12:00"
    )
    # Sat 08:00 + 2h20 = 10:20.
    assert half_day.add_working_time(wib(2026, 8, 7, 15, 50), 3 * H) == wib(2026, 8, 8, 10, 20)


def test_extra_working_day_overrides_national_holiday() -> None:
    cal = WorkingCalendar.from_settings(extra_working_days=["2026-08-17"])
    assert not cal.is_holiday(date(2026, 8, 17))
    # Fri 14 Aug 15:00 → 1h30; Mon 17 Aug (worked) 07:30 + 1h30 = 09:00.
    assert cal.add_working_time(wib(2026, 8, 14, 15, 0), 3 * H) == wib(2026, 8, 17, 9, 0)


def test_lunch_break() -> None:
    cal = WorkingCalendar.from_settings(hours={"mon": "07:30-12:00,13:00-16:00"})
    assert not cal.is_working_time(wib(2026, 8, 10, 12, 30))
    assert cal.next_opening(wib(2026, 8, 10, 12, 30)) == wib(2026, 8, 10, 13, 0)
    # Mon 11:00–12:00 = 1h, break, 13:00 + 1h = 14:00.
    assert cal.add_working_time(wib(2026, 8, 10, 11, 0), 2 * H) == wib(2026, 8, 10, 14, 0)
    # 1h ends exactly at the start of the break.
    assert cal.add_working_time(wib(2026, 8, 10, 11, 0), H) == wib(2026, 8, 10, 12, 0)
    assert cal.working_time_between(wib(2026, 8, 10, 11, 0), wib(2026, 8, 10, 14, 0)) == 2 * H
    # Tuesday keeps the default single interval.
    assert cal.add_working_time(wib(2026, 8, 11, 11, 0), 2 * H) == wib(2026, 8, 11, 13, 0)


def test_hours_notations() -> None:
    assert parse_intervals("07.30-16.00") == ((time(7, 30), time(16, 0)),)
    assert parse_intervals(" 7:30 - 12:00 , 13:00-16:00 ") == (
        (time(7, 30), time(12, 0)),
        (time(13, 0), time(16, 0)),
    )
    assert parse_intervals("") == ()
    assert parse_intervals("libur") == ()
    assert parse_intervals("20:00-24:00") == ((time(20, 0), time(0, 0)),)
    cal = WorkingCalendar.from_settings(
        hours={"jumat": "07:30-11:30,13:00-16:30", "sat": "08:00-12:00"}
    )
    assert cal.hours.on(4) == ((time(7, 30), time(11, 30)), (time(13, 0), time(16, 30)))
    assert cal.hours.on(5) == ((time(8, 0), time(12, 0)),)
    assert cal.hours.on(0) == OfficeHours.default().on(0)  # unlisted days keep defaults


def test_open_until_midnight() -> None:
    cal = WorkingCalendar.from_settings(
        hours={d: "00:00-24:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
        country="",
    )
    start = wib(2026, 8, 17, 22, 0)
    assert cal.add_working_time(start, 5 * H) == start + 5 * H
    assert cal.add_working_time(wib(2026, 8, 17, 22, 0), 2 * H) == wib(2026, 8, 18, 0, 0)


@pytest.mark.parametrize(
    ("hours", "key"),
    [
        ({"fri": "07:30-25:00"}, "hours.fri"),
        ({"fri": "7:30 to 16:00"}, "hours.fri"),
        ({"mon": "16:00-07:30"}, "hours.mon"),
        ({"tue": "07:30-12:00,11:00-16:00"}, "hours.tue"),
        ({"wed": "07:30-12:00,"}, "hours.wed"),
        ({"thu": "07:60-12:00"}, "hours.thu"),
        ({"fry": "07:30-16:00"}, "fry"),
        ({"fri": "07:30-16:00", "friday": "08:00-16:00"}, "friday"),
    ],
)
def test_malformed_hours_name_the_key(hours: dict[str, str], key: str) -> None:
    with pytest.raises(ValueError, match=key) as error:
        WorkingCalendar.from_settings("Asia/Jakarta", hours)
    assert str(error.value).startswith("hours")


def test_malformed_settings_name_the_key() -> None:
    with pytest.raises(ValueError, match=r"^timezone: .*Asia/Jakartaa"):
        WorkingCalendar.from_settings("Asia/Jakartaa")
    with pytest.raises(ValueError, match=r"^extra_holidays: .*2026-13-01"):
        WorkingCalendar.from_settings(extra_holidays=["2026-13-01"])
    with pytest.raises(ValueError, match=r"^extra_working_days: "):
        WorkingCalendar.from_settings(extra_working_days=[datetime(2026, 8, 8, 9, 0)])
    with pytest.raises(ValueError, match=r"^extra_working_days: 2026-08-08"):
        WorkingCalendar.from_settings(
            extra_holidays=["2026-08-08"], extra_working_days=["2026-08-08"]
        )
    with pytest.raises(ValueError, match=r"^extra_working_day_hours"):
        WorkingCalendar.from_settings(extra_working_day_hours="morning")
    with pytest.raises(ValueError, match=r"^country: "):
        WorkingCalendar.from_settings(country="XX")
    closed = {d: "" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    with pytest.raises(ValueError, match=r"^hours: .*closed on every weekday"):
        WorkingCalendar.from_settings(hours=closed)


# ------------------------------------------------------------------- holidays / Lebaran


def test_idul_fitri_2026_and_cuti_bersama(cal: WorkingCalendar) -> None:
    # holidays 0.109, country "ID": Idul Fitri 1447 H on Sat 21 and Sun 22 March 2026,
    # Nyepi Thu 19 March; cuti bersama (category "government") Wed 18 (Nyepi),
    # Fri 20, Mon 23 and Tue 24 March.  So the office is closed Wed 18 … Tue 24.
    assert "Idul Fitri" in (cal.holiday_name(date(2026, 3, 21)) or "")
    assert "Idul Fitri" in (cal.holiday_name(date(2026, 3, 22)) or "")
    assert "Cuti Bersama" in (cal.holiday_name(date(2026, 3, 20)) or "")
    assert [d for d in range(16, 27) if cal.is_working_day(date(2026, 3, d))] == [16, 17, 25, 26]
    # Tue 17 Mar 15:00 → 16:00 gives 1h; closed until Wed 25 07:30 + 2h = 09:30.
    assert cal.add_working_time(wib(2026, 3, 17, 15, 0), 3 * H) == wib(2026, 3, 25, 9, 30)
    assert cal.working_time_between(wib(2026, 3, 17, 16, 0), wib(2026, 3, 25, 7, 30)) == (
        timedelta(0)
    )
    # 1 working day across the whole Lebaran break.
    assert cal.add_working_days(wib(2026, 3, 17, 10, 0), 1) == wib(2026, 3, 25, 10, 0)


def test_without_cuti_bersama() -> None:
    cal = WorkingCalendar.from_settings(include_cuti_bersama=False)
    # Only the public holidays close: Thu 19 (Nyepi), Sat 21 / Sun 22 (Idul Fitri).
    assert [d for d in range(16, 27) if cal.is_working_day(date(2026, 3, d))] == [
        16, 17, 18, 20, 23, 24, 25, 26
    ]  # fmt: skip
    # Tue 17 15:00 → 1h; Wed 18 07:30 + 2h = 09:30.
    assert cal.add_working_time(wib(2026, 3, 17, 15, 0), 3 * H) == wib(2026, 3, 18, 9, 30)


def test_years_beyond_holiday_data_do_not_fail(cal: WorkingCalendar) -> None:
    assert cal.is_working_day(date(2101, 1, 3))  # a Monday; no holiday data for 2101
    assert WorkingCalendar(country=None).is_working_day(date(2026, 8, 17))


def test_holiday_lookups_are_cached_per_year(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = holidays.country_holidays

    def counting(country: str, **kwargs: Any) -> Any:
        calls.append(kwargs["years"])
        return real(country, **kwargs)

    calendar_module._national_holidays.cache_clear()
    monkeypatch.setattr(holidays, "country_holidays", counting)
    cal = WorkingCalendar()
    for _ in range(3):
        cal.working_time_between(wib(2026, 1, 1), wib(2027, 12, 31))
    assert sorted(calls) == [2026, 2027]
    calendar_module._national_holidays.cache_clear()


# --------------------------------------------------------------------- working days


def test_one_working_day_is_same_clock_time_next_working_day(cal: WorkingCalendar) -> None:
    assert cal.add_working_days(wib(2026, 8, 11, 10, 0), 1) == wib(2026, 8, 12, 10, 0)
    assert cal.add_working_days(wib(2026, 8, 7, 10, 0), 1) == wib(2026, 8, 10, 10, 0)
    # Saturday: first working moment Mon 07:30, one working day later Tue 07:30.
    assert cal.add_working_days(wib(2026, 8, 8, 10, 0), 1) == wib(2026, 8, 11, 7, 30)
    # Fri 14 Aug 16:20: Mon 17 is a holiday and Tuesday closes at 16:00 → Tue 16:00.
    assert cal.add_working_days(wib(2026, 8, 14, 16, 20), 1) == wib(2026, 8, 18, 16, 0)
    assert cal.add_working_days(wib(2026, 8, 11, 10, 0), 3) == wib(2026, 8, 14, 10, 0)
    assert cal.add_working_days(wib(2026, 8, 11, 10, 0), 0) == wib(2026, 8, 11, 10, 0)


def test_working_day_landing_in_friday_prayer_break() -> None:
    cal = WorkingCalendar.from_settings(hours={"fri": "07:30-11:30,13:00-16:30"})
    # Thu 13 Aug 12:00 + 1 day → Fri 12:00 is in the break → end of the morning, 11:30.
    assert cal.add_working_days(wib(2026, 8, 13, 12, 0), 1) == wib(2026, 8, 14, 11, 30)


# ----------------------------------------------------------------------- deadlines


def test_deadline_parse() -> None:
    assert Deadline.parse("3h") == Deadline(3 * H, "working")
    assert Deadline.parse("30m") == Deadline(30 * M, "working")
    assert Deadline.parse("1.5h") == Deadline(90 * M)
    assert Deadline.parse("1d") == Deadline(timedelta(days=1), "working_days")
    assert Deadline.parse("1h clock") == Deadline(H, "clock")
    assert Deadline.parse(" 30M Clock ") == Deadline(30 * M, "clock")
    assert Deadline.parse("2d clock") == Deadline(48 * H, "clock")
    for bad in ("3x", "1.5d", "h", "-1h", "1h wall", ""):
        with pytest.raises(ValueError):
            Deadline.parse(bad)
    with pytest.raises(ValueError, match="whole days"):
        Deadline(H, "working_days")


def test_due_chooses_working_or_clock_time(cal: WorkingCalendar) -> None:
    saturday = wib(2026, 8, 8, 10, 0)
    assert cal.due(saturday, Deadline.parse("1h clock")) == wib(2026, 8, 8, 11, 0)
    assert cal.due(saturday, Deadline.parse("1h")) == wib(2026, 8, 10, 8, 30)
    assert cal.due(wib(2026, 8, 11, 10, 0), Deadline.parse("1d")) == wib(2026, 8, 12, 10, 0)
    start, end = wib(2026, 8, 7, 15, 0), wib(2026, 8, 10, 9, 0)
    assert cal.elapsed(start, end, Deadline.parse("3h")) == 3 * H
    assert cal.elapsed(start, end, Deadline.parse("1h clock")) == end - start


# --------------------------------------------------------------------- limits / speed


def test_search_is_capped() -> None:
    only_one_day = WorkingCalendar(
        hours=OfficeHours.from_mapping({}),
        extra_working_days=frozenset({date(2026, 8, 8)}),
        extra_working_day_hours=((time(7, 30), time(16, 0)),),
    )
    assert only_one_day.add_working_time(wib(2026, 8, 8, 15, 0), H) == wib(2026, 8, 8, 16, 0)
    with pytest.raises(WorkingTimeLimitError, match=str(MAX_SEARCH_DAYS)):
        only_one_day.add_working_time(wib(2026, 8, 8, 15, 0), 2 * H)
    with pytest.raises(WorkingTimeLimitError):
        only_one_day.next_opening(wib(2026, 8, 9))
    with pytest.raises(WorkingTimeLimitError):
        only_one_day.add_working_days(wib(2026, 8, 8, 9, 0), 1)
    with pytest.raises(WorkingTimeLimitError):
        WorkingCalendar().add_working_time(wib(2026, 1, 1), timedelta(hours=20_000))


def test_large_durations_round_trip(cal: WorkingCalendar) -> None:
    # About a year of working time (2026 has roughly 230 working days); its speed is a
    # benchmark matter, not asserted here.
    due = cal.add_working_time(wib(2026, 1, 2, 8, 0), timedelta(hours=1900))
    assert cal.working_time_between(wib(2026, 1, 2, 8, 0), due) == timedelta(hours=1900)


# ------------------------------------------------------------------ property tests

ZONES = st.sampled_from(
    [UTC, WIB, ZoneInfo("Asia/Makassar"), ZoneInfo("America/New_York"), ZoneInfo("Europe/Berlin")]
)
MOMENTS = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=ZONES
)
DURATIONS = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=20))
CALENDARS = st.sampled_from(
    [
        WorkingCalendar(),
        WorkingCalendar.from_settings(
            hours={"mon": "07:30-12:00,13:00-16:00", "fri": "07:30-11:30,13:00-16:30"},
            extra_holidays=[date(2026, 8, 10), date(2026, 12, 31)],
            extra_working_days=[date(2026, 8, 8), date(2026, 3, 20)],
            include_cuti_bersama=False,
        ),
        # Office in a zone with daylight saving time, hours touching the DST switch.
        WorkingCalendar.from_settings(
            "Europe/Berlin",
            hours={"sun": "01:00-04:00,22:00-24:00", "sat": "00:00-24:00"},
            country=None,
        ),
    ]
)
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Aware datetimes sharing a tzinfo compare and subtract by wall clock (ignoring `fold`), and
# fold-dependent ones never compare equal across zones: compare instants in UTC.


def u(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def in_order(*moments: datetime) -> list[datetime]:
    return sorted(moments, key=u)


@PROPERTY
@given(CALENDARS, MOMENTS, DURATIONS)
def test_round_trip(cal: WorkingCalendar, start: datetime, duration: timedelta) -> None:
    due = cal.add_working_time(start, duration)
    assert u(due) >= u(start)
    assert due.tzinfo == cal.tz
    assert cal.working_time_between(start, due) == duration
    if duration:
        # Nothing earlier would do: a moment before `due` has less working time.
        earlier = u(due) - timedelta(microseconds=1)
        assert cal.working_time_between(start, earlier) < duration


@PROPERTY
@given(CALENDARS, MOMENTS, DURATIONS, DURATIONS)
def test_monotonic_in_duration(
    cal: WorkingCalendar, start: datetime, d1: timedelta, d2: timedelta
) -> None:
    d1, d2 = sorted((d1, d2))
    assert u(cal.add_working_time(start, d1)) <= u(cal.add_working_time(start, d2))


@PROPERTY
@given(CALENDARS, MOMENTS, MOMENTS, DURATIONS)
def test_monotonic_in_start(
    cal: WorkingCalendar, s1: datetime, s2: datetime, duration: timedelta
) -> None:
    s1, s2 = in_order(s1, s2)
    assert u(cal.add_working_time(s1, duration)) <= u(cal.add_working_time(s2, duration))
    assert u(cal.add_working_days(s1, 1)) <= u(cal.add_working_days(s2, 1))


@PROPERTY
@given(CALENDARS, MOMENTS, MOMENTS, MOMENTS)
def test_between_is_additive_and_bounded(
    cal: WorkingCalendar, a: datetime, b: datetime, c: datetime
) -> None:
    a, b, c = in_order(a, b, c)
    ab, bc, ac = (
        cal.working_time_between(a, b),
        cal.working_time_between(b, c),
        cal.working_time_between(a, c),
    )
    assert ab + bc == ac
    assert timedelta(0) <= ab <= u(b) - u(a)


@PROPERTY
@given(CALENDARS, MOMENTS)
def test_next_opening_is_working_time(cal: WorkingCalendar, moment: datetime) -> None:
    opening = cal.next_opening(moment)
    assert u(opening) >= u(moment)
    assert cal.is_working_time(opening)
    assert cal.working_time_between(moment, opening) == timedelta(0)
    assert cal.is_working_time(moment) == (u(opening) == u(moment))


@PROPERTY
@given(MOMENTS, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)))
def test_always_open_calendar_is_plain_time(start: datetime, duration: timedelta) -> None:
    # Europe/Berlin has DST switches; working time in a 24/7 office is real elapsed time.
    always = WorkingCalendar.from_settings(
        "Europe/Berlin",
        hours={d: "00:00-24:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
        country=None,
    )
    assert u(always.add_working_time(start, duration)) == u(start) + duration


def test_dst_gap_in_office_hours() -> None:
    # Berlin, Sun 30 Mar 2025: 02:00 CET jumps to 03:00 CEST, so 01:00–04:00 lasts 2 hours.
    berlin = ZoneInfo("Europe/Berlin")
    cal = WorkingCalendar.from_settings("Europe/Berlin", hours={"sun": "01:00-04:00"}, country=None)
    sunday = datetime(2025, 3, 30, 1, 0, tzinfo=berlin)
    assert cal.working_time_between(sunday, datetime(2025, 3, 30, 5, 0, tzinfo=berlin)) == 2 * H
    assert u(cal.add_working_time(sunday, 2 * H)) == u(datetime(2025, 3, 30, 4, 0, tzinfo=berlin))
