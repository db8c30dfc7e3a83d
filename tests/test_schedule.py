"""Service hours: open now? next opening? in words, as the customer reads them."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bot.config import ScheduleConfig
from handlers.schedule import Schedule

TZ = ZoneInfo("Asia/Shanghai")
DESK = Schedule(
    ScheduleConfig(
        holidays=["2026-10-01", "2026-10-02", "2026-10-03", "2026-10-05", "2026-10-06", "2026-10-07"],
        workdays={"2026-10-11": ["08:30-12:00", "13:00-17:30"]},
    )
)


def at(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=TZ).timestamp()


@pytest.mark.parametrize(
    ("moment", "is_open", "next_open"),
    [
        ("2026-11-24 09:00", True, "周二 09:00"),  # Tuesday morning: open now
        ("2026-11-24 12:30", False, "周二 13:00"),  # the lunch break is a gap
        ("2026-11-24 17:30", False, "周三 08:30"),  # the window's end is closed
        ("2026-11-21 18:00", False, "周一 08:30"),  # Saturday evening: Sunday is closed
        ("2026-11-22 10:00", False, "周一 08:30"),  # Sunday
        ("2026-10-01 09:00", False, "10月8日 周四 08:30"),  # National Day: a week away, so the date is named
        ("2026-10-11 09:00", True, "周日 09:00"),  # 调休: a make-up Sunday is open
        ("2026-11-24 08:29", False, "周二 08:30"),
    ],
)
def test_open_and_next_opening(moment: str, is_open: bool, next_open: str):
    assert DESK.is_open(at(moment)) is is_open
    assert DESK.describe_next(at(moment)) == next_open


def test_a_holiday_opens_next_on_the_first_day_that_is_not_one():
    # 10-01..10-03 holidays, 10-04 is a Sunday, 10-05..07 holidays: the next opening is 10-08
    assert DESK.next_open(at("2026-10-01 09:00")) == dt.datetime(2026, 10, 8, 8, 30, tzinfo=TZ)
    assert DESK.describe_next(at("2026-10-01 09:00")) == "10月8日 周四 08:30"


def test_a_window_that_crosses_midnight():
    night = Schedule(ScheduleConfig(weekly={"fri": ["22:00-02:00"]}))
    assert night.is_open(at("2026-11-27 23:00"))  # Friday night
    assert night.is_open(at("2026-11-28 01:59"))  # Saturday, still Friday's window
    assert not night.is_open(at("2026-11-28 02:00"))
    assert night.describe_next(at("2026-11-28 03:00")) == "周五 22:00"


def test_another_time_zone():
    utc = Schedule(ScheduleConfig(timezone="UTC", weekly={"mon": ["09:00-17:00"]}))
    assert utc.is_open(at("2026-11-23 17:30"))  # 09:30 UTC
    assert not utc.is_open(at("2026-11-23 16:59"))


def test_hours_in_words():
    assert DESK.describe_hours() == "周一至周六 08:30-12:00、13:00-17:30"
    odd = Schedule(ScheduleConfig(weekly={"mon": ["09:00-18:00"], "tue": ["09:00-18:00"], "sat": ["10:00-12:00"]}))
    assert odd.describe_hours() == "周一至周二 09:00-18:00,周六 10:00-12:00"


def test_a_holiday_is_a_listed_date_that_is_not_a_make_up_workday():
    assert DESK.is_holiday(at("2026-10-01 09:00")) and DESK.is_holiday(at("2026-10-07 23:59"))
    assert not DESK.is_holiday(at("2026-10-04 10:00")), "a Sunday inside the week is not listed"
    assert not DESK.is_holiday(at("2026-10-11 09:00")) and not DESK.is_holiday(at("2026-11-24 09:00"))
    both = Schedule(ScheduleConfig(holidays=["2026-10-10"], workdays={"2026-10-10": ["09:00-12:00"]}))
    assert not both.is_holiday(at("2026-10-10 13:00")), "a make-up workday wins over the holiday list"
