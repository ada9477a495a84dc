"""A year of activity for the analytics benchmark, written with set-based INSERTs (seconds, not minutes).

`python -m tests.benchmarks.analytics_seed PATH` seeds a database already at head. Every row falls
in YEAR, spread evenly over it (recursive CTEs number the rows; the times are written in the text
form SQLAlchemy stores, shared/dialect.py's `_SQLITE_DATETIME`).
"""

from __future__ import annotations

import sqlite3
import sys
import time
from dataclasses import dataclass

YEAR = 2025
SECONDS = 365 * 86_400


@dataclass(frozen=True)
class Sizes:
    contacts: int = 100_000  # the email slice's leads, each with its source
    registrations: int = 50_000
    downloads: int = 40_000  # with the registrations and bookings: 100,000 leads in the year
    bookings: int = 10_000
    campaigns: int = 10
    recipients_per_campaign: int = 100_000  # 1,000,000 campaign recipient rows
    webinars: int = 200
    whitepapers: int = 20
    posts: int = 500  # per network, three snapshots each
    pages: int = 200


def _when(index: str, count: int, shift_seconds: int = 0) -> str:
    """SQL for the instant of row `index` of `count` spread over YEAR (plus a shift), in stored form."""
    offset = f"CAST(({index}) * {SECONDS} / {count} AS INTEGER) + {shift_seconds}"
    return f"strftime('%Y-%m-%d %H:%M:%f', '{YEAR}-01-01', '+' || ({offset}) || ' seconds') || '000'"


def _numbers(count: int) -> str:
    return f"WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {count - 1}) "


def seed(path: str, sizes: Sizes = Sizes()) -> dict[str, int]:
    """Seeds the database at `path`; returns the figures the analytics must find for YEAR."""
    db = sqlite3.connect(path)
    # A throwaway benchmark database: no fsync while seeding (the server reopens it in WAL mode).
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA journal_mode = MEMORY")
    db.execute("PRAGMA cache_size = -200000")
    now = f"'{YEAR}-01-01 00:00:00.000000'"
    s = sizes
    statements = [
        f"INSERT INTO media_items (stored_name, filename, mime_type, kind, size, sha256, is_public, created_at) "
        f"VALUES ('seed', 'seed.pdf', 'application/pdf', 'document', 1048576, 'seed', 0, {now})",
        _numbers(s.whitepapers) + "INSERT INTO whitepapers (slug, title, summary, language, status, download_count, "
        "document_media_id, created_at, updated_at) SELECT 'wp-' || i, '{\"en\": \"W\"}', '{\"en\": \"S\"}', 'en', "
        f"'published', 0, 1, {now}, {now} FROM n",
        _numbers(s.webinars) + "INSERT INTO webinars (slug, title, description, starts_at, duration_minutes, timezone, "
        "status, sequence, capacity, created_at, updated_at) SELECT 'webinar-' || i, '{\"en\": \"W\"}', '{}', "
        f"{_when('i', s.webinars, 3600)}, 60, 'Europe/Berlin', 'published', 0, 300, {now}, {now} FROM n",
        _numbers(s.registrations) + "INSERT INTO webinar_registrations (webinar_id, first_name, last_name, email, "
        "email_normalized, language, consent_marketing, created_at) SELECT i % " + str(s.webinars) + " + 1, 'Ada', "
        "'L', 'r' || i || '@example.com', 'r' || i || '@example.com', 'en', i % 2, "
        f"{_when('i', s.registrations)} FROM n",
        _numbers(s.downloads) + "INSERT INTO whitepaper_downloads (whitepaper_id, email, first_name, last_name, "
        f"language, consent_marketing, times, created_at, last_downloaded_at) SELECT i % {s.whitepapers} + 1, "
        f"'d' || i || '@example.com', 'Ada', 'L', 'en', 1, 1, {_when('i', s.downloads)}, {_when('i', s.downloads)} "
        "FROM n",
        # Distinct starts (active bookings hold their slot), asked for three days ahead.
        _numbers(s.bookings) + "INSERT INTO bookings (first_name, last_name, email, language, consent_marketing, "
        "topic, starts_at, ends_at, duration_minutes, timezone, status, created_at, updated_at) SELECT 'Ada', 'L', "
        f"'b' || i || '@example.com', 'en', 1, 'Consultation', {_when('i', s.bookings, 3 * 86_400)}, "
        f"{_when('i', s.bookings, 3 * 86_400 + 1800)}, 30, 'Europe/Berlin', "
        "CASE i % 5 WHEN 0 THEN 'pending' WHEN 1 THEN 'confirmed' WHEN 2 THEN 'cancelled' WHEN 3 THEN 'completed' "
        f"ELSE 'no_show' END, {_when('i', s.bookings)}, {_when('i', s.bookings)} FROM n",
        _numbers(s.contacts) + "INSERT INTO email_contacts (email, language, status, soft_bounces, created_at, "
        f"updated_at) SELECT 'c' || i || '@example.com', 'en', 'subscribed', 0, {_when('i', s.contacts)}, "
        f"{_when('i', s.contacts)} FROM n",
        "INSERT INTO email_contact_sources (contact_id, source, created_at) SELECT id, "
        "CASE id % 3 WHEN 0 THEN 'webinar:1' WHEN 1 THEN 'whitepaper:1' ELSE 'booking:' || id END, created_at "
        "FROM email_contacts",
        f"INSERT INTO email_templates (name, subject, html_body, created_at, updated_at) VALUES ('T', "
        f"'{{\"en\": \"S\"}}', '{{\"en\": \"<p>x</p>\"}}', {now}, {now})",
        _numbers(s.campaigns) + "INSERT INTO email_campaigns (name, template_id, audience, status, track_opens, "
        f"track_clicks, consecutive_failures, created_at, updated_at) SELECT 'C' || i, 1, '{{}}', 'sent', 1, 1, 0, "
        f"{now}, {now} FROM n",
    ]
    total = s.campaigns * s.recipients_per_campaign
    at = _when("i", total)
    # Each campaign's messages spread over the year with the others'; 1 in 100 given up on (bounced),
    # 3 in 10 opened an hour after, 1 in 12 clicked, 1 in 200 unsubscribed.
    statements.append(
        _numbers(total) + "INSERT INTO email_campaign_recipients (campaign_id, contact_id, status, attempts, "
        "next_attempt_at, sent_at, failed_at, bounced_at, opened_at, clicked_at, unsubscribed_at) SELECT "
        f"i % {s.campaigns} + 1, i / {s.campaigns} % {s.contacts} + 1, CASE WHEN i % 100 = 7 THEN 'failed' ELSE 'sent' END, 1, "
        f"{at}, CASE WHEN i % 100 != 7 THEN {at} END, CASE WHEN i % 100 = 7 THEN {at} END, "
        f"CASE WHEN i % 100 = 7 THEN {at} END, CASE WHEN i % 10 < 3 THEN {_when('i', total, 3600)} END, "
        f"CASE WHEN i % 12 = 1 THEN {_when('i', total, 3700)} END, CASE WHEN i % 200 = 3 THEN {_when('i', total, 7200)} "
        "END FROM n"
    )
    for network in ("linkedin", "twitter"):
        statements += [
            _numbers(s.posts) + f"INSERT INTO {network}_posts (status, attempts, published_at, created_at, updated_at) "
            f"SELECT 'published', 1, {_when('i', s.posts)}, {now}, {now} FROM n",
            _numbers(3) + f"INSERT INTO {network}_engagement_snapshots (post_id, fetched_at, metrics) SELECT p.id, "
            f"{now}, json_object('impressions', (n.i + 1) * 100) FROM {network}_posts AS p CROSS JOIN n "
            "ORDER BY n.i, p.id",
        ]
    statements.append(
        _numbers(s.pages) + "INSERT INTO pages (slug, title, content, status, is_published, published_at, version, "
        f"created_at, updated_at) SELECT 'page-' || i, '{{\"en\": \"P\"}}', '{{\"en\": \"<p>x</p>\"}}', 'published', 1, "
        f"{_when('i', s.pages)}, 1, {now}, {now} FROM n"
    )
    with db:
        for statement in statements:
            db.execute(statement)
    db.close()
    # What the analytics of the whole year must say (the CASEs above, counted).
    failed = sum(1 for i in range(100) if i == 7) * total // 100
    return {
        "leads": s.registrations + s.downloads + s.bookings, "emails_sent": total - failed, "emails_failed": failed,
        "emails_opened": total * 3 // 10, "posts": s.posts,
    }


def main() -> None:
    started = time.perf_counter()
    print(seed(sys.argv[1]), f"{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
