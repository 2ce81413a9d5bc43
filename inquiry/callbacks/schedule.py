"""The service-level clock: business hours in clinic time, Ontario statutory holidays skipped.

Pure and cheap: no database, holiday sets cached per year, calendars cached per settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from inquiry.config import Settings
from inquiry.triage.taxonomy import Priority

Window = tuple[time, time]

_MAX_DAYS_AHEAD = 400  # a calendar with no business day at all must not loop forever


@lru_cache(maxsize=64)
def holidays_of(subdivision: str, year: int) -> frozenset[date]:
    """Canadian statutory holidays of one province in one year."""
    if not subdivision:
        return frozenset()
    return frozenset(holidays.country_holidays("CA", subdiv=subdivision, years=year))


def parse_window(value: str) -> Window:
    start, _, end = value.partition("-")
    return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    """Business hours of the clinic and the visitor's call-back windows."""

    zone: ZoneInfo
    days: frozenset[int]  # ISO weekdays
    opens: time
    closes: time
    subdivision: str
    windows: dict[str, Window]
    due_hours: dict[Priority, float]  # business hours from arrival to due; 0 is at once

    def is_business_day(self, day: date) -> bool:
        return day.isoweekday() in self.days and day not in holidays_of(self.subdivision, day.year)

    def due_at(self, priority: Priority, start: datetime) -> datetime:
        """When a call of this priority, owed from `start`, is due."""
        return self.add_business_hours(start, self.due_hours[priority])

    def add_business_hours(self, start: datetime, hours: float) -> datetime:
        """`start` plus this many hours counted only while the clinic is open."""
        if hours <= 0:
            return start.astimezone(UTC)
        remaining = timedelta(hours=hours)
        local = start.astimezone(self.zone)
        day, clock = local.date(), local.time().replace(tzinfo=None)
        for _ in range(_MAX_DAYS_AHEAD):
            if self.is_business_day(day) and clock < self.closes:
                begin = max(clock, self.opens)
                available = self._at(day, self.closes) - self._at(day, begin)
                if remaining <= available:
                    return (self._at(day, begin) + remaining).astimezone(UTC)
                remaining -= available
            day, clock = day + timedelta(days=1), time.min
        raise ValueError("no business day within a year: check INQUIRY_BUSINESS_DAYS")

    def business_days_between(self, start: datetime, end: datetime) -> float:
        """The open hours from `start` to `end`, in business days (a whole day is 1.0); at
        most a year back, so the work stays bounded."""
        day_length = datetime.combine(date.min, self.closes) - datetime.combine(
            date.min, self.opens
        )
        start = max(start, end - timedelta(days=_MAX_DAYS_AHEAD))
        local_start, local_end = start.astimezone(self.zone), end.astimezone(self.zone)
        open_time = timedelta()
        day = local_start.date()
        while day <= local_end.date():
            if self.is_business_day(day):
                begin = max(self._at(day, self.opens), local_start)
                finish = min(self._at(day, self.closes), local_end)
                if finish > begin:
                    open_time += finish - begin
            day += timedelta(days=1)
        return open_time / day_length

    def next_attempt_at(self, after: datetime, window: str, retry_hours: float) -> datetime:
        """The next call after a missed one: `retry_hours` later, inside the visitor's window."""
        return self.first_in_window(self.add_business_hours(after, retry_hours), window)

    def first_in_window(self, start: datetime, window: str) -> datetime:
        """The first moment from `start` on a business day inside the visitor's window."""
        opens, closes = self.windows.get(window, (self.opens, self.closes))
        local = start.astimezone(self.zone)
        day, clock = local.date(), local.time().replace(tzinfo=None)
        for _ in range(_MAX_DAYS_AHEAD):
            if self.is_business_day(day) and clock < closes:
                if clock >= opens:
                    return start.astimezone(UTC)
                return self._at(day, opens).astimezone(UTC)
            day, clock = day + timedelta(days=1), time.min
        raise ValueError("no business day within a year: check INQUIRY_BUSINESS_DAYS")

    def _at(self, day: date, clock: time) -> datetime:
        return datetime.combine(day, clock, tzinfo=self.zone)


def calendar_for(settings: Settings) -> BusinessCalendar:
    """The calendar these settings describe (built once per distinct configuration)."""
    return _calendar(
        settings.clinic_timezone,
        tuple(settings.business_days),
        settings.business_open,
        settings.business_close,
        settings.holiday_subdivision,
        (
            settings.callback_window_morning,
            settings.callback_window_afternoon,
            settings.callback_window_evening,
        ),
        (
            settings.callback_due_high_hours,
            settings.callback_due_normal_days,
            settings.callback_due_low_days,
        ),
    )


@lru_cache(maxsize=16)
def _calendar(
    zone: str,
    days: tuple[int, ...],
    opens: time,
    closes: time,
    subdivision: str,
    windows: tuple[str, str, str],
    due: tuple[float, float, float],
) -> BusinessCalendar:
    morning, afternoon, evening = (parse_window(w) for w in windows)
    day_hours = (datetime.combine(date.min, closes) - datetime.combine(date.min, opens)).seconds
    high, normal_days, low_days = due
    return BusinessCalendar(
        zone=ZoneInfo(zone),
        days=frozenset(days),
        opens=opens,
        closes=closes,
        subdivision=subdivision,
        windows={"morning": morning, "afternoon": afternoon, "evening": evening},
        due_hours={
            Priority.URGENT: 0.0,
            Priority.HIGH: high,
            Priority.NORMAL: normal_days * day_hours / 3600,
            Priority.LOW: low_days * day_hours / 3600,
        },
    )
