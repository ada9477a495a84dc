"""The slot arithmetic alone: days, hours, grid, DST, the booking window."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from features.bookings.calendar_rules import (
    booking_window,
    business_hours,
    misfit,
    parse_days,
    parse_hours,
    slot_starts,
)

from .factories import berlin

RULES = business_hours("Europe/Berlin", "mon-fri", "09:00-17:00", 30)
HALF_HOUR = timedelta(minutes=30)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def day_slots(rules, day: date, length=HALF_HOUR):
    start = datetime.combine(day, time(), rules.zone)
    return slot_starts(rules, start, start + timedelta(days=1), length)


@pytest.mark.parametrize(
    ("spec", "days"),
    [("mon-fri", {0, 1, 2, 3, 4}), ("mon,wed,fri", {0, 2, 4}), ("Mon-Wed, sat", {0, 1, 2, 5}), ("sun", {6})],
)
def test_booking_days_are_parsed_as_ranges_and_lists(spec, days):
    assert parse_days(spec) == days


@pytest.mark.parametrize("spec", ["", "monday", "fri-mon", "mon-xyz", "mon,,fri"])
def test_malformed_booking_days_are_refused(spec):
    with pytest.raises(ValueError, match="BOOKING_DAYS"):
        parse_days(spec)


def test_booking_hours_may_have_a_lunch_break():
    assert parse_hours("13:00-17:00, 09:00-12:00") == ((time(9), time(12)), (time(13), time(17)))


@pytest.mark.parametrize("spec", ["9-17", "17:00-09:00", "09:00-09:00", "09:00-25:00", "09:00-12:00,11:00-13:00"])
def test_malformed_booking_hours_are_refused(spec):
    with pytest.raises(ValueError, match="BOOKING_HOURS"):
        parse_hours(spec)


def test_unknown_time_zone_is_refused():
    with pytest.raises(ValueError, match="BOOKING_TIMEZONE"):
        business_hours("Mars/Olympus_Mons", "mon-fri", "09:00-17:00", 30)


def test_a_business_day_has_sixteen_half_hour_slots_from_nine_to_five_berlin_time():
    slots = day_slots(RULES, date(2030, 3, 4))  # a Monday, winter time (UTC+1)
    assert len(slots) == 16
    assert slots[0] == utc(2030, 3, 4, 8, 0) and slots[-1] == utc(2030, 3, 4, 15, 30)


def test_no_slots_at_the_weekend():
    assert day_slots(RULES, date(2030, 3, 9)) == day_slots(RULES, date(2030, 3, 10)) == []


def test_an_hour_long_slot_must_end_by_closing_time():
    slots = day_slots(RULES, date(2030, 3, 4), timedelta(minutes=60))
    assert len(slots) == 15 and slots[-1] == utc(2030, 3, 4, 15, 0)


def test_slot_size_follows_the_setting():
    rules = business_hours("Europe/Berlin", "mon-fri", "09:00-12:00", 60)
    assert [s.hour for s in day_slots(rules, date(2030, 3, 4), timedelta(minutes=30))] == [8, 9, 10]


def test_spring_forward_week_moves_opening_by_one_utc_hour():
    # Europe/Berlin switches to summer time on Sunday 29 March 2026.
    first = slot_starts(RULES, utc(2026, 3, 27), utc(2026, 3, 31), HALF_HOUR)
    friday = [s for s in first if s.day == 27]
    monday = [s for s in first if s.day == 30]
    assert friday[0] == utc(2026, 3, 27, 8, 0) and len(friday) == 16
    assert monday[0] == utc(2026, 3, 30, 7, 0) and monday[-1] == utc(2026, 3, 30, 14, 30) and len(monday) == 16
    assert not any(s.day in (28, 29) for s in first)


def test_fall_back_week_moves_opening_back():
    # ...and back to winter time on Sunday 25 October 2026.
    slots = slot_starts(RULES, utc(2026, 10, 23), utc(2026, 10, 27), HALF_HOUR)
    assert min(s for s in slots if s.day == 23) == utc(2026, 10, 23, 7, 0)
    assert min(s for s in slots if s.day == 26) == utc(2026, 10, 26, 8, 0)


def test_hours_across_the_spring_gap_only_count_real_time():
    # 01:00-04:00 on the night the clocks skip 02:00-03:00 is two real hours: four slots.
    rules = business_hours("Europe/Berlin", "sun", "01:00-04:00", 30)
    slots = day_slots(rules, date(2026, 3, 29))
    assert slots == [utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 1, 30)]


def test_hours_across_the_autumn_repeat_count_the_repeated_hour():
    # 01:00-04:00 on the night 02:00-03:00 happens twice is four real hours: eight slots.
    rules = business_hours("Europe/Berlin", "sun", "01:00-04:00", 30)
    slots = day_slots(rules, date(2026, 10, 25))
    assert len(slots) == 8 and slots[0] == utc(2026, 10, 24, 23, 0) and slots[-1] == utc(2026, 10, 25, 2, 30)


def test_a_grid_slot_inside_hours_fits():
    assert misfit(RULES, berlin(date(2030, 3, 4), "09:00"), HALF_HOUR) is None
    assert misfit(RULES, berlin(date(2030, 3, 4), "16:00"), timedelta(minutes=60)) is None


@pytest.mark.parametrize(
    ("day", "clock", "minutes", "field"),
    [
        (date(2030, 3, 9), "10:00", 30, "starts_at"),  # Saturday
        (date(2030, 3, 4), "08:30", 30, "starts_at"),  # before opening
        (date(2030, 3, 4), "17:00", 30, "starts_at"),  # at closing
        (date(2030, 3, 4), "10:15", 30, "starts_at"),  # off the grid
        (date(2030, 3, 4), "16:30", 60, "duration_minutes"),  # runs past closing
    ],
)
def test_times_outside_the_rules_misfit_with_the_field_to_blame(day, clock, minutes, field):
    assert misfit(RULES, berlin(day, clock), timedelta(minutes=minutes))[0] == field


def test_a_start_with_seconds_is_off_the_grid():
    assert misfit(RULES, berlin(date(2030, 3, 4), "10:00") + timedelta(seconds=1), HALF_HOUR)[0] == "starts_at"


def test_business_hours_are_local_to_the_booking_zone():
    # 09:00 Berlin in summer is 07:00 UTC; 09:00 UTC is 11:00 Berlin: both fit, 06:00 UTC does not.
    assert misfit(RULES, utc(2030, 7, 1, 7, 0), HALF_HOUR) is None
    assert misfit(RULES, utc(2030, 7, 1, 6, 30), HALF_HOUR) is not None


def test_booking_window_runs_from_notice_to_horizon():
    now = utc(2030, 3, 4, 12, 0)
    assert booking_window(now, min_notice_hours=24, max_days_ahead=60) == (utc(2030, 3, 5, 12, 0), utc(2030, 5, 3, 12, 0))
