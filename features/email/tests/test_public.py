"""The visitor's links: GET shows a page and changes nothing, POST confirms or unsubscribes."""

from datetime import timedelta

import pytest
from sqlmodel import select

from features.email.links import confirm_url, unsubscribe_url
from features.email.models import CampaignRecipient
from shared.security import create_link_token

from .factories import PUBLIC, campaign_recipient, stored_contact


def _path(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


@pytest.fixture
async def subscribed(app, create_contact):
    return await create_contact("sub@example.com", first_name="Sub", status="subscribed", language="de")


async def _unsubscribed_at(app, recipient_id: int):
    async with app.state.db.session(write=False) as session:
        return (await session.get(CampaignRecipient, recipient_id)).unsubscribed_at


async def test_the_unsubscribe_page_changes_nothing_and_its_button_unsubscribes(app, client, subscribed):
    path = _path(unsubscribe_url(app.state.settings, contact_id=subscribed["id"]))
    for _ in range(3):
        page = await client.get(path)
        assert page.status_code == 200 and '<html lang="de">' in page.text
        assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert '<button type="submit">Ja, abmelden</button>' in page.text
    assert (await stored_contact(app, "sub@example.com")).status == "subscribed"
    done = await client.post(path)
    assert done.status_code == 200 and "abgemeldet" in done.text
    assert (await stored_contact(app, "sub@example.com")).status == "unsubscribed"
    assert "<form" not in (await client.get(path)).text


async def test_the_one_click_post_of_a_campaign_link_unsubscribes_and_credits_the_campaign(app, client, subscribed):
    recipient_id = await campaign_recipient(app, subscribed["id"])
    path = _path(unsubscribe_url(app.state.settings, contact_id=subscribed["id"], recipient_id=recipient_id))
    response = await client.post(
        path, content=b"List-Unsubscribe=One-Click", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 200
    assert (await stored_contact(app, "sub@example.com")).status == "unsubscribed"
    first = await _unsubscribed_at(app, recipient_id)
    assert first is not None
    again = await client.post(path, headers={"Accept": "application/json"})
    assert again.json() == {"status": "unsubscribed", "changed": False}
    assert await _unsubscribed_at(app, recipient_id) == first


async def test_a_recipient_row_of_another_contact_is_not_credited(app, client, subscribed, create_contact):
    other = await create_contact("other@example.com", status="subscribed")
    foreign = await campaign_recipient(app, other["id"])
    path = _path(unsubscribe_url(app.state.settings, contact_id=subscribed["id"], recipient_id=foreign))
    assert (await client.post(path)).status_code == 200
    assert await _unsubscribed_at(app, foreign) is None


async def test_confirming_twice_is_idempotent_and_only_pending_contacts_confirm(app, client, create_contact, mailbox):
    pending = await create_contact("p@example.com", status="pending")
    path = _path(confirm_url(app.state.settings, contact_id=pending["id"]))
    first = await client.post(path, headers={"Accept": "application/json"})
    assert first.json() == {"status": "subscribed", "changed": True}
    second = await client.post(path, headers={"Accept": "application/json"})
    assert second.json() == {"status": "subscribed", "changed": False}

    gone = await create_contact("gone@example.com", status="pending")
    await client.post(_path(unsubscribe_url(app.state.settings, contact_id=gone["id"])))
    stale = _path(confirm_url(app.state.settings, contact_id=gone["id"]))
    assert "no longer be used" in (await client.get(stale)).text
    assert (await client.post(stale, headers={"Accept": "application/json"})).json() == {
        "status": "unsubscribed", "changed": False
    }


async def test_forged_expired_or_foreign_tokens_are_404_and_change_nothing(app, client, create_contact):
    contact = await create_contact("p@example.com", status="pending")
    secret = app.state.settings.secret_key.get_secret_value()
    subject = str(contact["id"])

    def token(purpose, sub=subject, ttl=timedelta(days=1), key=secret):
        return create_link_token(purpose=purpose, subject=sub, ttl=ttl, secret=key)

    confirm_tokens = [
        "not-a-token", token("email-confirm", key="another-secret-of-sufficient-length-here"),
        token("email-unsubscribe", sub=f"{subject}.0"), token("booking-cancel"), token("email-confirm", sub="999999"),
        token("email-confirm", sub="x"), token("email-confirm", ttl=timedelta(seconds=-10)),
    ]
    unsubscribe_tokens = [
        "not-a-token", token("email-confirm"), token("email-unsubscribe", sub=subject),
        token("email-unsubscribe", sub="999999.0"), token("email-unsubscribe", sub="1.x"),
        token("email-unsubscribe", sub="\u00b2.0"), "\u00b2.\u00b2.AAAAAAAAAAAAAAAAAAAAAA",  # digits int() refuses
        token("email-unsubscribe", sub=f"{subject}.0", key="another-secret-of-sufficient-length-here"),
    ]
    for kind, tokens in (("confirm", confirm_tokens), ("unsubscribe", unsubscribe_tokens)):
        for value in tokens:
            for response in (await client.get(f"{PUBLIC}/{kind}/{value}"), await client.post(f"{PUBLIC}/{kind}/{value}")):
                assert response.status_code == 404, (kind, value)
                assert response.json()["error"]["code"] == "NOT_FOUND"
    assert (await stored_contact(app, "p@example.com")).status == "pending"


async def test_the_page_escapes_the_address_and_falls_back_to_the_default_language(app, client, create_contact):
    from sqlalchemy import update

    from features.email.models import Contact

    contact = await create_contact("o'neil&co@example.com", status="subscribed")
    async with app.state.db.session() as session:
        await session.exec(update(Contact).values(language="fr"))
    page = (await client.get(_path(unsubscribe_url(app.state.settings, contact_id=contact["id"])))).text
    assert '<html lang="en">' in page and "o&#x27;neil&amp;co@example.com" in page


async def test_confirming_and_guessing_unsubscribe_links_are_rate_limited(app, client, subscribed):
    app.state.settings.rate_limit_public_per_minute = 1
    app.state.rate_limiters.clear()
    path = _path(unsubscribe_url(app.state.settings, contact_id=subscribed["id"]))
    # A mail provider's servers send one-click unsubscribes of many people: valid links pass.
    assert [(await client.post(path)).status_code for _ in range(3)] == [200, 200, 200]
    forged = path.rsplit(".", 1)[0] + ".AAAAAAAAAAAAAAAAAAAAAA"
    assert (await client.post(forged)).status_code == 404
    limited = await client.post(forged)
    assert limited.status_code == 429 and limited.headers["Retry-After"]
    assert (await client.post(path)).status_code == 429  # past the limit, no more guesses judged
    confirm = _path(confirm_url(app.state.settings, contact_id=subscribed["id"]))
    assert (await client.post(confirm)).status_code == 200
    assert (await client.post(confirm)).status_code == 429


async def test_the_links_never_reach_the_logs(app, client, subscribed, caplog):
    import logging

    path = _path(unsubscribe_url(app.state.settings, contact_id=subscribed["id"]))
    token = path.rsplit("/", 1)[1]
    with caplog.at_level(logging.DEBUG, logger="magnetiq"):
        await client.get(path)
        await client.post(path)
    ours = [r for r in caplog.records if r.name.startswith("magnetiq")]
    assert ours and not [r for r in ours if token in r.getMessage() or token in str(r.__dict__)]
    assert not [r for r in ours if "sub@example.com" in r.getMessage() or "sub@example.com" in str(r.__dict__)]
    async with app.state.db.session(write=False) as session:
        assert (await session.exec(select(CampaignRecipient))).all() == []
