"""shared/analytics.py: local days and weeks as UTC bounds (DST, odd offsets, gaps at midnight), refusals."""

from datetime import UTC, date, datetime, timedelta

import pytest

from shared.analytics import Series, stats_periods
from shared.errors import ValidationFailed


def _hours(period) -> float:
    return (period.end - period.start) / timedelta(hours=1)


def test_days_are_23_or_25_hours_long_across_dst_in_berlin():
    spring = stats_periods(first=date(2026, 3, 28), last=date(2026, 3, 30), tz="Europe/Berlin", granularity="day")
    autumn = stats_periods(first=date(2026, 10, 25), last=date(2026, 10, 25), tz="Europe/Berlin", granularity="day")
    assert [_hours(p) for p in spring.periods] == [24, 23, 24]
    assert spring.periods[1].start == datetime(2026, 3, 28, 23, tzinfo=UTC)
    assert [_hours(p) for p in autumn.periods] == [25]


def test_periods_follow_each_other_without_gaps():
    periods = stats_periods(first=date(2026, 1, 1), last=date(2026, 12, 31), tz="America/New_York", granularity="day")
    assert len(periods.periods) == 365
    assert all(a.end == b.start for a, b in zip(periods.periods, periods.periods[1:], strict=False))


def test_an_offset_of_five_hours_forty_five_minutes():
    [day] = stats_periods(first=date(2026, 1, 6), last=date(2026, 1, 6), tz="Asia/Kathmandu", granularity="day").periods
    assert day.start == datetime(2026, 1, 5, 18, 15, tzinfo=UTC)


def test_a_day_whose_midnight_does_not_exist_begins_when_its_clock_does():
    # Chile moves its clocks from 00:00 to 01:00 on 2026-09-06: that day begins at 01:00 -03:00.
    days = stats_periods(first=date(2026, 9, 5), last=date(2026, 9, 6), tz="America/Santiago", granularity="day")
    assert days.periods[1].start == datetime(2026, 9, 6, 4, tzinfo=UTC) == days.periods[0].end
    assert _hours(days.periods[1]) == 23


def test_weeks_begin_on_monday_and_are_cut_at_both_ends():
    weeks = stats_periods(first=date(2026, 1, 7), last=date(2026, 1, 20), tz="UTC", granularity="week")
    assert [p.label for p in weeks.periods] == [date(2026, 1, 7), date(2026, 1, 12), date(2026, 1, 19)]
    assert weeks.end == datetime(2026, 1, 21, tzinfo=UTC)


@pytest.mark.parametrize(("first", "last", "tz", "granularity", "field"), [
    (date(2026, 1, 2), date(2026, 1, 1), "UTC", "day", "to"),
    (date(2024, 1, 1), date(2026, 1, 1), "UTC", "day", "from"),
    (date(2026, 1, 1), date(2026, 1, 1), "Nowhere/City", "day", "tz"),
    (date(9999, 12, 31), date(9999, 12, 31), "UTC", "day", "to"),
])
def test_refusals_name_their_field(first, last, tz, granularity, field):
    with pytest.raises(ValidationFailed) as refused:
        stats_periods(first=first, last=last, tz=tz, granularity=granularity)
    assert refused.value.field == field


def test_series_add_up_period_by_period():
    assert (Series((1, 2)) + Series((3, 4))).values == (4, 6) and Series((1, 2)).total == 3
