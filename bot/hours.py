"""Service hours as the admin writes them: weekly windows, holidays and make-up workdays, refused
when two windows would be open at once."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from bot.config_types import WEEKDAYS, Problems, Strict, Windows

__all__ = ["ScheduleConfig"]

_STANDARD_DAY = ["08:30-12:00", "13:00-17:30"]


class ScheduleConfig(Strict):
    """Service hours: weekly windows, holidays (closed) and make-up workdays (调休, open)."""

    timezone: str = "Asia/Shanghai"
    weekly: dict[str, Windows] = Field(default_factory=lambda: {d: list(_STANDARD_DAY) for d in WEEKDAYS[:6]})
    holidays: list[str] = []
    workdays: dict[str, Windows] = {}

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(v)
        except Exception:
            raise ValueError(f"'{v}' is not a time zone name like Asia/Shanghai") from None
        return v

    @field_validator("weekly")
    @classmethod
    def _days(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        bad = [d for d in v if d not in WEEKDAYS]
        if bad:
            raise ValueError(f"unknown day(s) {', '.join(bad)}; use {', '.join(WEEKDAYS)}")
        return v

    @field_validator("holidays")
    @classmethod
    def _dates(cls, v: list[str]) -> list[str]:
        return [_date(d) for d in v]

    @field_validator("workdays")
    @classmethod
    def _workdays(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        return {_date(d): w for d, w in v.items()}

    @model_validator(mode="after")
    def _no_overlaps(self) -> ScheduleConfig:
        """Two windows open at once would be one desk's hours counted twice (handover, next_open)."""
        import datetime as dt

        problems: list[tuple[str, str]] = []  # keys in full: the loader passes them on as they are
        for i, day in enumerate(WEEKDAYS):
            windows, after = self.weekly.get(day, []), WEEKDAYS[(i + 1) % 7]
            clashes = _overlaps(windows) + [
                f'"{w}" runs past midnight into {after}\'s "{n}"'
                for w, n in _spilling(windows, self.weekly.get(after, []))
            ]
            problems += [(f"schedule.weekly.{day}", c) for c in clashes]
        for date, windows in self.workdays.items():
            before = (dt.date.fromisoformat(date) - dt.timedelta(days=1)).isoformat()
            after = (dt.date.fromisoformat(date) + dt.timedelta(days=1)).isoformat()
            clashes = _overlaps(windows) + [
                f'"{w}" runs past midnight into {after}\'s "{n}"'
                for w, n in _spilling(windows, self._windows_of(after))
            ]
            if before not in self.workdays:  # a make-up day before this one checks its own spill above
                clashes += [
                    f'"{n}" starts before {before}\'s "{w}" ends'
                    for w, n in _spilling(self._windows_of(before), windows)
                ]
            problems += [(f"schedule.workdays.{date}", c) for c in clashes]
        if problems:
            raise Problems(problems)
        return self

    def _windows_of(self, date: str) -> list[str]:
        """The windows that start on this date, as handlers.schedule reads them."""
        import datetime as dt

        if date in self.workdays:
            return self.workdays[date]
        if date in self.holidays:
            return []
        return self.weekly.get(WEEKDAYS[dt.date.fromisoformat(date).weekday()], [])


def _span(window: str) -> tuple[int, int]:
    """A window as minutes from its day's midnight; one that runs past midnight ends after 1440."""
    start, end = (int(t[:2]) * 60 + int(t[3:]) for t in window.split("-"))
    return start, end if end > start else end + 1440


def _overlaps(windows: list[str]) -> list[str]:
    spans = sorted((_span(w), w) for w in windows)
    return [f'"{a}" overlaps "{b}"' for (sa, a), (sb, b) in zip(spans, spans[1:], strict=False) if sb[0] < sa[1]]


def _spilling(windows: list[str], next_day: list[str]) -> list[tuple[str, str]]:
    """(window, next day's window) pairs where the first, running past midnight, is still open when the second opens."""
    return [(w, n) for w in windows for n in next_day if _span(n)[0] < _span(w)[1] - 1440]


def _date(v: Any) -> str:
    import datetime as dt

    try:
        return dt.date.fromisoformat(str(v)).isoformat()
    except ValueError:
        raise ValueError(f"{v!r} is not a date like 2026-10-01") from None
