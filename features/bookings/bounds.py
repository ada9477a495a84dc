"""Time bounds from query strings (`?from=&to=`): ISO dates or date-times, read in the booking zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from features.bookings.calendar_rules import BusinessHours
from shared.errors import ValidationFailed


def parse_time_bound(raw: str, *, field: str, rules: BusinessHours, end: bool) -> datetime:
    """An ISO date (a whole day in the booking zone; an end date includes that day) or datetime
    (without an offset it is read in the booking zone), as UTC."""
    try:
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            moment = datetime.fromisoformat(raw)
        else:
            moment = datetime.combine(day + timedelta(days=1) if end else day, time())
        if not 1900 <= moment.year <= 9000:
            raise ValueError
        return (moment.replace(tzinfo=rules.zone) if moment.tzinfo is None else moment).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise ValidationFailed(f"{field}: use an ISO date or date-time, e.g. 2030-03-04", field=field) from exc


def time_range(
    raw_from: str | None, raw_to: str | None, rules: BusinessHours
) -> tuple[datetime | None, datetime | None]:
    """Optional bounds of a query, as UTC; `to` must come after `from`."""
    start = parse_time_bound(raw_from, field="from", rules=rules, end=False) if raw_from else None
    end = parse_time_bound(raw_to, field="to", rules=rules, end=True) if raw_to else None
    if start and end and end <= start:
        raise ValidationFailed("to: must be after from", field="to")
    return start, end
