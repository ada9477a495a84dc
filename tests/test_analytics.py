"""GET /api/v1/admin/analytics: every slice's figures per local day or week, totals, CSV, refusals."""

import csv
import io

import pytest
from sqlalchemy import event

from tests.analytics_seed import Seeder
from tests.engines import outside_the_app, table_reads

URL = "/api/v1/admin/analytics"
STATUSES = ("pending", "confirmed", "cancelled", "completed", "no_show")


def values(body, name):
    return [point["value"] for point in body["series"][name]]


async def _get(client, headers, **params):
    response = await client.get(URL, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
async def seeded(app):
    """Three winter days in Berlin (UTC+1), 2026-01-05 to 07, with rows just inside and outside each edge."""
    async with app.state.db.session() as session:
        seed = Seeder(session)
        held = await seed.webinar("2026-01-06T10:00Z", capacity=10)
        overbooked = await seed.webinar("2026-01-07T10:00Z", capacity=2)
        await seed.webinar("2026-01-07T12:00Z", capacity=None)  # held, no seats to fill
        await seed.webinar("2026-01-06T12:00Z", status="cancelled")
        await seed.webinar("2026-01-08T10:00Z")  # after the range
        for instant in ("2026-01-04T23:30Z", "2026-01-05T22:59Z", "2026-01-05T23:00Z", "2026-01-04T22:59Z"):
            await seed.registration(held, instant)  # local: 5th 00:30, 5th 23:59, 6th 00:00, 4th 23:59
        for _ in range(3):
            await seed.registration(overbooked, "2025-12-01T10:00Z")  # seats taken count, the series not
        document = await seed.media("2026-01-05T09:00Z", 1000)
        await seed.media("2025-12-01T09:00Z", 500)
        await seed.download(document, "2026-01-07T12:00Z")
        await seed.booking("2026-01-06T10:00Z", "pending")
        await seed.booking("2026-01-06T11:00Z", "cancelled")
        await seed.booking("2026-01-07T22:59Z", "confirmed")  # local 23:59 on the 7th
        await seed.booking("2026-01-07T23:00Z", "confirmed")  # local midnight: the 8th
        campaign = await seed.campaign()
        await seed.recipient(campaign, sent_at="2026-01-05T10:00Z", opened_at="2026-01-06T10:00Z",
                             clicked_at="2026-01-06T10:05Z")
        await seed.recipient(campaign, sent_at="2026-01-05T11:00Z", unsubscribed_at="2026-01-07T09:00Z")
        await seed.recipient(campaign, status="failed", failed_at="2026-01-06T08:00Z", bounced_at="2026-01-06T08:00Z")
        await seed.recipient(campaign, status="pending")
        await seed.recipient(campaign, sent_at="2026-01-04T10:00Z", opened_at="2026-01-05T08:00Z")
        await seed.post("linkedin", "2026-01-05T12:00Z", {"impressions": 100}, {"impressions": 250, "reactions": 3})
        await seed.post("linkedin", "2026-01-06T12:00Z")  # no figures yet
        await seed.post("linkedin", None, status="failed")
        await seed.post("linkedin", "2026-01-03T12:00Z", {"impressions": 999})
        await seed.post("twitter", "2026-01-07T08:00Z", {"impressions": 7}, {"likes": 3})  # newest has none
        await seed.post("twitter", "2026-01-07T09:00Z", {"impressions": 40})
        await seed.page("2026-01-06T09:00Z")
        await seed.page("2026-01-06T09:00Z", deleted=True)
        await seed.page("2026-01-06T09:00Z", status="draft")


async def test_totals_and_series_per_local_day(client, admin_headers, seeded):
    body = await _get(client, admin_headers, **{"from": "2026-01-05", "to": "2026-01-07"})
    assert body["range"] == {
        "from": "2026-01-05", "to": "2026-01-07", "tz": "Europe/Berlin", "granularity": "day",
        "start": "2026-01-04T23:00:00Z", "end": "2026-01-07T23:00:00Z", "periods": 3,
    }
    assert [p["period"] for p in body["series"]["leads"]] == ["2026-01-05", "2026-01-06", "2026-01-07"]
    expected_series = {
        "leads": [2, 3, 2], "leads_by_source.webinar": [2, 1, 0], "leads_by_source.whitepaper": [0, 0, 1],
        "leads_by_source.booking": [0, 2, 1], "bookings_by_status.pending": [0, 1, 0],
        "bookings_by_status.confirmed": [0, 0, 1], "emails_sent": [2, 0, 0], "emails_failed": [0, 1, 0],
        "emails_opened": [1, 1, 0], "emails_clicked": [0, 1, 0], "unsubscribes": [0, 0, 1], "bounces": [0, 1, 0],
        "posts_published.linkedin": [1, 1, 0], "social_impressions.linkedin": [250, 0, 0],
        "posts_published.twitter": [0, 0, 2], "social_impressions.twitter": [0, 0, 40], "pages_published": [0, 1, 0],
        "media_bytes_uploaded": [1000, 0, 0],
    }
    assert {name: values(body, name) for name in expected_series} == expected_series
    assert body["totals"] == {
        "leads": 7, "leads_by_source": {"webinar": 3, "whitepaper": 1, "booking": 3},
        "webinar_registrations": 3, "webinars_held": 3, "webinar_seats": 12, "webinar_seats_taken": 6,
        "webinar_fill_rate": 0.5, "whitepaper_downloads": 1, "bookings": 3,
        "bookings_by_status": {"pending": 1, "confirmed": 1, "cancelled": 1, "completed": 0, "no_show": 0},
        "emails_sent": 2, "emails_failed": 1, "emails_opened": 2, "emails_clicked": 1, "unsubscribes": 1,
        "bounces": 1, "posts_published": {"linkedin": 2, "twitter": 2},
        "social_impressions": {"linkedin": 250, "twitter": 40}, "pages_published": 1,
        "media_bytes": 1500, "media_items": 2, "media_bytes_uploaded": 1000,
    }


async def test_another_time_zone_moves_the_day_boundaries(client, admin_headers, seeded):
    # In New York (UTC-5) 23:30Z on the 4th is still the 4th, and 23:00Z on the 5th still the 5th.
    body = await _get(client, admin_headers, **{"from": "2026-01-05", "to": "2026-01-06", "tz": "America/New_York"})
    assert body["range"]["start"] == "2026-01-05T05:00:00Z" and body["range"]["tz"] == "America/New_York"
    assert values(body, "webinar_registrations") == [2, 0]
    # Kathmandu is UTC+05:45: 22:59Z on the 4th is 04:44 on the 5th, 22:59Z on the 5th is the 6th.
    kathmandu = await _get(client, admin_headers, **{"from": "2026-01-05", "to": "2026-01-06", "tz": "Asia/Kathmandu"})
    assert kathmandu["range"]["start"] == "2026-01-04T18:15:00Z"
    assert values(kathmandu, "webinar_registrations") == [2, 2] and values(kathmandu, "emails_sent") == [2, 0]


async def test_a_week_across_the_spring_dst_change_in_berlin(app, client, admin_headers):
    async with app.state.db.session() as session:
        seed = Seeder(session)
        webinar = await seed.webinar("2026-05-01T10:00Z")
        # Local: Sun 22nd 23:30 (before), Mon 23rd 00:30, Sun 29th 23:30 (CEST), Mon 30th 00:30 (CEST).
        for instant in ("2026-03-22T22:30Z", "2026-03-22T23:30Z", "2026-03-29T21:30Z", "2026-03-29T22:30Z"):
            await seed.registration(webinar, instant)
    body = await _get(client, admin_headers, **{"from": "2026-03-23", "to": "2026-04-05", "granularity": "week"})
    assert body["range"]["start"] == "2026-03-22T23:00:00Z" and body["range"]["end"] == "2026-04-05T22:00:00Z"
    assert body["series"]["webinar_registrations"] == [
        {"period": "2026-03-23", "value": 2}, {"period": "2026-03-30", "value": 1},
    ]
    # The 29th has 23 hours: 23:00Z on the 28th to 22:00Z on the 29th.
    day = await _get(client, admin_headers, **{"from": "2026-03-29", "to": "2026-03-30"})
    assert day["range"]["start"] == "2026-03-28T23:00:00Z" and values(day, "webinar_registrations") == [1, 1]


async def test_weeks_run_monday_to_sunday_and_are_cut_at_the_range(app, client, admin_headers):
    async with app.state.db.session() as session:
        seed = Seeder(session)
        webinar = await seed.webinar("2026-05-01T10:00Z")
        for instant in ("2026-01-10T12:00Z", "2026-01-12T12:00Z", "2026-01-20T12:00Z", "2026-01-21T12:00Z"):
            await seed.registration(webinar, instant)
    body = await _get(client, admin_headers, **{"from": "2026-01-07", "to": "2026-01-20", "granularity": "week"})
    assert body["series"]["leads"] == [
        {"period": "2026-01-07", "value": 1}, {"period": "2026-01-12", "value": 1},
        {"period": "2026-01-19", "value": 1},
    ]
    assert body["totals"]["webinar_registrations"] == 3 and body["range"]["periods"] == 3


async def test_an_empty_range_is_zeros_in_every_series(client, admin_headers):
    body = await _get(client, admin_headers, **{"from": "2026-01-01", "to": "2026-01-03"})
    assert all(values(body, name) == [0, 0, 0] for name in body["series"])
    totals = body["totals"]
    assert totals["leads"] == 0 and totals["webinar_fill_rate"] is None and totals["media_bytes"] == 0
    assert totals["bookings_by_status"] == dict.fromkeys(STATUSES, 0)
    assert totals["posts_published"] == {"linkedin": 0, "twitter": 0}
    assert totals["leads_by_source"] == {"webinar": 0, "whitepaper": 0, "booking": 0}


async def test_the_default_range_is_the_last_thirty_days_in_the_booking_time_zone(client, admin_headers):
    body = await _get(client, admin_headers)
    assert body["range"]["periods"] == 30 and body["range"]["tz"] == "Europe/Berlin"
    assert len(body["series"]["emails_sent"]) == 30


async def test_csv_exports_the_series_a_row_per_period(client, admin_headers, seeded):
    params = {"from": "2026-01-05", "to": "2026-01-07", "format": "csv"}
    response = await client.get(URL, params=params, headers=admin_headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert 'filename="analytics-2026-01-05-2026-01-07-day.csv"' in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    body = await _get(client, admin_headers, **{"from": "2026-01-05", "to": "2026-01-07"})
    assert rows[0] == ["period", *body["series"]]
    assert [row[0] for row in rows[1:]] == ["2026-01-05", "2026-01-06", "2026-01-07"]
    assert [int(row[rows[0].index("social_impressions.linkedin")]) for row in rows[1:]] == [250, 0, 0]


async def test_only_admins_see_the_analytics(client, editor_headers, viewer_headers):
    assert (await client.get(URL, headers=viewer_headers)).status_code == 403
    assert (await client.get(URL, headers=editor_headers)).status_code == 403
    anonymous = await client.get(URL, params={"format": "csv"})
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "AUTHENTICATION_REQUIRED"


@pytest.mark.parametrize(("params", "field"), [
    ({"tz": "Mars/Olympus_Mons"}, "tz"),
    ({"tz": "localtime"}, "tz"),
    ({"from": "2026-02-01", "to": "2026-01-31"}, "to"),
    ({"from": "2024-01-01", "to": "2026-01-01"}, "from"),  # 732 days by day
    ({"from": "2016-01-01", "to": "2026-01-31", "granularity": "week"}, "from"),
    ({"from": "9999-12-30", "to": "9999-12-31"}, "to"),
    ({"from": "0001-01-01", "to": "0001-01-02"}, "to"),  # before the first UTC instant in Berlin
    ({"from": "2026-13-01"}, None),
    ({"granularity": "month"}, None),
    ({"format": "xml"}, None),
])
async def test_a_bad_range_or_zone_is_a_422_in_the_envelope(client, admin_headers, params, field):
    response = await client.get(URL, params=params, headers=admin_headers)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    if field is not None:
        assert error["field"] == field


async def test_the_longest_ranges_are_answered(client, admin_headers):
    days = await _get(client, admin_headers, **{"from": "2024-01-01", "to": "2025-12-31"})
    weeks = await _get(client, admin_headers, **{"from": "2016-02-01", "to": "2026-01-31", "granularity": "week"})
    assert days["range"]["periods"] == 731 and weeks["range"]["periods"] == 522


async def test_every_figure_is_read_through_an_index(app, client, admin_headers, seeded):
    # A real planner's choice, not a forced one: a few hundred rows of each kind and fresh statistics
    # (what the worker's maintenance keeps up), so that reading a whole table costs more than going
    # through an index. PostgreSQL's planner rightly scans a table of a few rows whole, and with
    # enable_seqscan=off it picks between indexes on costs that tie at that size; SQLite's would
    # choose the same either way.
    async with app.state.db.session() as session:
        await Seeder(session).volume(400)
    outside_the_app(app.state.settings.database_url, "ANALYZE")
    statements: list[tuple[str, tuple]] = []

    def remember(_conn, _cursor, statement, parameters, _context, _many):
        if "ranges" in statement:
            statements.append((statement, parameters))

    engine = app.state.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", remember)
    try:
        await _get(client, admin_headers, **{"from": "2026-01-05", "to": "2026-01-07"})
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    assert len(statements) == 8  # a statement per slice
    async with app.state.db.session(write=False) as session:
        for statement, parameters in statements:
            reads = await table_reads(session, statement, parameters)
            assert reads and all(read.index for read in reads), (statement, reads)
            assert any(read.ranged for read in reads), (statement, reads)
