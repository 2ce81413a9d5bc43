"""The service-level clock: business hours in Toronto, weekends and Ontario holidays skipped."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from inquiry.callbacks.schedule import BusinessCalendar, calendar_for, holidays_of
from inquiry.config import Settings
from inquiry.triage.taxonomy import Priority
from tests.staff.fixtures import toronto


@pytest.fixture
def calendar() -> BusinessCalendar:
    return calendar_for(Settings(_env_file=None))


class TestDueTime:
    def test_urgent_is_due_at_once_even_at_three_on_a_sunday_morning(
        self, calendar: BusinessCalendar
    ) -> None:
        arrived = toronto(2026, 6, 7, 3, 0)
        assert calendar.due_at(Priority.URGENT, arrived) == arrived

    def test_high_is_due_two_business_hours_later_during_the_day(
        self, calendar: BusinessCalendar
    ) -> None:
        assert calendar.due_at(Priority.HIGH, toronto(2026, 6, 3, 10, 0)) == toronto(
            2026, 6, 3, 12, 0
        )

    def test_high_in_the_evening_is_due_the_next_morning(self, calendar: BusinessCalendar) -> None:
        assert calendar.due_at(Priority.HIGH, toronto(2026, 6, 3, 19, 30)) == toronto(
            2026, 6, 4, 11, 0
        )

    def test_high_late_in_the_day_carries_over_the_evening(
        self, calendar: BusinessCalendar
    ) -> None:
        assert calendar.due_at(Priority.HIGH, toronto(2026, 6, 3, 16, 15)) == toronto(
            2026, 6, 4, 10, 15
        )

    def test_high_on_friday_afternoon_carries_over_the_weekend(
        self, calendar: BusinessCalendar
    ) -> None:
        assert calendar.due_at(Priority.HIGH, toronto(2026, 6, 5, 16, 30)) == toronto(
            2026, 6, 8, 10, 30
        )

    def test_normal_is_due_the_same_time_next_business_day(
        self, calendar: BusinessCalendar
    ) -> None:
        assert calendar.due_at(Priority.NORMAL, toronto(2026, 6, 3, 10, 0)) == toronto(
            2026, 6, 4, 10, 0
        )

    def test_normal_on_saturday_is_due_at_the_end_of_monday(
        self, calendar: BusinessCalendar
    ) -> None:
        assert calendar.due_at(Priority.NORMAL, toronto(2026, 6, 6, 11, 0)) == toronto(
            2026, 6, 8, 17, 0
        )

    def test_low_is_due_two_business_days_later(self, calendar: BusinessCalendar) -> None:
        assert calendar.due_at(Priority.LOW, toronto(2026, 6, 4, 14, 0)) == toronto(
            2026, 6, 8, 14, 0
        )

    def test_canada_day_is_skipped(self, calendar: BusinessCalendar) -> None:
        # Tuesday 30 June 16:00: one hour that day, Wednesday 1 July is a holiday, 7 on Thursday.
        assert calendar.due_at(Priority.NORMAL, toronto(2026, 6, 30, 16, 0)) == toronto(
            2026, 7, 2, 16, 0
        )

    def test_business_days_between_count_open_hours_only(self, calendar: BusinessCalendar) -> None:
        # Friday 5 June 13:00 to Monday 8 June 13:00: four open hours each side of a weekend.
        days = calendar.business_days_between(toronto(2026, 6, 5, 13, 0), toronto(2026, 6, 8, 13))
        assert days == 1.0
        # Tuesday 30 June at closing to Thursday 2 July at closing: Canada Day is skipped.
        holiday = calendar.business_days_between(
            toronto(2026, 6, 30, 17, 0), toronto(2026, 7, 2, 17, 0)
        )
        assert holiday == 1.0
        # An evening and a night before opening: no open time at all.
        night = calendar.business_days_between(toronto(2026, 6, 9, 18), toronto(2026, 6, 10, 8))
        assert night == 0.0
        # A start years back is counted from at most a year and a month back.
        years = calendar.business_days_between(toronto(2016, 1, 4, 9), toronto(2026, 6, 10, 9))
        assert 250 < years < 290

    def test_family_day_weekend_is_skipped(self, calendar: BusinessCalendar) -> None:
        # Friday 13 February 2026 16:30; Monday 16 February is Family Day in Ontario.
        assert calendar.due_at(Priority.HIGH, toronto(2026, 2, 13, 16, 30)) == toronto(
            2026, 2, 17, 10, 30
        )

    def test_good_friday_and_the_weekend_are_skipped(self, calendar: BusinessCalendar) -> None:
        # Thursday 2 April 2026 at 17:05; Good Friday 3 April; Easter Monday is a business day.
        assert calendar.due_at(Priority.LOW, toronto(2026, 4, 2, 17, 5)) == toronto(
            2026, 4, 7, 17, 0
        )

    def test_civic_holiday_is_not_statutory_in_ontario(self, calendar: BusinessCalendar) -> None:
        assert calendar.is_business_day(datetime(2026, 8, 3).date())
        assert not calendar.is_business_day(datetime(2026, 12, 28).date())  # Boxing Day observed

    def test_due_time_is_right_across_the_change_to_daylight_time(
        self, calendar: BusinessCalendar
    ) -> None:
        # Friday 6 March 2026 16:00 EST; clocks spring forward on Sunday 8 March.
        due = calendar.due_at(Priority.NORMAL, toronto(2026, 3, 6, 16, 0))
        assert due == toronto(2026, 3, 9, 16, 0)
        assert due == datetime(2026, 3, 9, 20, 0, tzinfo=UTC)  # EDT is UTC-4

    def test_business_hours_and_days_are_configurable(self, tmp_path: Path) -> None:
        saturday_clinic = calendar_for(
            Settings(
                _env_file=None,
                business_days="1,2,3,4,5,6",
                business_open="08:00",
                business_close="12:00",
                holiday_subdivision="",
            )
        )
        assert saturday_clinic.due_at(Priority.HIGH, toronto(2026, 6, 5, 11, 0)) == toronto(
            2026, 6, 6, 9, 0
        )
        # No holidays: Canada Day is a business day.
        assert saturday_clinic.is_business_day(datetime(2026, 7, 1).date())

    def test_holiday_sets_are_cached_per_year(self) -> None:
        holidays_of.cache_clear()
        first = holidays_of("ON", 2026)
        assert holidays_of("ON", 2026) is first
        assert holidays_of.cache_info().hits == 1


class TestNextAttempt:
    def test_two_business_hours_later_when_inside_the_window(
        self, calendar: BusinessCalendar
    ) -> None:
        assert calendar.next_attempt_at(toronto(2026, 6, 3, 12, 30), "afternoon", 2) == toronto(
            2026, 6, 3, 14, 30
        )

    def test_morning_window_past_moves_to_the_next_business_morning(
        self, calendar: BusinessCalendar
    ) -> None:
        # Tuesday 30 June 10:00 + 2h = 12:00, the morning is over; 1 July is Canada Day.
        assert calendar.next_attempt_at(toronto(2026, 6, 30, 10, 0), "morning", 2) == toronto(
            2026, 7, 2, 9, 0
        )

    def test_evening_window_is_honoured_on_business_days(self, calendar: BusinessCalendar) -> None:
        assert calendar.next_attempt_at(toronto(2026, 6, 3, 10, 0), "evening", 2) == toronto(
            2026, 6, 3, 17, 0
        )
        # Friday evening + 2 business hours is Monday 11:00: called Monday evening.
        assert calendar.next_attempt_at(toronto(2026, 6, 5, 18, 0), "evening", 2) == toronto(
            2026, 6, 8, 17, 0
        )

    def test_any_window_means_business_hours(self, calendar: BusinessCalendar) -> None:
        assert calendar.next_attempt_at(toronto(2026, 6, 5, 16, 0), "any", 2) == toronto(
            2026, 6, 8, 10, 0
        )
