"""When a consultation can happen: business days and hours, the slot grid, the booking window.

Pure functions over aware datetimes. Opening hours are wall-clock times in the booking time
zone; every period is turned into UTC instants first and slots are counted in real time from
there, so a day with a DST change gets exactly the slots that really exist in it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo

from shared.timefields import is_time_zone

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS_RANGE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


@dataclass(frozen=True)
class BusinessHours:
    zone: ZoneInfo
    days: frozenset[int]  # date.weekday(): 0 is Monday
    periods: tuple[tuple[time, time], ...]  # opening periods of a business day, local wall-clock
    slot: timedelta


def parse_days(spec: str) -> frozenset[int]:
    """'mon-fri', 'mon,wed,fri' or 'mon-wed,fri' as weekday numbers (Monday is 0)."""
    days: set[int] = set()
    for part in (p.strip().lower() for p in spec.split(",")):
        first, _, last = part.partition("-")
        if first not in WEEKDAYS or (last and last not in WEEKDAYS):
            raise ValueError(f"BOOKING_DAYS: unknown day in '{part}'; use {', '.join(WEEKDAYS)}")
        start, end = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
        if end < start:
            raise ValueError(f"BOOKING_DAYS: '{part}' runs backwards")
        days.update(range(start, end + 1))
    return frozenset(days)


def _clock(hours: str, minutes: str) -> time:
    if hours == "24" and minutes == "00":
        return time.max
    return time(int(hours), int(minutes))


def parse_hours(spec: str) -> tuple[tuple[time, time], ...]:
    """'09:00-17:00' or '09:00-12:00,13:00-17:00' as (opens, closes) pairs in order."""
    periods = []
    for part in (p.strip() for p in spec.split(",")):
        match = _HOURS_RANGE.match(part)
        if not match:
            raise ValueError(f"BOOKING_HOURS: '{part}' is not like 09:00-17:00")
        try:
            opens, closes = _clock(*match.group(1, 2)), _clock(*match.group(3, 4))
        except ValueError as exc:
            raise ValueError(f"BOOKING_HOURS: '{part}' is not a valid time range") from exc
        if closes <= opens:
            raise ValueError(f"BOOKING_HOURS: '{part}' must close after it opens (same day)")
        periods.append((opens, closes))
    periods.sort()
    for (_, closes), (opens, _) in pairwise(periods):
        if opens < closes:
            raise ValueError("BOOKING_HOURS: periods overlap")
    return tuple(periods)


def parse_zone(name: str) -> ZoneInfo:
    """An IANA time zone name such as 'Europe/Berlin'."""
    if not is_time_zone(name):
        raise ValueError(f"BOOKING_TIMEZONE: unknown time zone '{name}'; use an IANA name such as Europe/Berlin")
    return ZoneInfo(name)


def spec_problems(zone_name: str, days: str, hours: str) -> list[str]:
    """Why each malformed setting is refused, naming its variable; empty when business_hours takes them."""
    problems = []
    for parse, spec in ((parse_zone, zone_name), (parse_days, days), (parse_hours, hours)):
        try:
            parse(spec)
        except ValueError as exc:
            problems.append(str(exc))
    return problems


@lru_cache(maxsize=32)
def business_hours(zone_name: str, days: str, hours: str, slot_minutes: int) -> BusinessHours:
    """The rules from their settings strings; cached, since settings rarely change."""
    return BusinessHours(parse_zone(zone_name), parse_days(days), parse_hours(hours), timedelta(minutes=slot_minutes))


def _instant(day: date, clock: time, zone: ZoneInfo) -> datetime:
    if clock == time.max:  # '24:00' is the next midnight
        return datetime.combine(day + timedelta(days=1), time(), zone).astimezone(UTC)
    return datetime.combine(day, clock, zone).astimezone(UTC)


def opening_periods(rules: BusinessHours, first_day: date, last_day: date) -> Iterator[tuple[datetime, datetime]]:
    """Open [start, end) intervals in UTC of every business day from first_day to last_day (local dates)."""
    day = first_day
    while day <= last_day:
        if day.weekday() in rules.days:
            for opens, closes in rules.periods:
                yield _instant(day, opens, rules.zone), _instant(day, closes, rules.zone)
        day += timedelta(days=1)


def local_date(instant: datetime, rules: BusinessHours) -> date:
    return instant.astimezone(rules.zone).date()


def slot_starts(rules: BusinessHours, start: datetime, end: datetime, length: timedelta) -> list[datetime]:
    """Grid starts in [start, end) where `length` fits inside one opening period."""
    starts = []
    for opens, closes in opening_periods(rules, local_date(start, rules), local_date(end, rules)):
        slot = opens
        while slot + length <= closes:
            if start <= slot < end:
                starts.append(slot)
            slot += rules.slot
    return starts


def misfit(rules: BusinessHours, starts_at: datetime, length: timedelta) -> tuple[str, str] | None:
    """None when [starts_at, +length) is a bookable grid slot; else (field, reason)."""
    day = local_date(starts_at, rules)
    if day.weekday() not in rules.days:
        return "starts_at", "Consultations are not held on this day"
    for opens, closes in opening_periods(rules, day, day):
        if opens <= starts_at < closes:
            if (starts_at - opens) % rules.slot:
                return "starts_at", f"Start times are every {rules.slot.seconds // 60} minutes from opening"
            if starts_at + length > closes:
                return "duration_minutes", "The consultation would run past closing time"
            return None
    return "starts_at", "This time is outside business hours"


def booking_window(now: datetime, *, min_notice_hours: int, max_days_ahead: int) -> tuple[datetime, datetime]:
    """The earliest and the latest start that may be booked at `now`."""
    return now + timedelta(hours=min_notice_hours), now + timedelta(days=max_days_ahead)


def overlaps(start: datetime, end: datetime, busy: list[tuple[datetime, datetime]]) -> bool:
    return any(busy_start < end and busy_end > start for busy_start, busy_end in busy)
