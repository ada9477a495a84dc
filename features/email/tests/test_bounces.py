"""The bounce webhook (POST /api/v1/public/email/bounces): off without a token, the token checked
and guessing it limited, hard bounces and complaints at once, soft ones after three, the
campaign's counter, addresses it does not know."""

import pytest
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr
from sqlmodel import select

from features.email.models import CampaignRecipient, Contact
from features.email.tests.campaign_helpers import BASE, seed_contacts, send_all

BOUNCES = "/api/v1/public/email/bounces"
TOKEN = "webhook-secret-of-the-mail-provider"
RIGHT = {"X-Webhook-Token": TOKEN}


@pytest.fixture
def webhook(app):
    """The webhook switched on: EMAIL_WEBHOOK_TOKEN set."""
    app.state.settings.email_webhook_token = SecretStr(TOKEN)


async def _report(client, *, headers=RIGHT, **body):
    return await client.post(BOUNCES, json={"email": "person0@example.com", "type": "hard", **body}, headers=headers)


async def _contact(app, contact_id) -> Contact:
    async with app.state.db.session(write=False) as session:
        return await session.get(Contact, contact_id)


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


# --- switched off, token, rate limit -----------------------------------------------------------


async def test_the_webhook_is_not_there_while_no_token_is_set(app, client):
    [contact_id] = await seed_contacts(app, 1)
    assert _error(await _report(client), 404)["code"] == "NOT_FOUND"
    assert _error(await _report(client, headers={"X-Webhook-Token": ""}), 404)["code"] == "NOT_FOUND"
    bad_body = await client.post(BOUNCES, json={"email": "not an address"}, headers=RIGHT)
    assert _error(bad_body, 404)["code"] == "NOT_FOUND"  # nothing about the endpoint shows
    assert (await _contact(app, contact_id)).status == "subscribed"


@pytest.mark.parametrize(
    "headers", [{}, {"X-Webhook-Token": "wrong"}, {"X-Webhook-Token": TOKEN[:-1]}, {"X-Webhook-Token": TOKEN + "x"}]
)
async def test_a_missing_or_wrong_token_is_refused(app, client, webhook, headers):
    [contact_id] = await seed_contacts(app, 1)
    error = _error(await _report(client, headers=headers), 401)
    assert error["code"] == "INVALID_WEBHOOK_TOKEN"
    assert (await _contact(app, contact_id)).status == "subscribed"


async def test_the_token_is_checked_before_the_body(client, webhook):
    # A caller without the token learns nothing from the body's validation, and its attempt counts.
    error = _error(await client.post(BOUNCES, json={"type": "bounce"}, headers={"X-Webhook-Token": "wrong"}), 401)
    assert error["code"] == "INVALID_WEBHOOK_TOKEN"


async def test_repeated_wrong_tokens_are_rate_limited_and_then_even_a_right_guess_is_refused(app, webhook):
    app.state.settings.rate_limit_public_per_minute = 3
    [contact_id] = await seed_contacts(app, 1)
    guesser = AsyncClient(transport=ASGITransport(app=app, client=("198.51.100.7", 4000)), base_url="http://t")
    provider = AsyncClient(transport=ASGITransport(app=app, client=("203.0.113.9", 4000)), base_url="http://t")
    async with guesser, provider:
        for guess in range(3):
            wrong = await _report(guesser, headers={"X-Webhook-Token": f"guess-{guess}"})
            assert _error(wrong, 401)["code"] == "INVALID_WEBHOOK_TOKEN"
        limited = await _report(guesser, headers={"X-Webhook-Token": "guess-3"})
        assert _error(limited, 429)["code"] == "RATE_LIMITED" and int(limited.headers["Retry-After"]) >= 1
        # Past the limit the guess is not judged at all: a right one would otherwise show by its 202.
        assert _error(await _report(guesser), 429)["code"] == "RATE_LIMITED"
        assert (await _contact(app, contact_id)).status == "subscribed"
        # Another client, the real provider, is not held up by the guesser.
        assert (await _report(provider)).status_code == 202
    assert (await _contact(app, contact_id)).status == "bounced"


async def test_only_refused_attempts_count_against_the_limit(app, client, webhook):
    # A provider reporting a burst of bounces is not throttled.
    app.state.settings.rate_limit_public_per_minute = 3
    await seed_contacts(app, 10)
    for i in range(10):
        response = await _report(client, email=f"person{i}@example.com")
        assert response.status_code == 202, response.text


# --- what a report does ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["hard", "complaint"])
async def test_a_hard_bounce_or_a_complaint_makes_the_contact_bounced_at_once(app, client, webhook, kind):
    [contact_id, other_id] = await seed_contacts(app, 2)
    response = await _report(client, type=kind, reason="550 5.1.1 no such user")
    assert response.status_code == 202, response.text
    assert (await _contact(app, contact_id)).status == "bounced"
    assert (await _contact(app, other_id)).status == "subscribed"


async def test_soft_bounces_make_the_contact_bounced_at_the_third(app, client, webhook):
    [contact_id] = await seed_contacts(app, 1)
    for _ in range(2):
        assert (await _report(client, type="soft")).status_code == 202
    contact = await _contact(app, contact_id)
    assert contact.status == "subscribed" and contact.soft_bounces == 2
    assert (await _report(client, type="soft")).status_code == 202
    assert (await _contact(app, contact_id)).status == "bounced"


async def test_the_address_is_matched_as_the_forms_store_it(app, client, webhook):
    [contact_id] = await seed_contacts(app, 1)
    assert (await _report(client, email="Person0@EXAMPLE.com")).status_code == 202
    assert (await _contact(app, contact_id)).status == "bounced"


async def test_an_unknown_address_is_accepted_and_creates_nothing(app, client, webhook):
    await seed_contacts(app, 1)
    assert (await _report(client, email="stranger@example.com")).status_code == 202
    async with app.state.db.session(write=False) as session:
        contacts = (await session.exec(select(Contact))).all()
    assert [(c.email, c.status) for c in contacts] == [("person0@example.com", "subscribed")]


@pytest.mark.parametrize(
    "body",
    [
        {"type": "hard"},
        {"email": "person0@example.com"},
        {"email": "not an address", "type": "hard"},
        {"email": "person0@example.com", "type": "bounce"},
        {"email": "person0@example.com", "type": "hard", "campaign_id": 0},
        {"email": "person0@example.com", "type": "hard", "reason": "x" * 501},
        {"email": "person0@example.com", "type": "hard", "extra": 1},
    ],
)
async def test_a_bad_body_is_a_422(app, client, webhook, body):
    [contact_id] = await seed_contacts(app, 1)
    assert _error(await client.post(BOUNCES, json=body, headers=RIGHT), 422)["code"] == "VALIDATION_ERROR"
    assert (await _contact(app, contact_id)).status == "subscribed"


# --- campaigns ---------------------------------------------------------------------------------


async def _sent_campaign(app, client, editor_headers, create_campaign, count):
    await seed_contacts(app, count)
    campaign = await create_campaign()
    assert (await client.post(f"{BASE}/campaigns/{campaign['id']}/send", headers=editor_headers)).status_code == 202
    await send_all(app)
    return campaign


async def _stats(client, editor_headers, campaign_id) -> dict:
    return (await client.get(f"{BASE}/campaigns/{campaign_id}", headers=editor_headers)).json()["stats"]


async def _bounced_at(app, campaign_id):
    async with app.state.db.session(write=False) as session:
        rows = await session.exec(
            select(CampaignRecipient).where(CampaignRecipient.campaign_id == campaign_id).order_by(CampaignRecipient.id)
        )
        return [r.bounced_at for r in rows.all()]


async def test_a_bounce_for_a_campaign_counts_in_its_stats(app, client, webhook, editor_headers, smtp,
                                                           create_campaign):
    campaign = await _sent_campaign(app, client, editor_headers, create_campaign, 2)
    assert (await _report(client, campaign_id=campaign["id"])).status_code == 202
    first, second = await _bounced_at(app, campaign["id"])
    assert first is not None and second is None
    stats = await _stats(client, editor_headers, campaign["id"])
    assert stats["bounced"] == 1 and stats["sent"] == 2
    assert (await _report(client, campaign_id=campaign["id"])).status_code == 202  # reported twice: once counted
    assert (await _stats(client, editor_headers, campaign["id"]))["bounced"] == 1


async def test_a_soft_bounce_counts_for_the_campaign_only_when_it_bounces_the_contact(
    app, client, webhook, editor_headers, smtp, create_campaign
):
    campaign = await _sent_campaign(app, client, editor_headers, create_campaign, 1)
    await _report(client, type="soft", campaign_id=campaign["id"])
    assert (await _stats(client, editor_headers, campaign["id"]))["bounced"] == 0
    await _report(client, type="soft", campaign_id=campaign["id"])
    await _report(client, type="soft", campaign_id=campaign["id"])
    assert (await _stats(client, editor_headers, campaign["id"]))["bounced"] == 1


async def test_a_bounce_naming_another_or_no_campaign_counts_in_none(app, client, webhook, editor_headers, smtp,
                                                                    create_campaign):
    campaign = await _sent_campaign(app, client, editor_headers, create_campaign, 2)
    assert (await _report(client, campaign_id=campaign["id"] + 1)).status_code == 202
    assert (await _report(client, email="person1@example.com")).status_code == 202
    assert await _bounced_at(app, campaign["id"]) == [None, None]
    assert (await _stats(client, editor_headers, campaign["id"]))["bounced"] == 0


async def test_a_bounce_during_a_send_is_honoured_for_the_messages_not_yet_sent(
    app, client, webhook, editor_headers, smtp, create_campaign
):
    await seed_contacts(app, 3)
    campaign = await create_campaign()
    await client.post(f"{BASE}/campaigns/{campaign['id']}/send", headers=editor_headers)  # the list is frozen
    assert (await _report(client, email="person1@example.com", type="complaint")).status_code == 202
    await send_all(app)
    assert sorted(smtp.count_by_recipient()) == ["person0@example.com", "person2@example.com"]
    skipped = (await client.get(f"{BASE}/campaigns/{campaign['id']}/recipients", params={"status": "skipped"},
                                headers=editor_headers)).json()["items"]
    assert [r["email"] for r in skipped] == ["person1@example.com"]
