"""The admin analytics: every slice's figures for one range, composed (no slice's tables known here).

What counts, in one place (the README says the same):
- a lead is a webinar registration, a whitepaper's first download by a visitor, or a booking, in
  the period it was made (each person once per webinar, whitepaper or booking; shared/leads.py);
- emails are campaign messages, each event (sent, given up on, first opened, first clicked,
  unsubscribed or bounced through it) in the period it happened;
- posts count in the period they were published, with their newest impressions figure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from features.admin.analytics_schemas import AnalyticsRange, AnalyticsTotals
from features.bookings.api import stats as bookings_stats
from features.email.api import stats as email_stats
from features.linkedin.api import stats as linkedin_stats
from features.media.api import stats as media_stats
from features.pages.api import stats as pages_stats
from features.twitter.api import stats as twitter_stats
from features.webinars.api import stats as webinars_stats
from features.whitepapers.api import stats as whitepapers_stats
from shared.analytics import Series, SliceStats, StatsPeriods
from shared.db import Database

Contributor = Callable[..., Awaitable[SliceStats]]
# Two lanes, each in its own read session, run side by side: the campaign recipients (a million
# rows is most of the work) and everything else. SQLite reads on two connections in parallel,
# the driver threads leave the GIL meanwhile; two lanes keep a pool of five free for others.
_LANES: tuple[tuple[Contributor, ...], ...] = (
    (email_stats,),
    (webinars_stats, whitepapers_stats, bookings_stats, linkedin_stats, twitter_stats, pages_stats, media_stats),
)
_ORDER = (  # of the series in the answer
    webinars_stats, whitepapers_stats, bookings_stats, email_stats, linkedin_stats, twitter_stats, pages_stats,
    media_stats,
)
_GROUPED = ("bookings_by_status", "posts_published", "social_impressions")  # totals keyed by their part


def _group(series: dict[str, Series], prefix: str) -> dict[str, Series]:
    return {name.removeprefix(f"{prefix}."): values for name, values in series.items() if name.startswith(f"{prefix}.")}


def _total(series: dict[str, Series], periods: StatsPeriods) -> Series:
    return sum(series.values(), Series.zeros(periods))


async def collect(database: Database, *, periods: StatsPeriods) -> tuple[dict[str, Series], dict[str, Any]]:
    """Every slice's series by metric name (leads first), and the figures that are no series."""

    async def lane(contributors: tuple[Contributor, ...]) -> list[SliceStats]:
        async with database.session(write=False) as session:
            return [await contribute(session, periods=periods) for contribute in contributors]

    answered = await asyncio.gather(*(lane(contributors) for contributors in _LANES))
    contributors = [contribute for lane_of in _LANES for contribute in lane_of]
    by_contributor = dict(zip(contributors, [part for parts in answered for part in parts], strict=True))
    parts = [by_contributor[contribute] for contribute in _ORDER]
    found: dict[str, Series] = {name: values for part in parts for name, values in part.series.items()}
    bookings = _total(_group(found, "bookings_by_status"), periods)
    by_source = {
        "webinar": found["webinar_registrations"], "whitepaper": found["whitepaper_downloads"], "booking": bookings,
    }
    series = {
        "leads": _total(by_source, periods), **{f"leads_by_source.{k}": v for k, v in by_source.items()},
        "bookings": bookings, **found,
    }
    return series, {name: value for part in parts for name, value in part.totals.items()}


async def analytics(database: Database, *, periods: StatsPeriods) -> dict[str, Any]:
    """Totals and a series per metric over `periods`: the `Analytics` body as plain JSON values.

    A year by day is some 10,000 points: validated through the response model they cost some
    200 ms of CPU, built here as plain values and serialized by pydantic-core about 10."""
    series, figures = await collect(database, periods=periods)
    totals = {name: values.total for name, values in series.items() if "." not in name}
    for prefix in ("leads_by_source", *_GROUPED):
        totals[prefix] = {part: values.total for part, values in _group(series, prefix).items()}
    labels = [period.label.isoformat() for period in periods.periods]
    return {
        "range": AnalyticsRange(
            from_=periods.first, to=periods.last, tz=periods.tz, granularity=periods.granularity,
            start=periods.start, end=periods.end, periods=len(labels),
        ).model_dump(mode="json", by_alias=True),
        "totals": AnalyticsTotals(**totals, **figures).model_dump(mode="json"),
        "series": {
            name: [{"period": label, "value": value} for label, value in zip(labels, values.values, strict=True)]
            for name, values in series.items()
        },
    }


def csv_rows(report: dict[str, Any]) -> tuple[list[str], list[list[object]]]:
    """The series as a table: a row per period, a column per metric."""
    names = list(report["series"])
    columns = list(zip(*(report["series"][name] for name in names), strict=True))
    return ["period", *names], [[points[0]["period"], *(point["value"] for point in points)] for points in columns]
