"""The body of GET /api/v1/admin/analytics."""

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.analytics import Granularity

_POINT_EXAMPLE = {"period": "2030-03-25", "value": 14}
_RANGE_EXAMPLE = {
    "from": "2030-03-25", "to": "2030-03-31", "tz": "Europe/Berlin", "granularity": "week",
    "start": "2030-03-24T23:00:00Z", "end": "2030-03-31T22:00:00Z", "periods": 1,
}
_TOTALS_EXAMPLE = {
    "leads": 38, "leads_by_source": {"webinar": 21, "whitepaper": 14, "booking": 3},
    "webinar_registrations": 21, "webinars_held": 1, "webinar_seats": 50, "webinar_seats_taken": 31,
    "webinar_fill_rate": 0.62, "whitepaper_downloads": 14, "bookings": 3,
    "bookings_by_status": {"pending": 1, "confirmed": 1, "cancelled": 1, "completed": 0, "no_show": 0},
    "emails_sent": 1200, "emails_failed": 4, "emails_opened": 410, "emails_clicked": 87, "unsubscribes": 6,
    "bounces": 5, "posts_published": {"linkedin": 2, "twitter": 3},
    "social_impressions": {"linkedin": 5400, "twitter": 1320}, "pages_published": 1,
    "media_bytes": 73400320, "media_items": 112, "media_bytes_uploaded": 2097152,
}


class SeriesPoint(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_POINT_EXAMPLE]})

    period: date  # the local date the day or week begins on (a week cut by the range begins on `from`)
    value: int


class AnalyticsRange(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_RANGE_EXAMPLE]})

    from_: date = Field(serialization_alias="from")
    to: date  # inclusive
    tz: str
    granularity: Granularity
    start: datetime  # the UTC instant `from` begins
    end: datetime  # the UTC instant the day after `to` begins
    periods: int


class AnalyticsTotals(BaseModel):
    """Sums over the range; `webinar_*` concern webinars that started in it; `media_bytes` and
    `media_items` are what is stored now."""

    model_config = ConfigDict(json_schema_extra={"examples": [_TOTALS_EXAMPLE]})

    leads: int
    leads_by_source: dict[str, int]
    webinar_registrations: int
    webinars_held: int
    webinar_seats: int
    webinar_seats_taken: int
    webinar_fill_rate: float | None  # None: no webinar with a capacity started in the range
    whitepaper_downloads: int
    bookings: int
    bookings_by_status: dict[str, int]
    emails_sent: int
    emails_failed: int
    emails_opened: int
    emails_clicked: int
    unsubscribes: int
    bounces: int
    posts_published: dict[str, int]
    social_impressions: dict[str, int]
    pages_published: int
    media_bytes: int
    media_items: int
    media_bytes_uploaded: int


class Analytics(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "range": _RANGE_EXAMPLE, "totals": _TOTALS_EXAMPLE,
        "series": {"leads": [_POINT_EXAMPLE], "emails_sent": [{"period": "2030-03-25", "value": 1200}]},
    }]})

    range: AnalyticsRange
    totals: AnalyticsTotals
    # One list per metric, a point per period; nested totals are flattened (`leads_by_source.webinar`).
    series: dict[str, list[SeriesPoint]]
