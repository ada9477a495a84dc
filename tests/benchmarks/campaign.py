"""Campaign sending: the real sender against a bare aiosmtplib loop, and its peak memory.

Both send to the same SMTP sink, a separate process that accepts, counts and drops every
message (counting_sink.py), with EMAIL_SEND_RATE lifted. Each side runs in its own process
(campaign_child.py), as the sender does in production (`magnetiq worker`, apart from the API),
and times only its sending:

- reference: COUNT copies of one campaign message, rendered once by the same code the sender
  uses (campaign_message, with the same tracked links, open pixel and unsubscribe headers) and
  sent by a bare loop over one aiosmtplib connection;
- ours: a COUNT-recipient campaign sent by CampaignSender until nothing is left (one short write
  transaction per message, a freshly rendered message per recipient).

Contacts and the template are written straight to a freshly migrated SQLite file (set-based
inserts), and the campaign is started with start_campaign. Afterwards every recipient row must
be `sent` and the sink must have received exactly one message per recipient; anything else
counts as errors. The sender's peak memory (VmHWM) for a 1,000- and a 10,000-recipient campaign
should lie within 20% of each other: nothing in it may grow with the campaign.

BENCH_CAMPAIGN_SIZE sets COUNT (10,000); BENCH_CAMPAIGN_PROFILE=FILE writes a cProfile of the
COUNT-recipient sender to FILE (the figures of that run are then the profiler's, not ours).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import bindparam, text

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COUNT = int(os.environ.get("BENCH_CAMPAIGN_SIZE", "10000"))
SMALL = 1000
PROFILE = os.environ.get("BENCH_CAMPAIGN_PROFILE")
RATIO_TARGET = 0.50
MEMORY_TARGET = 1.20
REFERENCE_FROM = "reference@bench.example"

# A newsletter of about 3 KB of HTML with three links (tracked) and the unsubscribe link.
_STORY = (
    "<h2>{title}</h2><p>Hello {{{{ contact.first_name }}}}, B2B teams at companies like "
    "{{{{ contact.company }}}} turn visitors into qualified leads with webinars, whitepapers and "
    "bookings. This month we look at what makes a landing page convert, and what does not.</p>"
    '<p><a href="https://example.com/{slug}?utm_source=newsletter&amp;utm_medium=email">{link}</a></p>'
)
TEMPLATE = {
    "name": "Benchmark newsletter",
    "subject": {"en": "News for {{ contact.first_name }}: three stories", "de": "Neues für {{ contact.first_name }}"},
    "html_body": {
        language: "<html><body><h1>{{ campaign.name }}</h1>"
        + "".join(_STORY.format(title=f"{title} {n}", slug=f"story-{n}", link=link) for n in range(1, 4)) * 2
        + '<p>You get this mail because you subscribed. <a href="{{ unsubscribe_url }}">' + unsubscribe
        + "</a></p></body></html>"
        for language, title, link, unsubscribe in (
            ("en", "Story", "Read the story", "Unsubscribe"), ("de", "Artikel", "Weiterlesen", "Abmelden"),
        )
    },
}


@dataclass
class CampaignRow:
    name: str
    messages: int
    rate: float  # messages per second
    peak_mib: float
    errors: int = 0
    cpu_ms: float = 0.0  # CPU time of the sending process per message (all its threads)


def _env(database: Path | None, sender: str, smtp_port: int) -> dict[str, str]:
    env = {
        "ENVIRONMENT": "test", "WORKER_ENABLED": "false", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port),
        "SMTP_FROM_EMAIL": sender, "EMAIL_SEND_RATE": "1000000", "PUBLIC_BASE_URL": "https://bench.example",
    }
    if database is not None:
        env["DATABASE_URL"] = f"sqlite+aiosqlite:///{database}"
    return env


def _settings(env: dict[str, str]):
    from shared.config import Settings

    return Settings(**{name.lower(): value for name, value in env.items()})


async def _seed(env: dict[str, str], count: int) -> bytes:
    """`count` subscribed contacts and the template written straight to the file, a campaign
    started with start_campaign; returns one of its messages rendered as the sender renders it."""
    import magnetiq.registry  # noqa: F401 (every table, for the foreign keys the ORM resolves)
    from features.email.campaigns import start_campaign
    from features.email.links import click_url, open_pixel_url, unsubscribe_url
    from features.email.models import Campaign, Contact, EmailTemplate
    from features.email.rendering import (
        campaign_message,
        check_template,
        compiled_template,
        template_values,
        track_links,
        with_open_pixel,
    )
    from features.email.wire import message_bytes
    from shared.db import Database, UTCDateTime, utcnow

    settings = _settings(env)
    database = Database.from_url(settings.database_url)
    now = utcnow()
    check_template(subject=TEMPLATE["subject"], html_body=TEMPLATE["html_body"], text_body=None)
    contacts = text(
        "INSERT INTO email_contacts (email, first_name, last_name, company, language, status, consent_at, "
        "consent_origin, soft_bounces, created_at, updated_at) "
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count) "
        "SELECT 'person' || i || '@example.com', 'First' || i, 'Last' || i, 'Company ' || (i % 97), "
        "CASE WHEN i % 4 = 0 THEN 'de' ELSE 'en' END, 'subscribed', :now, 'staff', 0, :now, :now FROM n"
    ).bindparams(bindparam("now", type_=UTCDateTime()))
    try:
        async with database.session() as session:
            await (await session.connection()).execute(contacts, {"count": count, "now": now})
            template = EmailTemplate(**TEMPLATE)
            session.add(template)
            await session.flush()
            campaign = Campaign(name="Benchmark campaign", template_id=template.id, track_opens=True,
                                track_clicks=True)
            session.add(campaign)
            await session.flush()
            started = await start_campaign(session, campaign=campaign, now=now)
            assert started == count, f"{started} recipients for {count} contacts"
            contact = await session.get(Contact, 1)
    finally:
        await database.dispose()
    # The reference's message: the first recipient's, rendered as CampaignSender._message does.
    link = unsubscribe_url(settings, contact_id=contact.id, recipient_id=1)
    values = template_values(contact=contact.model_dump(), campaign_name=campaign.name, unsubscribe_url=link)
    rendered = compiled_template(template).render("en", values)
    html = track_links(rendered.html, lambda target: click_url(settings, recipient_id=1, target=target), keep=link)
    html = with_open_pixel(html, open_pixel_url(settings, recipient_id=1))
    rendered = type(rendered)(language=rendered.language, subject=rendered.subject, html=html, text=rendered.text)
    message = campaign_message(settings, to=contact.email, rendered=rendered, unsubscribe_url=link,
                               campaign_id=campaign.id)
    # The sender serializes with message_bytes: it must give what the stdlib gives (the stdlib
    # reuses the boundary message_bytes set).
    fast = message_bytes(message)
    assert fast == message.as_bytes(), "message_bytes differs from Message.as_bytes"
    return fast


def _child(arguments: list[str], env: dict[str, str]) -> dict[str, float]:
    output = subprocess.run([str(BIN / "python"), "-m", "tests.benchmarks.campaign_child", *arguments],
                            env={**os.environ, **env}, cwd=ROOT, capture_output=True, text=True)
    if output.returncode != 0:
        raise SystemExit(f"campaign benchmark process failed:\n{output.stderr[-3000:]}")
    return json.loads(output.stdout.strip().splitlines()[-1])


def _recipient_errors(database: Path, count: int) -> int:
    """Recipients of the campaign not `sent`, plus one if the campaign itself did not finish."""
    with sqlite3.connect(database) as connection:
        sent = connection.execute("SELECT count(*) FROM email_campaign_recipients WHERE status = 'sent'").fetchone()[0]
        [(status,)] = connection.execute("SELECT status FROM email_campaigns").fetchall()
    return (count - sent) + (status != "sent")


def _start_sink(workdir: Path) -> tuple[subprocess.Popen, int, Path]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    counts = workdir / "sink-counts.json"
    sink = subprocess.Popen([str(BIN / "python"), "-m", "tests.benchmarks.counting_sink", str(port), str(counts)],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    if sink.stdout is None or sink.stdout.readline().strip() != "ready":
        sink.kill()
        raise SystemExit("the SMTP sink did not start")
    return sink, port, counts


Rows = list[tuple[CampaignRow, tuple[str, float] | None]]  # a row and what it is held to, if anything


def bench_campaign(workdir: Path) -> tuple[Rows, float]:
    """The rows of the table, and the seconds the measured processes took, set-up aside."""
    migrated = workdir / "campaign-migrated.db"
    subprocess.run([str(BIN / "magnetiq"), "db", "upgrade"], env={**os.environ, **_env(migrated, "x@x", 1)},
                   cwd=ROOT, check=True, capture_output=True)
    sink, port, counts_file = _start_sink(workdir)
    runs: dict[int, tuple[Path, dict[str, str]]] = {}
    try:
        message = b""
        for count in (COUNT, SMALL):
            database = workdir / f"campaign-{count}.db"
            shutil.copyfile(migrated, database)
            env = _env(database, f"campaign-{count}@bench.example", port)
            seeded = asyncio.run(_seed(env, count))
            message = message or seeded
            runs[count] = (database, env)
        message_file = workdir / "reference-message.eml"
        message_file.write_bytes(message)
        started = time.monotonic()
        # Half the reference before the sender and half after (ABA): a slow spell of this shared
        # machine weighs on both sides alike.
        halves = [(0, COUNT // 2), (COUNT // 2, COUNT - COUNT // 2)]
        reference_env = _env(None, "", port)
        references = [_child(["reference", str(message_file), str(halves[0][0]), str(halves[0][1]), REFERENCE_FROM],
                             reference_env)]
        big = _child(["sender", *(["--profile", PROFILE] if PROFILE else [])], runs[COUNT][1])
        references.append(_child(["reference", str(message_file), str(halves[1][0]), str(halves[1][1]),
                                  REFERENCE_FROM], reference_env))
        small = _child(["sender"], runs[SMALL][1])
        wall = time.monotonic() - started
        reference = {"seconds": sum(r["seconds"] for r in references),
                     "cpu_seconds": sum(r["cpu_seconds"] for r in references),
                     "peak_kib": max(r["peak_kib"] for r in references)}
    finally:
        sink.terminate()
        sink.wait(timeout=10)
    received = json.loads(counts_file.read_text())

    def delivery_errors(sender: str, count: int) -> int:
        messages, distinct = received.get(sender, [0, 0])
        return abs(messages - count) + (count - distinct)  # one message to each recipient, no more

    rows: Rows = []
    reference_row = CampaignRow(
        f"reference: bare aiosmtplib loop over one connection, one pre-rendered campaign message ({len(message):,} B), "
        "half before and half after ours",
        COUNT, COUNT / reference["seconds"], reference["peak_kib"] / 1024, delivery_errors(REFERENCE_FROM, COUNT),
        1000 * reference["cpu_seconds"] / COUNT,
    )
    rows.append((reference_row, None))
    for count, result in ((COUNT, big), (SMALL, small)):
        database, env = runs[count]
        errors = delivery_errors(env["SMTP_FROM_EMAIL"], count) + _recipient_errors(database, count)
        turns = int(result["runs"])
        row = CampaignRow(
            f"campaign sender, {count:,} recipients (own process, tracked links and opens; "
            f"{turns} run{'s' if turns > 1 else ''} of CampaignSender)",
            count, count / result["seconds"], result["peak_kib"] / 1024, errors, 1000 * result["cpu_seconds"] / count,
        )
        rows.append((row, ("ratio", RATIO_TARGET) if count == COUNT else None))
    peaks = (big["peak_kib"], small["peak_kib"])
    memory = CampaignRow(f"peak memory of the sender, {COUNT:,} vs {SMALL:,} recipients", 0, 0.0,
                         max(peaks) / 1024 - min(peaks) / 1024)
    rows.append((memory, ("memory", max(peaks) / min(peaks))))
    return rows, wall


def print_campaign_table(results: tuple[Rows, float]) -> bool:
    """Prints the table; returns whether a figure missed its target."""
    rows, wall = results
    print(f"\ncampaigns: one aiosmtpd sink process, EMAIL_SEND_RATE lifted, each side in its own process "
          f"({wall:.0f} s of sending)\n")
    print("| campaign | messages | msg/s | CPU ms/msg | peak memory MiB | errors | ratio | target |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    failed = False
    reference = rows[0][0]
    for row, target in rows:
        ratio, goal = "", ""
        if target and target[0] == "ratio":
            value = row.rate / reference.rate
            ratio, goal = f"{value:.2f}", f">= {RATIO_TARGET:.2f} of the reference, no errors"
            failed |= value < RATIO_TARGET
        elif target:
            ratio, goal = f"{target[1]:.2f}", f"<= {MEMORY_TARGET:.2f} (within 20%)"
            failed |= target[1] > MEMORY_TARGET
        failed |= row.errors > 0
        messages = f"{row.messages:,}" if row.messages else ""
        rate = f"{row.rate:,.0f}" if row.rate else ""
        peak = f"+{row.peak_mib:.1f}" if target and target[0] == "memory" else f"{row.peak_mib:.1f}"
        cpu = f"{row.cpu_ms:.2f}" if row.cpu_ms else ""
        print(f"| {row.name} | {messages} | {rate} | {cpu} | {peak} | {row.errors} | {ratio} | {goal} |")
    return failed
