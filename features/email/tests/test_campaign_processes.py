"""Exactly once across processes: a sender killed with SIGKILL mid-campaign and resumed, two
senders on one database at once, and scheduled campaigns started (or refused) by the worker job."""

import asyncio
import os
import signal
import subprocess
import sys
from datetime import timedelta

from sqlmodel import func, select

from features.email.models import Campaign, CampaignRecipient
from features.email.recipients import CLAIM_LEASE
from features.email.sender import send_campaigns
from features.email.tests.campaign_helpers import BASE, seed_contacts, send_all
from shared.db import utcnow
from shared.jobs import JobContext


def _sender_process(app, cwd) -> subprocess.Popen:
    command = [sys.executable, "-m", "features.email.tests.sending_process",
               app.state.settings.database_url, str(app.state.settings.smtp_port)]
    return subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def _statuses(app, campaign_id) -> dict[str, int]:
    async with app.state.db.session(write=False) as session:
        rows = await session.exec(
            select(CampaignRecipient.status, func.count()).where(CampaignRecipient.campaign_id == campaign_id)
            .group_by(CampaignRecipient.status)
        )
        return dict(rows.all())


async def _started_campaign(client, editor_headers, create_campaign) -> int:
    campaign = await create_campaign()
    response = await client.post(f"{BASE}/campaigns/{campaign['id']}/send", headers=editor_headers)
    assert response.status_code == 202, response.text
    return campaign["id"]


async def test_a_sender_killed_mid_campaign_resumes_without_gap_or_duplicate(
    app, client, editor_headers, smtp, create_campaign, tmp_path
):
    await seed_contacts(app, 1000)
    campaign_id = await _started_campaign(client, editor_headers, create_campaign)
    smtp.delay = 0.002
    process = _sender_process(app, tmp_path)
    try:
        while len(smtp.messages) < 300:
            assert process.poll() is None, process.stderr.read().decode()
            await asyncio.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=10)
    received_before = smtp.count_by_recipient()
    statuses = await _statuses(app, campaign_id)
    # Every accepted message but at most the one in flight was recorded as sent, and at most one
    # recipient was left `sending` (the documented window).
    assert 0 <= sum(received_before.values()) - statuses["sent"] <= 1
    assert statuses.get("sending", 0) <= 2  # and the one claimed ahead, never sent
    assert statuses["sent"] < 1000  # killed mid-campaign

    await send_all(app, clock_offset=CLAIM_LEASE + timedelta(seconds=1))  # the killed claim has lapsed

    assert await _statuses(app, campaign_id) == {"sent": 1000}
    counts = smtp.count_by_recipient()
    assert set(counts) == {f"person{i}@example.com" for i in range(1000)}  # nobody skipped
    duplicates = [address for address, n in counts.items() if n > 1]
    assert len(duplicates) <= 1 and all(counts[a] == 2 for a in duplicates)
    async with app.state.db.session(write=False) as session:
        assert (await session.get(Campaign, campaign_id)).status == "sent"


async def test_two_sending_processes_never_mail_the_same_recipient(
    app, client, editor_headers, smtp, create_campaign, tmp_path
):
    await seed_contacts(app, 600)
    campaign_id = await _started_campaign(client, editor_headers, create_campaign)
    processes = [_sender_process(app, tmp_path) for _ in range(2)]
    for process in processes:
        while process.poll() is None:
            await asyncio.sleep(0.05)
        assert process.returncode == 0, process.stderr.read().decode()

    counts = smtp.count_by_recipient()
    assert len(counts) == 600 and set(counts.values()) == {1}
    assert await _statuses(app, campaign_id) == {"sent": 600}


def _job_context(app, offset: timedelta) -> JobContext:
    return JobContext(
        database=app.state.db, settings=app.state.settings, mailer=app.state.mailer, clock=lambda: utcnow() + offset
    )


async def test_a_scheduled_campaign_is_started_by_the_worker_when_due(
    app, client, editor_headers, smtp, create_campaign
):
    await seed_contacts(app, 3)
    due = (utcnow() + timedelta(hours=2)).replace(microsecond=0)
    campaign = await create_campaign(scheduled_at=due.isoformat())
    scheduled = await client.post(f"{BASE}/campaigns/{campaign['id']}/send", headers=editor_headers)
    assert scheduled.status_code == 202 and scheduled.json()["status"] == "scheduled"

    await send_campaigns(_job_context(app, timedelta(hours=1)))  # not yet due
    assert smtp.messages == []
    await send_campaigns(_job_context(app, timedelta(hours=2, minutes=10)))
    assert len(smtp.count_by_recipient()) == 3
    sent = (await client.get(f"{BASE}/campaigns/{campaign['id']}", headers=editor_headers)).json()
    assert sent["status"] == "sent" and sent["stats"]["sent"] == 3


async def test_a_scheduled_campaign_found_hours_late_fails_instead_of_sending(
    app, client, editor_headers, smtp, create_campaign
):
    await seed_contacts(app, 3)
    due = (utcnow() + timedelta(minutes=30)).replace(microsecond=0)
    campaign = await create_campaign(scheduled_at=due.isoformat())
    await client.post(f"{BASE}/campaigns/{campaign['id']}/send", headers=editor_headers)

    await send_campaigns(_job_context(app, timedelta(hours=4)))  # the server was down meanwhile

    assert smtp.messages == []
    failed = (await client.get(f"{BASE}/campaigns/{campaign['id']}", headers=editor_headers)).json()
    assert failed["status"] == "failed" and "minutes after its scheduled time" in failed["status_reason"]
    assert failed["stats"]["recipients"] == 0
    # Staff decide: clear the schedule and send it deliberately.
    cleared = await client.put(f"{BASE}/campaigns/{campaign['id']}", json={"scheduled_at": None}, headers=editor_headers)
    assert cleared.status_code == 200
    resent = await client.post(f"{BASE}/campaigns/{campaign['id']}/send", headers=editor_headers)
    assert resent.status_code == 202 and resent.json()["status"] == "sending"
    await send_all(app)
    assert len(smtp.count_by_recipient()) == 3
