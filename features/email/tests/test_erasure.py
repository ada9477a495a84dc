"""DELETE /contacts/{id} is erasure: the person is gone, the address lives on only as a keyed digest."""

from sqlmodel import select

from features.email.contacts import suppression_digest
from features.email.models import CampaignRecipient, ContactSource, ContactTag, Suppression
from shared.mail import OutgoingMail
from shared.security import keyed_digest
from tests.factories import erased_database_bytes

from .factories import CONTACTS, campaign_recipient, opt_in_mails, stored_contact, visitor


async def test_erasure_removes_the_person_and_keeps_only_the_digest(app, client, create_contact, admin_headers,
                                                                   smtp_server):
    # SMTP is down: the opt-in mail is still in the outbox when the contact is erased. Someone else was
    # added first, so the erased rows are not alone in their pages (a table left empty is truncated).
    stays = await create_contact("stays@example.com", first_name="Sam", tags=["vip"])
    contact = await create_contact("Erase.Me@Example.com", first_name="Eve", tags=["vip"])
    recipient_id = await campaign_recipient(app, contact["id"])
    response = await client.delete(f"{CONTACTS}/{contact['id']}", headers=admin_headers)
    assert response.status_code == 204 and response.content == b""

    async with app.state.db.session(write=False) as session:
        assert await stored_contact(app, "erase.me@example.com") is None
        assert {tag.contact_id for tag in (await session.exec(select(ContactTag))).all()} == {stays["id"]}
        assert {source.contact_id for source in (await session.exec(select(ContactSource))).all()} == {stays["id"]}
        recipient = await session.get(CampaignRecipient, recipient_id)
        assert recipient.contact_id is None and recipient.status == "sent"  # the counters still add up
        [suppression] = (await session.exec(select(Suppression))).all()
        queued = (await session.exec(select(OutgoingMail))).all()
        assert [mail.recipient for mail in queued] == ["stays@example.com"]  # the erased one's opt-in mail is gone
    secret = app.state.settings.secret_key.get_secret_value()
    assert suppression.digest == keyed_digest("erase.me@example.com", purpose="email-suppression", secret=secret)
    assert suppression.reason == "erased"

    # Nowhere in the database is the address, in any case.
    await app.state.db.dispose()
    stored = erased_database_bytes(app.state.settings).lower()
    assert b"erase.me@example.com" not in stored and b"stays@example.com" in stored


async def test_an_erased_address_never_comes_back(app, client, create_contact, admin_headers, editor_headers,
                                                  webinar, mailbox, upload_csv):
    contact = await create_contact("gone@example.com", status="subscribed")
    await client.delete(f"{CONTACTS}/{contact['id']}", headers=admin_headers)

    staff = await client.post(CONTACTS, json={"email": "GONE@example.com"}, headers=editor_headers)
    assert staff.status_code == 409 and staff.json()["error"]["code"] == "EMAIL_SUPPRESSED"

    url = await webinar()
    assert (await client.post(url, json=visitor("gone@example.com"))).status_code == 201  # the registration stands
    assert (await client.post(await webinar("two"), json=visitor("gone@example.com", consent_marketing=False))).status_code == 201
    assert await stored_contact(app, "gone@example.com") is None
    assert opt_in_mails(mailbox, "gone@example.com") == []

    report = (await upload_csv("email\nGone@Example.com\nnew@example.com\n")).json()
    assert report["imported"] == 1 and report["rejected"] == [
        {"row": 2, "reason": "email: the address belonged to an erased contact"}
    ]
    assert await stored_contact(app, "gone@example.com") is None
    async with app.state.db.session(write=False) as session:
        assert len((await session.exec(select(Suppression))).all()) == 1


async def test_an_erased_contacts_id_is_never_given_to_someone_else(app, client, create_contact, admin_headers):
    first = await create_contact("first@example.com")
    await client.delete(f"{CONTACTS}/{first['id']}", headers=admin_headers)
    second = await create_contact("second@example.com")
    assert second["id"] != first["id"]  # an old link for the first person can never act on the second


async def test_erasing_an_unknown_contact_is_404(client, admin_headers):
    assert (await client.delete(f"{CONTACTS}/424242", headers=admin_headers)).status_code == 404


def test_the_digest_is_keyed_and_of_the_normalized_address(settings):
    assert suppression_digest(settings, " A@Example.com ") == suppression_digest(settings, "a@example.com")
    other = settings.model_copy(update={"secret_key": type(settings.secret_key)("x" * 40)})
    assert suppression_digest(other, "a@example.com") != suppression_digest(settings, "a@example.com")
