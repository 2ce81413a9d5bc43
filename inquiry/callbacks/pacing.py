"""Attempt pacing (pure): when a call counts toward giving up, when the next one is due, how
many a task gets, and how far staff may put an urgent call off.

Urgent tasks are paced on their own interval, at any hour (the on-call clinician calls);
the others in business hours. A call made before the interval has passed since the last
counted one is recorded but does not count: three misses in a minute are one try.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from inquiry.callbacks.models import CallbackTask, Channel
from inquiry.callbacks.schedule import calendar_for
from inquiry.config import Settings
from inquiry.models import as_utc
from inquiry.triage.taxonomy import Priority


def is_urgent(task: CallbackTask) -> bool:
    return task.priority == Priority.URGENT


def counts(task: CallbackTask, now: datetime, settings: Settings) -> bool:
    """Whether a call made now counts toward giving up (email outcomes always do)."""
    if task.channel != Channel.PHONE or task.last_counted_at is None:
        return True
    last = as_utc(task.last_counted_at)
    if is_urgent(task):
        return now >= last + timedelta(minutes=settings.callback_retry_urgent_minutes)
    return now >= calendar_for(settings).add_business_hours(last, settings.callback_retry_hours)


def attempt_limit(task: CallbackTask, settings: Settings) -> int:
    """Counted attempts before giving up (or, on an urgent task, before an admin decides)."""
    if is_urgent(task):
        return settings.callback_max_attempts_urgent + task.extra_attempts
    return settings.callback_max_attempts + task.extra_attempts


def retry_at(task: CallbackTask, now: datetime, settings: Settings) -> datetime:
    """When to call again after a missed call."""
    if is_urgent(task):
        return now + timedelta(minutes=settings.callback_retry_urgent_minutes)
    calendar = calendar_for(settings)
    return calendar.next_attempt_at(now, task.callback_window, settings.callback_retry_hours)


def furthest_without_admin(now: datetime, settings: Settings) -> datetime:
    """The latest an agent may put an urgent call off to: the close of the next business day."""
    calendar = calendar_for(settings)
    day: date = now.astimezone(calendar.zone).date() + timedelta(days=1)
    for _ in range(400):
        if calendar.is_business_day(day):
            break
        day += timedelta(days=1)
    return datetime.combine(day, calendar.closes, tzinfo=calendar.zone)
