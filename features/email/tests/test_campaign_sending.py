"""Campaigns sent over real SMTP (aiosmtpd on loopback): headers, languages, retries, bounces,
auto-pause, pause and resume, unsubscribes in the middle, counters."""

from datetime import timedelta
from urllib.parse import urlparse

from sqlalchemy import update
from sqlmodel import select

from features.email.models import Campaign, CampaignRecipient, Contact
from features.email.recipients import PAUSE_AFTER_FAILURES
from features.email.tests.campaign_helpers import BASE, seed_contacts, send_all, sender_for
from tests.engines import outside_the_app


async def _start(client, editor_headers, campaign_id):
    response = await client.post(f"{BASE}/campaigns/{campaign_id}/send", headers=editor_headers)
    assert response.status_code == 202, response.text
    return response.json()


async def test_every_subscribed_contact_gets_one_message_with_unsubscribe_headers(
    app, client, editor_headers, smtp, create_campaign
):
    await seed_contacts(app, 3, language="en")
    await seed_contacts(app, 2, language="de", prefix="kunde")
    await seed_contacts(app, 2, status="no_consent", prefix="noconsent")
    await seed_contacts(app, 1, status="unsubscribed", prefix="gone")
    campaign = await create_campaign()
    started = await _start(client, editor_headers, campaign["id"])
    assert started["status"] == "sending" and started["stats"]["recipients"] == 5

    await send_all(app)

    assert sorted(smtp.count_by_recipient().values()) == [1] * 5
    assert not any(m["To"].startswith(("noconsent", "gone")) for m in smtp.messages)
    for message in smtp.messages:
        unsubscribe = str(message["List-Unsubscribe"]).strip()  # a long header may be folded
        assert unsubscribe.startswith("<http://localhost:3036/api/v1/public/email/unsubscribe/")
        assert "<mailto:noreply@magnetiq.local?subject=unsubscribe>" in unsubscribe
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        link = unsubscribe.split(">")[0].lstrip("<")
        html = message.get_body(("html",)).get_content()
        text = message.get_body(("plain",)).get_content()
        assert link in html and link in text  # the same personal link in the body, both parts
    german = smtp.to("kunde0@example.com")[0]
    assert german["Subject"] == "Neues für First0" and german["Content-Language"] == "de"
    assert smtp.to("person1@example.com")[0]["Subject"] == "News for First1"

    done = (await client.get(f"{BASE}/campaigns/{campaign['id']}", headers=editor_headers)).json()
    assert done["status"] == "sent" and done["finished_at"] is not None
    assert done["stats"]["recipients"] == 5 and done["stats"]["sent"] == 5 and done["stats"]["pending"] == 0
    again = await client.post(f"{BASE}/campaigns/{campaign['id']}/send", headers=editor_headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "INVALID_TRANSITION"


async def test_the_audience_filters_by_tags_sources_and_languages(app, client, editor_headers, smtp, create_campaign):
    await seed_contacts(app, 2, tags=("newsletter",), prefix="tagged")
    await seed_contacts(app, 2, language="de", tags=("newsletter",), prefix="tagged-de")
    await seed_contacts(app, 3, prefix="untagged")
    campaign = await create_campaign(audience={"tags": ["newsletter"], "languages": ["de"]})
    assert (await _start(client, editor_headers, campaign["id"]))["stats"]["recipients"] == 2
    await send_all(app)
    assert sorted(smtp.count_by_recipient()) == ["tagged-de0@example.com", "tagged-de1@example.com"]


async def test_a_temporary_refusal_is_retried_later_and_sent_once(app, client, editor_headers, smtp, create_campaign):
    await seed_contacts(app, 3)
    smtp.temporary["person1@example.com"] = 2
    campaign = await create_campaign()
    await _start(client, editor_headers, campaign["id"])

    await send_all(app)
    recipients = (await client.get(f"{BASE}/campaigns/{campaign['id']}/recipients", headers=editor_headers)).json()
    waiting = next(r for r in recipients["items"] if r["email"] == "person1@example.com")
    assert waiting["status"] == "pending" and waiting["attempts"] == 1 and "451" in waiting["last_error"]
    assert (await client.get(f"{BASE}/campaigns/{campaign['id']}", headers=editor_headers)).json()["status"] == "sending"

    await send_all(app, clock_offset=timedelta(minutes=5))  # past the first backoff: 451 again
    await send_all(app, clock_offset=timedelta(hours=1))
    assert smtp.count_by_recipient() == {f"person{i}@example.com": 1 for i in range(3)}
    done = (await client.get(f"{BASE}/campaigns/{campaign['id']}", headers=editor_headers)).json()
    assert done["status"] == "sent" and done["stats"]["sent"] == 3 and done["stats"]["failed"] == 0


async def test_a_permanent_refusal_fails_the_recipient_and_bounces_the_contact(
    app, client, editor_headers, smtp, create_campaign
):
    [_, refused_id] = await seed_contacts(app, 2)
    smtp.permanent.add("person1@example.com")
    campaign = await create_campaign()
    await _start(client, editor_headers, campaign["id"])
    await send_all(app)

    failed = (await client.get(
        f"{BASE}/campaigns/{campaign['id']}/recipients", params={"status": "failed"}, headers=editor_headers
    )).json()["items"]
    assert [r["email"] for r in failed] == ["person1@example.com"] and "550" in failed[0]["last_error"]
    async with app.state.db.session(write=False) as session:
        assert (await session.get(Contact, refused_id)).status == "bounced"
        refused = (await session.exec(select(CampaignRecipient).where(CampaignRecipient.contact_id == refused_id))).one()
        assert refused.failed_at is not None and refused.failed_at == refused.bounced_at  # counted by the analytics
    stats = (await client.get(f"{BASE}/campaigns/{campaign['id']}", headers=editor_headers)).json()["stats"]
    assert stats["sent"] == 1 and stats["failed"] == 1 and stats["bounced"] == 1


async def test_a_broken_server_pauses_the_campaign_instead_of_burning_the_list(
    app, client, editor_headers, smtp, create_campaign
):
    await seed_contacts(app, PAUSE_AFTER_FAILURES + 10)
    smtp.refuse_all_temporarily = True
    campaign = await create_campaign()
    await _start(client, editor_headers, campaign["id"])
    await send_all(app)

    paused = (await client.get(f"{BASE}/campaigns/{campaign['id']}", headers=editor_headers)).json()
    assert paused["status"] == "paused"
    assert f"after {PAUSE_AFTER_FAILURES} failed messages in a row" in paused["status_reason"]
    assert "451" in paused["status_reason"]
    assert paused["stats"]["pending"] == PAUSE_AFTER_FAILURES + 10 and paused["stats"]["failed"] == 0

    smtp.refuse_all_temporarily = False
    resumed = await client.post(f"{BASE}/campaigns/{campaign['id']}/resume", headers=editor_headers)
    assert resumed.status_code == 200 and resumed.json()["status_reason"] is None
    await send_all(app, clock_offset=timedelta(hours=1))
    assert sorted(smtp.count_by_recipient().values()) == [1] * (PAUSE_AFTER_FAILURES + 10)


async def test_pause_stops_within_one_message_and_resume_continues_without_gaps(
    app, client, editor_headers, smtp, create_campaign
):
    await seed_contacts(app, 30)
    smtp.delay = 0.02
    campaign = await create_campaign()
    await _start(client, editor_headers, campaign["id"])

    import asyncio

    sending = asyncio.create_task(sender_for(app).run(seconds=30))
    while len(smtp.messages) < 5:
        await asyncio.sleep(0.005)
    paused = await client.post(f"{BASE}/campaigns/{campaign['id']}/pause", headers=editor_headers)
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    received_at_pause = len(smtp.messages)
    await sending
    assert len(smtp.messages) <= received_at_pause + 1  # the one already in flight

    again = await client.post(f"{BASE}/campaigns/{campaign['id']}/pause", headers=editor_headers)
    assert again.status_code == 409
    assert (await client.post(f"{BASE}/campaigns/{campaign['id']}/resume", headers=editor_headers)).status_code == 200
    await send_all(app)
    assert smtp.count_by_recipient() == {f"person{i}@example.com": 1 for i in range(30)}


async def test_an_unsubscribe_or_erasure_during_a_send_is_honoured(app, client, editor_headers, smtp, create_campaign):
    ids = await seed_contacts(app, 4)
    campaign = await create_campaign()
    await _start(client, editor_headers, campaign["id"])
    async with app.state.db.session() as session:  # after the list was frozen
        await session.exec(update(Contact).where(Contact.id == ids[1]).values(status="unsubscribed"))
        await session.delete(await session.get(Contact, ids[2]))
    await send_all(app)

    assert sorted(smtp.count_by_recipient()) == ["person0@example.com", "person3@example.com"]
    async with app.state.db.session(write=False) as session:
        rows = (await session.exec(select(CampaignRecipient).order_by(CampaignRecipient.id))).all()
    assert [r.status for r in rows] == ["sent", "skipped", "skipped", "sent"]
    assert rows[2].contact_id is None  # the erased person is gone from the list too


async def test_an_unsubscribe_while_the_next_message_is_claimed_and_rendered_is_honoured(
    app, client, editor_headers, smtp, create_campaign
):
    # The sender claims and renders the next recipient while the server takes the current
    # message; it confirms that recipient right before its content leaves.
    await seed_contacts(app, 3)
    campaign = await create_campaign()
    await _start(client, editor_headers, campaign["id"])

    def unsubscribe_the_next(address: str) -> None:
        if address == "person0@example.com":  # person1 is claimed by now; a second writer unsubscribes it
            outside_the_app(app.state.settings.database_url,
                            "UPDATE email_contacts SET status = 'unsubscribed' WHERE email = 'person1@example.com'")

    smtp.while_receiving = unsubscribe_the_next
    await send_all(app)

    assert sorted(smtp.count_by_recipient()) == ["person0@example.com", "person2@example.com"]
    async with app.state.db.session(write=False) as session:
        rows = (await session.exec(select(CampaignRecipient).order_by(CampaignRecipient.id))).all()
    assert [(r.status, r.last_error) for r in rows] == [
        ("sent", None), ("skipped", "contact no longer subscribed"), ("sent", None),
    ]
    async with app.state.db.session(write=False) as session:
        assert (await session.get(Campaign, campaign["id"])).status == "sent"


async def test_the_send_rate_spaces_messages(app, client, editor_headers, smtp, create_campaign):
    app.state.settings.email_send_rate = 40
    await seed_contacts(app, 9)
    campaign = await create_campaign()
    await _start(client, editor_headers, campaign["id"])
    await send_all(app)
    assert len(smtp.received_at) == 9
    # Eight intervals of 1/40 s at least. Times are read at the sink on arrival, so the first
    # message arriving a few ms late under load shortens the span: 20 % slack (unpaced, the nine
    # arrive within about 10 ms).
    assert smtp.received_at[-1] - smtp.received_at[0] >= 8 / 40 * 0.8


async def test_a_test_send_is_marked_and_carries_the_real_headers(app, client, editor_headers, smtp, create_campaign):
    [contact_id] = await seed_contacts(app, 1, language="de", prefix="kunde")
    campaign = await create_campaign()
    response = await client.post(
        f"{BASE}/campaigns/{campaign['id']}/test", json={"email": "Kunde0@Example.com"}, headers=editor_headers
    )
    assert response.status_code == 202
    from shared.mail import deliver_due_mail

    await deliver_due_mail(app.state.db, app.state.mailer)
    [message] = smtp.to("kunde0@example.com")
    assert message["Subject"] == "[Test] Neues für First0" and message["X-Magnetiq-Test"] == "true"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/api/v1/public/email/unsubscribe/" in message["List-Unsubscribe"]
    stats = (await client.get(f"{BASE}/campaigns/{campaign['id']}", headers=editor_headers)).json()
    assert stats["status"] == "draft" and stats["stats"]["recipients"] == 0  # a test is no send
    assert contact_id


async def test_opens_and_clicks_are_counted_through_signed_links(app, client, editor_headers, smtp, create_campaign):
    await seed_contacts(app, 1)
    campaign = await create_campaign(track_opens=True, track_clicks=True)
    await _start(client, editor_headers, campaign["id"])
    await send_all(app)
    html = smtp.messages[0].get_body(("html",)).get_content()
    import re

    pixel = re.search(r'<img src="([^"]+)"', html).group(1)
    click = re.search(r'href="([^"]+/t/c/[^"]+)"', html).group(1).replace("&amp;", "&")
    assert "unsubscribe" in re.search(r'href="([^"]+unsubscribe[^"]+)"', html).group(1)  # never tracked

    opened = await client.get(urlparse(pixel).path)
    assert opened.status_code == 200 and opened.headers["content-type"] == "image/gif"
    followed = await client.get(urlparse(click).path + "?" + urlparse(click).query)
    assert followed.status_code == 302 and followed.headers["location"] == "https://example.com/read?a=1&b=2"

    elsewhere = click.replace("example.com%2Fread", "evil.example%2Fread")
    assert (await client.get(urlparse(elsewhere).path + "?" + urlparse(elsewhere).query)).status_code == 404
    forged = urlparse(pixel).path.replace("/t/o/1/", "/t/o/2/")
    assert (await client.get(forged)).status_code == 404
    stats = (await client.get(f"{BASE}/campaigns/{campaign['id']}", headers=editor_headers)).json()["stats"]
    assert stats["opened"] == 1 and stats["clicked"] == 1


async def test_a_contact_whose_values_break_the_template_is_retried_then_failed_without_stalling_the_rest(
    app, client, editor_headers, smtp, create_template, create_campaign
):
    # Saved with the sample contact; First10 (seven letters) divides by zero, First0 to First9 do not.
    ids = await seed_contacts(app, 11)
    template = await create_template(
        html_body={"en": "<p>{{ 10 // (contact.first_name|length - 7) }}</p>", "de": "<p>x</p>"}
    )
    campaign = await create_campaign(template_id=template["id"])
    await _start(client, editor_headers, campaign["id"])
    await send_all(app)
    assert len(smtp.messages) == 10 and not smtp.to("person10@example.com")
    [waiting] = (await client.get(
        f"{BASE}/campaigns/{campaign['id']}/recipients", params={"status": "pending"}, headers=editor_headers
    )).json()["items"]
    assert waiting["email"] == "person10@example.com" and waiting["attempts"] == 1
    assert "html_body.en: line 1" in waiting["last_error"] and "division" in waiting["last_error"]

    for hours in range(1, 8):  # past every backoff
        await send_all(app, clock_offset=timedelta(hours=hours))
    done = (await client.get(f"{BASE}/campaigns/{campaign['id']}", headers=editor_headers)).json()
    assert done["status"] == "sent" and done["stats"]["sent"] == 10 and done["stats"]["failed"] == 1
    async with app.state.db.session(write=False) as session:
        assert (await session.get(Contact, ids[10])).status == "subscribed"  # the template's fault, not a bounce
        given_up = (await session.exec(select(CampaignRecipient).where(CampaignRecipient.contact_id == ids[10]))).one()
        assert given_up.failed_at is not None and given_up.bounced_at is None


async def test_a_template_that_breaks_for_everyone_pauses_the_campaign_with_the_reason(
    app, client, editor_headers, smtp, create_template, create_campaign
):
    await seed_contacts(app, PAUSE_AFTER_FAILURES + 5)  # every last name is "Last"; the sample's is "Lovelace"
    template = await create_template(
        html_body={"en": "<p>Hi</p>\n<p>{{ 10 // (contact.last_name|length - 4) }}</p>", "de": "<p>x</p>"}
    )
    campaign = await create_campaign(template_id=template["id"])
    await _start(client, editor_headers, campaign["id"])
    await send_all(app)
    paused = (await client.get(f"{BASE}/campaigns/{campaign['id']}", headers=editor_headers)).json()
    assert paused["status"] == "paused" and "html_body.en: line 2" in paused["status_reason"]
    assert paused["stats"]["pending"] == PAUSE_AFTER_FAILURES + 5 and smtp.messages == []

    # Staff fix the template and resume: nobody was lost.
    fixed = await client.put(f"{BASE}/templates/{template['id']}",
                             json={"html_body": {"en": "<p>Hi {{ contact.first_name }}</p>", "de": "<p>x</p>"}},
                             headers=editor_headers)
    assert fixed.status_code == 200
    await client.post(f"{BASE}/campaigns/{campaign['id']}/resume", headers=editor_headers)
    await send_all(app, clock_offset=timedelta(hours=1))
    assert sorted(smtp.count_by_recipient().values()) == [1] * (PAUSE_AFTER_FAILURES + 5)
