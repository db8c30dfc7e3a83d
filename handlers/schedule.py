"""Service hours: is the desk open at a moment, and when does it next open.

Weekly windows per day (a lunch break is a gap between two windows), holidays (closed
although the week says open), make-up workdays (调休: open although the week says closed),
windows that cross midnight ("22:00-02:00" runs into the next day), all in one time zone.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from bot.config import WEEKDAYS, Config, ScheduleConfig

__all__ = ["Schedule", "schedule_of"]

CN_DAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


class Schedule:
    def __init__(self, cfg: ScheduleConfig):
        self.cfg = cfg
        self.tz = ZoneInfo(cfg.timezone)
        self.holidays = {dt.date.fromisoformat(d) for d in cfg.holidays}
        self.workdays = {dt.date.fromisoformat(d): w for d, w in cfg.workdays.items()}

    def windows_of(self, day: dt.date) -> list[str]:
        """The windows that start on this local date."""
        if day in self.workdays:
            return self.workdays[day]
        if day in self.holidays:
            return []
        return self.cfg.weekly.get(WEEKDAYS[day.weekday()], [])

    def intervals(self, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        """The open intervals that start on this date, as aware datetimes (end may be the next day)."""
        out = []
        midnight = dt.datetime.combine(day, dt.time(0), tzinfo=self.tz)
        for w in self.windows_of(day):
            start_s, end_s = w.split("-")
            start, end = _minutes(start_s), _minutes(end_s)
            if end <= start:  # crosses midnight
                end += 24 * 60
            out.append((midnight + dt.timedelta(minutes=start), midnight + dt.timedelta(minutes=end)))
        return sorted(out)

    def local(self, ts: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(ts, self.tz)

    def current_window(self, ts: float) -> tuple[dt.datetime, dt.datetime] | None:
        now = self.local(ts)
        for day in (now.date() - dt.timedelta(days=1), now.date()):
            for start, end in self.intervals(day):
                if start <= now < end:
                    return start, end
        return None

    def last_end(self, ts: float) -> dt.datetime | None:
        """The latest end of a service window at or before this moment (today's or yesterday's)."""
        now = self.local(ts)
        ends = [
            end
            for day in (now.date() - dt.timedelta(days=1), now.date())
            for _, end in self.intervals(day)
            if end <= now
        ]
        return max(ends) if ends else None

    def is_holiday(self, ts: float) -> bool:
        """Today (local date) is under schedule.holidays and is not a make-up workday."""
        day = self.local(ts).date()
        return day in self.holidays and day not in self.workdays

    def is_open(self, ts: float) -> bool:
        return self.current_window(ts) is not None

    def next_open(self, ts: float) -> dt.datetime | None:
        """The next moment the desk opens (now, if it is open); None if never within a year."""
        now = self.local(ts)
        if self.is_open(ts):
            return now
        for offset in range(0, 367):
            for start, _ in self.intervals(now.date() + dt.timedelta(days=offset)):
                if start > now:
                    return start
        return None

    def describe_next(self, ts: float) -> str:
        """'周一 08:30' within the coming week, '10月8日 周四 08:30' beyond it."""
        nxt = self.next_open(ts)
        if nxt is None:
            return "工作时间"
        now = self.local(ts)
        day = CN_DAYS[nxt.weekday()]
        if (nxt.date() - now.date()).days < 7:
            return f"{day} {nxt:%H:%M}"
        return f"{nxt.month}月{nxt.day}日 {day} {nxt:%H:%M}"

    def describe_hours(self) -> str:
        """The weekly hours in words: '周一至周六 08:30-12:00、13:00-17:30'."""
        groups: list[tuple[list[int], list[str]]] = []
        for i, name in enumerate(WEEKDAYS):
            windows = self.cfg.weekly.get(name, [])
            if not windows:
                continue
            if groups and groups[-1][1] == windows and groups[-1][0][-1] == i - 1:
                groups[-1][0].append(i)
            else:
                groups.append(([i], windows))
        parts = []
        for days, windows in groups:
            span = CN_DAYS[days[0]] if len(days) == 1 else f"{CN_DAYS[days[0]]}至{CN_DAYS[days[-1]]}"
            parts.append(f"{span} {'、'.join(windows)}")
        return ",".join(parts) or "暂未设置"


_CACHE: dict[int, Schedule] = {}


def schedule_of(config: Config) -> Schedule:
    """The schedule of a loaded config (built once per config)."""
    sched = _CACHE.get(id(config.schedule))
    if sched is None or sched.cfg is not config.schedule:
        sched = _CACHE[id(config.schedule)] = Schedule(config.schedule)
    return sched
