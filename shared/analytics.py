"""Figures per period, written once for every slice's `stats` function (the admin analytics).

A request names local dates, a time zone and a granularity; `stats_periods` turns them into the
UTC instants where each local day or week begins, in Python and linear in the number of periods,
so a day of 23 or 25 hours (DST) or an offset of +05:45 is bucketed exactly. `per_period` then
asks the database for a slice's figures per period in one statement: the periods are a small table
(shared/dialect.py's `time_ranges`), and each figure of each period is a correlated subquery that
reads one range of an index on the timestamp. That steps over each matching index entry once and
sorts nothing (a GROUP BY over a range join costs several times more per row), and no row reaches Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.dialect import time_ranges
from shared.errors import ValidationFailed
from shared.timefields import is_time_zone

Granularity = Literal["day", "week"]
# Bounds on the answer's size (periods x metrics): two years of days, ten years of weeks.
MAX_DAYS: dict[str, int] = {"day": 731, "week": 3653}


@dataclass(frozen=True)
class Period:
    label: date  # the local date the period begins on
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive


@dataclass(frozen=True)
class StatsPeriods:
    """The periods of one analytics request, in order and without gaps."""

    first: date
    last: date  # inclusive
    tz: str
    granularity: Granularity
    periods: tuple[Period, ...]

    @property
    def start(self) -> datetime:
        return self.periods[0].start

    @property
    def end(self) -> datetime:
        return self.periods[-1].end

    @cached_property
    def ranges(self) -> Any:
        """The periods as a table to range-join against (`position`, `lo`, `hi`), built once per request."""
        return time_ranges([(p.start, p.end) for p in self.periods])


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    # A midnight that does not exist (a DST gap at 00:00) maps, with fold 0, to the first instant
    # of that day; an ambiguous one to its first occurrence.
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


def stats_periods(*, first: date, last: date, tz: str, granularity: Granularity) -> StatsPeriods:
    """The days, or the weeks (Monday to Sunday, the first and last cut at the range), from `first`
    to `last` in zone `tz`; ValidationFailed (422) for an unknown zone, a reversed or too long range."""
    if not is_time_zone(tz):
        raise ValidationFailed("must be an IANA time zone name such as Europe/Berlin", field="tz")
    if last < first:
        raise ValidationFailed("must not be before from", field="to")
    if (last - first).days + 1 > MAX_DAYS[granularity]:
        raise ValidationFailed(f"covers at most {MAX_DAYS[granularity]} days by {granularity}", field="from")
    zone = ZoneInfo(tz)
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    starts = [day for n, day in enumerate(days) if n == 0 or granularity == "day" or day.weekday() == 0]
    try:
        instants = [_local_midnight(day, zone) for day in [*starts, last + timedelta(days=1)]]
    except OverflowError:  # the first or last representable day
        raise ValidationFailed("is out of range", field="to") from None
    periods = tuple(Period(label, instants[i], instants[i + 1]) for i, label in enumerate(starts))
    return StatsPeriods(first=first, last=last, tz=tz, granularity=granularity, periods=periods)


@dataclass(frozen=True)
class Series:
    """One figure per period, in the order of the request's periods."""

    values: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.values)

    def __add__(self, other: Series) -> Series:
        return Series(tuple(a + b for a, b in zip(self.values, other.values, strict=True)))

    @classmethod
    def zeros(cls, periods: StatsPeriods) -> Series:
        return cls((0,) * len(periods.periods))


@dataclass
class SliceStats:
    """What one slice contributes: series by metric name (their totals are their sums), and
    figures that are no sum over periods (a fill rate, the storage used now)."""

    series: dict[str, Series] = field(default_factory=dict)
    totals: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Figure:
    """One aggregate per period: `aggregate` (default: the number of rows) over the rows whose
    `column` falls in the period, narrowed by `where`; `source` is the FROM when it is not
    `column`'s table. `column` should be indexed (a partial index `WHERE column IS NOT NULL`
    serves too), with any equality of `where` before it in the index."""

    column: Any
    aggregate: Any = None
    where: Sequence[Any] = ()
    source: Any = None

    def in_period(self, ranges: Any) -> Any:
        figure = func.count() if self.aggregate is None else func.coalesce(self.aggregate, 0)
        return (
            select(figure).select_from(self.column.table if self.source is None else self.source)
            .where(self.column >= ranges.c.lo, self.column < ranges.c.hi, *self.where)
            .scalar_subquery()
        )


async def per_period(session: AsyncSession, *, periods: StatsPeriods, figures: dict[str, Figure]) -> dict[str, Series]:
    """Each figure's series, all in one statement (a row per period, a column per figure)."""
    ranges = periods.ranges
    names = list(figures)
    statement = select(ranges.c.position, *(figures[name].in_period(ranges) for name in names))
    rows = (await session.exec(statement.order_by(ranges.c.position))).all()
    columns = list(zip(*rows, strict=True))[1:]  # every request has a period at least
    return {name: Series(tuple(int(v or 0) for v in column)) for name, column in zip(names, columns, strict=True)}
