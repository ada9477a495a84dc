"""HTTP layer of GET /api/v1/admin/analytics (admins only)."""

from datetime import date, datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Response
from pydantic_core import to_json

from features.admin import analytics
from features.admin.analytics_schemas import Analytics
from shared.analytics import Granularity, stats_periods
from shared.config import SettingsDep
from shared.db import DatabaseDep
from shared.errors import error_responses
from shared.export import CSV_RESPONSE, csv_download
from shared.permissions import IsAdmin
from shared.timefields import is_time_zone

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], responses=error_responses(400, 401, 403, 422, 500))

DEFAULT_DAYS = 30


@router.get("/analytics", response_model=Analytics, responses={200: CSV_RESPONSE})
async def read_analytics(
    _admin: IsAdmin,
    database: DatabaseDep,
    settings: SettingsDep,
    from_: Annotated[date | None, Query(alias="from", description="First local day (default: 30 days to `to`)")] = None,
    to: Annotated[date | None, Query(description="Last local day, inclusive (default: today)")] = None,
    granularity: Annotated[Granularity, Query(description="A point per day (at most 731) or week (Monday on)")] = "day",
    tz: Annotated[str | None, Query(max_length=64, description="IANA time zone (default: BOOKING_TIMEZONE)")] = None,
    format: Annotated[Literal["json", "csv"], Query(description="csv: the series, a row per period")] = "json",
) -> Response:
    """Leads, webinars, whitepapers, bookings, campaign mail, social posts, pages, media: totals and series."""
    zone = tz or settings.booking_timezone
    last = to or (datetime.now(ZoneInfo(zone)).date() if is_time_zone(zone) else date.today())
    first = from_ or last - timedelta(days=DEFAULT_DAYS - 1)
    periods = stats_periods(first=first, last=last, tz=zone, granularity=granularity)
    report = await analytics.analytics(database, periods=periods)
    if format == "csv":
        columns, rows = analytics.csv_rows(report)
        return csv_download(f"analytics-{first}-{last}-{granularity}.csv", columns, rows)
    # Serialized as built (the model documents the body; analytics.analytics says why).
    return Response(to_json(report), media_type="application/json")
