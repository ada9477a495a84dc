"""Campaigns over HTTP, apart from the sending itself (test_campaign_sending.py): what may change
when, deletion, the transitions of send, pause, resume and cancel, scheduling, the filters."""

from datetime import timedelta

import pytest
from sqlmodel import select

from features.email.models import CampaignRecipient
from features.email.sender import send_campaigns
from features.email.tests.campaign_helpers import BASE, seed_contacts, send_all
from shared.db import utcnow
from shared.jobs import JobContext
from shared.mail import deliver_due_mail

CAMPAIGNS = f"{BASE}/campaigns"


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


async def _act(client, headers, campaign_id, action):
    return await client.post(f"{CAMPAIGNS}/{campaign_id}/{action}", headers=headers)


async def _status(client, headers, campaign_id) -> str:
    return (await client.get(f"{CAMPAIGNS}/{campaign_id}", headers=headers)).json()["status"]


def _in(hours: float) -> str:
    return (utcnow() + timedelta(hours=hours)).isoformat()


async def _run_worker(app, *, later: timedelta) -> None:
    """One turn of the worker's campaign job, with its clock `later` than now."""
    context = JobContext(database=app.state.db, settings=app.state.settings, mailer=app.state.mailer,
                         clock=lambda: utcnow() + later)
    await send_campaigns(context)


# --- create and change ---------------------------------------------------------------------------


async def test_a_campaign_is_created_as_a_draft_with_empty_counters(client, editor_headers, create_template):
    template = await create_template()
    response = await client.post(CAMPAIGNS, json={"name": "May", "template_id": template["id"]},
                                 headers=editor_headers)
    assert response.status_code == 201, response.text
    campaign = response.json()
    assert campaign["status"] == "draft" and campaign["template_id"] == template["id"]
    assert campaign["audience"] == {"tags": [], "sources": [], "languages": []}
    assert campaign["track_opens"] is False and campaign["track_clicks"] is False
    assert campaign["started_at"] is None and set(campaign["stats"].values()) == {0}


async def test_a_campaign_needs_a_template_that_exists(client, editor_headers, create_campaign):
    error = _error(await client.post(CAMPAIGNS, json={"name": "May", "template_id": 999}, headers=editor_headers), 422)
    assert error["code"] == "VALIDATION_ERROR" and error["field"] == "template_id"
    draft = await create_campaign()
    error = _error(await client.put(f"{CAMPAIGNS}/{draft['id']}", json={"template_id": 999}, headers=editor_headers),
                   422)
    assert error["field"] == "template_id"


async def test_viewers_cannot_write_campaigns(client, viewer_headers, editor_headers, create_campaign):
    campaign = await create_campaign()
    assert (await client.get(f"{CAMPAIGNS}/{campaign['id']}", headers=viewer_headers)).status_code == 200
    for response in (
        await client.post(CAMPAIGNS, json={"name": "x", "template_id": campaign["template_id"]}, headers=viewer_headers),
        await client.put(f"{CAMPAIGNS}/{campaign['id']}", json={"name": "x"}, headers=viewer_headers),
        await _act(client, viewer_headers, campaign["id"], "send"),
        await client.delete(f"{CAMPAIGNS}/{campaign['id']}", headers=editor_headers),
    ):
        assert _error(response, 403)["code"] == "INSUFFICIENT_PERMISSIONS"


async def test_a_draft_may_change_everything(client, editor_headers, create_template, create_campaign):
    campaign = await create_campaign()
    other = await create_template(name="Other")
    body = {"name": "June", "template_id": other["id"], "audience": {"tags": ["vip"]}, "scheduled_at": _in(24),
            "track_opens": True}
    changed = await client.put(f"{CAMPAIGNS}/{campaign['id']}", json=body, headers=editor_headers)
    assert changed.status_code == 200, changed.text
    found = changed.json()
    assert found["name"] == "June" and found["template_id"] == other["id"] and found["audience"]["tags"] == ["vip"]
    assert found["scheduled_at"] is not None and found["track_opens"] is True and found["status"] == "draft"


@pytest.mark.parametrize("field", ["template_id", "audience", "scheduled_at"])
@pytest.mark.parametrize("status", ["sending", "paused", "sent"])
async def test_template_audience_and_schedule_are_frozen_once_started(
    app, client, editor_headers, create_template, create_campaign, field, status
):
    if status != "sent":
        await seed_contacts(app, 2)  # nobody to send to: sent at once
    campaign = await create_campaign()
    assert (await _act(client, editor_headers, campaign["id"], "send")).status_code == 202
    if status == "paused":
        assert (await _act(client, editor_headers, campaign["id"], "pause")).status_code == 200
    assert await _status(client, editor_headers, campaign["id"]) == status
    values = {"template_id": (await create_template())["id"], "audience": {"tags": ["x"]}, "scheduled_at": _in(1)}

    error = _error(await client.put(f"{CAMPAIGNS}/{campaign['id']}", json={field: values[field]},
                                    headers=editor_headers), 409)
    assert error["code"] == "INVALID_TRANSITION" and field in error["message"]
    renamed = await client.put(f"{CAMPAIGNS}/{campaign['id']}", json={"name": "Renamed"}, headers=editor_headers)
    assert renamed.status_code == 200 and renamed.json()["name"] == "Renamed"
    kept = renamed.json()
    assert kept["template_id"] == campaign["template_id"] and kept["audience"] == campaign["audience"]


# --- delete ------------------------------------------------------------------------------------


async def test_a_sending_campaign_cannot_be_deleted_until_paused(app, client, editor_headers, admin_headers,
                                                                 create_campaign):
    await seed_contacts(app, 2)
    campaign = await create_campaign()
    await _act(client, editor_headers, campaign["id"], "send")
    error = _error(await client.delete(f"{CAMPAIGNS}/{campaign['id']}", headers=admin_headers), 409)
    assert error["code"] == "INVALID_TRANSITION"

    await _act(client, editor_headers, campaign["id"], "pause")
    assert (await client.delete(f"{CAMPAIGNS}/{campaign['id']}", headers=admin_headers)).status_code == 204
    assert _error(await client.get(f"{CAMPAIGNS}/{campaign['id']}", headers=editor_headers), 404)["code"] == (
        "NOT_FOUND"
    )
    async with app.state.db.session(write=False) as session:  # its recipient list went with it
        assert (await session.exec(select(CampaignRecipient))).all() == []


@pytest.mark.parametrize("status", ["draft", "scheduled", "cancelled"])
async def test_a_campaign_that_is_not_sending_can_be_deleted(client, editor_headers, admin_headers, create_campaign,
                                                             status):
    campaign = await create_campaign(scheduled_at=_in(24) if status == "scheduled" else None)
    if status == "scheduled":
        await _act(client, editor_headers, campaign["id"], "send")
    if status == "cancelled":
        await _act(client, editor_headers, campaign["id"], "cancel")
    assert await _status(client, editor_headers, campaign["id"]) == status
    assert (await client.delete(f"{CAMPAIGNS}/{campaign['id']}", headers=admin_headers)).status_code == 204


# --- transitions -------------------------------------------------------------------------------


async def test_cancel_skips_every_recipient_not_yet_sent(app, client, editor_headers, smtp, create_campaign):
    await seed_contacts(app, 3)
    campaign = await create_campaign()
    await _act(client, editor_headers, campaign["id"], "send")
    cancelled = await _act(client, editor_headers, campaign["id"], "cancel")
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert body["status"] == "cancelled" and body["finished_at"] is not None
    assert body["stats"]["recipients"] == 3 and body["stats"]["skipped"] == 3 and body["stats"]["pending"] == 0

    await send_all(app)
    assert smtp.messages == []
    skipped = (await client.get(f"{CAMPAIGNS}/{campaign['id']}/recipients", params={"status": "skipped"},
                                headers=editor_headers)).json()
    assert skipped["total"] == 3 and {r["last_error"] for r in skipped["items"]} == {"campaign cancelled"}


@pytest.mark.parametrize(
    ("status", "refused"),
    [
        ("draft", ["pause", "resume"]),
        ("scheduled", ["send", "pause", "resume"]),
        ("sending", ["send", "resume"]),
        ("paused", ["send", "pause"]),
        ("sent", ["send", "pause", "resume", "cancel"]),
        ("cancelled", ["send", "pause", "resume", "cancel"]),
    ],
)
async def test_transitions_a_status_does_not_allow_are_409(app, client, editor_headers, create_campaign, status,
                                                           refused):
    if status not in ("sent",):
        await seed_contacts(app, 1)
    campaign = await create_campaign(scheduled_at=_in(24) if status == "scheduled" else None)
    steps = {"draft": [], "scheduled": ["send"], "sending": ["send"], "paused": ["send", "pause"], "sent": ["send"],
             "cancelled": ["cancel"]}[status]
    for step in steps:
        assert (await _act(client, editor_headers, campaign["id"], step)).status_code in (200, 202)
    assert await _status(client, editor_headers, campaign["id"]) == status
    for action in refused:
        error = _error(await _act(client, editor_headers, campaign["id"], action), 409)
        assert error["code"] == "INVALID_TRANSITION", action
        assert await _status(client, editor_headers, campaign["id"]) == status


async def test_pause_resume_and_cancel_of_a_sending_campaign(app, client, editor_headers, create_campaign):
    await seed_contacts(app, 1)
    campaign = await create_campaign()
    await _act(client, editor_headers, campaign["id"], "send")
    paused = (await _act(client, editor_headers, campaign["id"], "pause")).json()
    assert paused["status"] == "paused" and paused["status_reason"] == "paused by staff"
    resumed = (await _act(client, editor_headers, campaign["id"], "resume")).json()
    assert resumed["status"] == "sending" and resumed["status_reason"] is None
    assert (await _act(client, editor_headers, campaign["id"], "cancel")).json()["status"] == "cancelled"
    assert _error(await _act(client, editor_headers, 999, "pause"), 404)["code"] == "NOT_FOUND"


# --- scheduling --------------------------------------------------------------------------------


async def test_send_with_a_future_time_schedules_and_the_worker_starts_it_when_due(
    app, client, editor_headers, smtp, create_campaign
):
    await seed_contacts(app, 2)
    campaign = await create_campaign(scheduled_at=_in(2))
    scheduled = await _act(client, editor_headers, campaign["id"], "send")
    assert scheduled.status_code == 202
    body = scheduled.json()
    assert body["status"] == "scheduled" and body["started_at"] is None and body["stats"]["recipients"] == 0

    await _run_worker(app, later=timedelta(hours=1))  # not yet due
    assert await _status(client, editor_headers, campaign["id"]) == "scheduled" and smtp.messages == []
    await _run_worker(app, later=timedelta(hours=2, minutes=5))
    started = (await client.get(f"{CAMPAIGNS}/{campaign['id']}", headers=editor_headers)).json()
    assert started["status"] == "sent" and started["stats"]["sent"] == 2 and len(smtp.messages) == 2


async def test_a_scheduled_campaign_found_over_an_hour_late_fails_with_the_reason(
    app, client, editor_headers, smtp, create_campaign
):
    await seed_contacts(app, 2)
    campaign = await create_campaign(scheduled_at=_in(1))
    await _act(client, editor_headers, campaign["id"], "send")
    await _run_worker(app, later=timedelta(hours=3))  # the server was down when it was due
    failed = (await client.get(f"{CAMPAIGNS}/{campaign['id']}", headers=editor_headers)).json()
    assert failed["status"] == "failed" and "minutes after its scheduled time" in failed["status_reason"]
    assert failed["stats"]["recipients"] == 0 and smtp.messages == []

    # Staff send it again deliberately, at once this time.
    await client.put(f"{CAMPAIGNS}/{campaign['id']}", json={"scheduled_at": None}, headers=editor_headers)
    assert (await _act(client, editor_headers, campaign["id"], "send")).json()["status"] == "sending"


async def test_clearing_the_time_of_a_scheduled_campaign_makes_it_a_draft_again(
    app, client, editor_headers, create_campaign
):
    # Left `scheduled` without a time, no worker would ever start it and `send` would refuse it.
    await seed_contacts(app, 1)
    campaign = await create_campaign(scheduled_at=_in(24))
    await _act(client, editor_headers, campaign["id"], "send")
    changed = await client.put(f"{CAMPAIGNS}/{campaign['id']}", json={"scheduled_at": None}, headers=editor_headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["status"] == "draft" and changed.json()["scheduled_at"] is None
    assert (await _act(client, editor_headers, campaign["id"], "send")).json()["status"] == "sending"


# --- lists -------------------------------------------------------------------------------------


async def test_the_list_filters_by_status(app, client, editor_headers, create_campaign):
    draft = await create_campaign(name="Draft")
    scheduled = await create_campaign(name="Later", scheduled_at=_in(24))
    await _act(client, editor_headers, scheduled["id"], "send")
    sent = await create_campaign(name="Nobody")  # no contacts: sent at once
    await _act(client, editor_headers, sent["id"], "send")

    everything = (await client.get(CAMPAIGNS, headers=editor_headers)).json()
    assert everything["total"] == 3
    for status, expected in (("draft", draft), ("scheduled", scheduled), ("sent", sent)):
        found = (await client.get(CAMPAIGNS, params={"status": status}, headers=editor_headers)).json()
        assert found["total"] == 1 and [c["id"] for c in found["items"]] == [expected["id"]], status
    assert (await client.get(CAMPAIGNS, params={"status": "paused"}, headers=editor_headers)).json()["total"] == 0
    assert _error(await client.get(CAMPAIGNS, params={"status": "done"}, headers=editor_headers), 422)["code"] == (
        "VALIDATION_ERROR"
    )


async def test_the_recipients_filter_by_status(app, client, editor_headers, smtp, create_campaign):
    await seed_contacts(app, 3)
    smtp.permanent.add("person2@example.com")
    campaign = await create_campaign()
    await _act(client, editor_headers, campaign["id"], "send")
    await send_all(app)

    path = f"{CAMPAIGNS}/{campaign['id']}/recipients"
    sent = (await client.get(path, params={"status": "sent"}, headers=editor_headers)).json()
    assert sent["total"] == 2 and [r["email"] for r in sent["items"]] == ["person0@example.com", "person1@example.com"]
    assert all(r["sent_at"] and r["attempts"] == 1 for r in sent["items"])
    failed = (await client.get(path, params={"status": "failed"}, headers=editor_headers)).json()
    assert failed["total"] == 1 and failed["items"][0]["email"] == "person2@example.com"
    assert (await client.get(path, params={"status": "pending"}, headers=editor_headers)).json()["total"] == 0
    paged = (await client.get(path, params={"limit": 1, "offset": 1}, headers=editor_headers)).json()
    assert paged["total"] == 3 and [r["email"] for r in paged["items"]] == ["person1@example.com"]
    assert _error(await client.get(path, params={"status": "lost"}, headers=editor_headers), 422)["code"] == (
        "VALIDATION_ERROR"
    )
    assert _error(await client.get(f"{CAMPAIGNS}/999/recipients", headers=editor_headers), 404)["code"] == "NOT_FOUND"


# --- test sends --------------------------------------------------------------------------------


async def test_a_test_send_whose_contact_breaks_the_template_is_a_422(
    app, client, editor_headers, smtp, create_template, create_campaign
):
    # Saved with the sample contact (Ada: 3 letters); the contact's own name (First0) divides by zero.
    await seed_contacts(app, 1)
    template = await create_template(
        html_body={"en": "<p>Hi</p>\n<p>{{ 10 // (contact.first_name|length - 6) }}</p>", "de": "<p>x</p>"}
    )
    campaign = await create_campaign(template_id=template["id"])
    response = await client.post(f"{CAMPAIGNS}/{campaign['id']}/test", json={"email": "person0@example.com"},
                                 headers=editor_headers)
    error = _error(response, 422)
    assert error["field"] == "html_body.en" and "line 2" in error["message"]
    ok = await client.post(f"{CAMPAIGNS}/{campaign['id']}/test", json={"email": "someone@example.com"},
                           headers=editor_headers)
    assert ok.status_code == 202
    await deliver_due_mail(app.state.db, app.state.mailer)
    assert [m["To"] for m in smtp.messages] == ["someone@example.com"]
