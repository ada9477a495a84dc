"""Staff contacts: create, list with filters, read, change, roles; tags and sources loaded per page."""

import pytest
from sqlalchemy import event

from .factories import CONTACTS, opt_in_mails, sources_of, stored_contact


async def test_staff_create_subscribed_attests_consent_and_mails_nothing(client, create_contact, mailbox):
    body = await create_contact(
        " Ada@Example.COM ", first_name="Ada", last_name="Lovelace", company="Engines", language="de",
        tags=["customer", " vip ", "customer"], status="subscribed",
    )
    assert body["email"] == "ada@example.com" and body["status"] == "subscribed" and body["language"] == "de"
    assert body["tags"] == ["customer", "vip"] and body["sources"] == ["staff"]
    assert body["consent_origin"] == "staff" and body["consent_at"] is not None
    assert set(body) >= {"id", "first_name", "last_name", "company", "created_at", "updated_at"}
    assert mailbox.messages == []


async def test_staff_create_pending_mails_the_opt_in_link_in_the_contacts_language(client, create_contact, mailbox):
    body = await create_contact("ada@example.com", language="de")
    assert body["status"] == "pending" and body["consent_at"] is None
    [mail] = opt_in_mails(mailbox, "ada@example.com")
    assert mail["Content-Language"] == "de" and "Guten Tag," in mail.get_body(("plain",)).get_content()


async def test_a_known_address_is_409_email_taken(client, create_contact, editor_headers):
    await create_contact("ada@example.com")
    again = await client.post(CONTACTS, json={"email": "ADA@example.com"}, headers=editor_headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "EMAIL_TAKEN"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"email": "not-an-address"}, "email"),
        ({"email": "ü@example.com"}, "email"),
        ({"email": "a@example.com", "language": "fr"}, "language"),
        ({"email": "a@example.com", "status": "bounced"}, "status"),
        ({"email": "a@example.com", "first_name": "x" * 101}, "first_name"),
        ({"email": "a@example.com", "tags": ["a\nb"]}, "tags.0"),
        ({"email": "a@example.com", "unknown": 1}, "unknown"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field(client, editor_headers, body, field):
    response = await client.post(CONTACTS, json=body, headers=editor_headers)
    assert response.status_code == 422 and response.json()["error"]["field"] == field


async def test_roles_viewer_reads_editor_writes_admin_erases(client, create_contact, viewer_headers, editor_headers,
                                                            admin_headers):
    contact = await create_contact()
    url = f"{CONTACTS}/{contact['id']}"
    assert (await client.get(CONTACTS)).status_code == 401
    assert (await client.get(url, headers=viewer_headers)).status_code == 200
    assert (await client.post(CONTACTS, json={"email": "v@example.com"}, headers=viewer_headers)).status_code == 403
    assert (await client.put(url, json={"company": "X"}, headers=viewer_headers)).status_code == 403
    assert (await client.delete(url, headers=viewer_headers)).status_code == 403
    assert (await client.delete(url, headers=editor_headers)).status_code == 403
    files = {"file": ("c.csv", b"email\nx@example.com\n", "text/csv")}
    viewer_import = await client.post(f"{CONTACTS}/import", files=files, data={"status": "pending"},
                                      headers=viewer_headers)
    assert viewer_import.status_code == 403
    assert (await client.delete(url, headers=admin_headers)).status_code == 204
    assert (await client.get(url, headers=viewer_headers)).status_code == 404


async def test_filters_search_and_sort(client, create_contact, viewer_headers, webinar):
    await create_contact("ada@example.com", first_name="Ada", company="Analytical Engines", tags=["vip"])
    await create_contact("grace@example.com", first_name="Grace", last_name="Hopper", status="subscribed")
    await create_contact("zed@example.com", first_name="Über", last_name="Zed", tags=["vip", "de"])
    url = await webinar()
    await client.post(url, json={"first_name": "Lead", "last_name": "One", "email": "lead@example.com",
                                 "consent_marketing": False})

    async def emails(**params):
        response = await client.get(CONTACTS, params=params, headers=viewer_headers)
        assert response.status_code == 200, response.text
        return [item["email"] for item in response.json()["items"]]

    assert await emails() == ["lead@example.com", "zed@example.com", "grace@example.com", "ada@example.com"]
    assert await emails(email="GRACE@example.com") == ["grace@example.com"]
    assert await emails(status="subscribed") == ["grace@example.com"]
    assert await emails(status="no_consent") == ["lead@example.com"]
    assert await emails(tag="vip", sort="email") == ["ada@example.com", "zed@example.com"]
    assert await emails(source="staff", sort="-email") == ["zed@example.com", "grace@example.com", "ada@example.com"]
    assert await emails(source="webinar", q="lead") == []  # a source is matched whole
    assert await emails(q="ENGINES") == ["ada@example.com"]
    assert await emails(q="über") == ["zed@example.com"]  # Unicode case folding
    assert await emails(q="hopp") == ["grace@example.com"]
    assert await emails(q="%") == []
    assert await emails(sort="last_name", limit=2) == ["ada@example.com", "grace@example.com"]
    bad = await client.get(CONTACTS, params={"sort": "password"}, headers=viewer_headers)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "sort"
    unknown = await client.get(CONTACTS, params={"status": "gone"}, headers=viewer_headers)
    assert unknown.status_code == 422


async def test_a_page_loads_tags_and_sources_in_two_reads_whatever_its_size(app, client, create_contact,
                                                                           viewer_headers):
    for n in range(12):
        await create_contact(f"c{n}@example.com", tags=[f"t{n}", "all"])
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(app.state.db.engine.sync_engine, "before_cursor_execute", count)
    try:
        for limit in (1, 12):
            statements.clear()
            page = (await client.get(CONTACTS, params={"limit": limit}, headers=viewer_headers)).json()
            assert len(page["items"]) == limit and all("all" in item["tags"] for item in page["items"])
            assert all(item["sources"] == ["staff"] for item in page["items"])
            reads = [s for s in statements if "email_contact" in s]
            assert len(reads) == 4, reads  # count, page, tags, sources
    finally:
        event.remove(app.state.db.engine.sync_engine, "before_cursor_execute", count)


async def test_put_changes_fields_and_replaces_tags(app, client, create_contact, editor_headers):
    contact = await create_contact(first_name="Ada", tags=["a", "b"])
    response = await client.put(
        f"{CONTACTS}/{contact['id']}", json={"last_name": "Lovelace", "company": None, "tags": ["c"], "language": "de"},
        headers=editor_headers,
    )
    body = response.json()
    assert response.status_code == 200 and body["tags"] == ["c"] and body["last_name"] == "Lovelace"
    assert body["first_name"] == "Ada" and body["language"] == "de" and body["sources"] == ["staff"]
    bad = await client.put(f"{CONTACTS}/{contact['id']}", json={"language": "fr"}, headers=editor_headers)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "language"
    assert (await client.put(f"{CONTACTS}/999999", json={}, headers=editor_headers)).status_code == 404


async def test_status_changes_staff_may_make_and_the_one_they_may_not(app, client, create_contact, editor_headers,
                                                                     mailbox):
    contact = await create_contact("ada@example.com", status="subscribed")
    url = f"{CONTACTS}/{contact['id']}"
    out = await client.put(url, json={"status": "unsubscribed"}, headers=editor_headers)
    assert out.json()["status"] == "unsubscribed"
    refused = await client.put(url, json={"status": "subscribed"}, headers=editor_headers)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "INVALID_TRANSITION"
    assert opt_in_mails(mailbox, "ada@example.com") == []
    asked = await client.put(url, json={"status": "pending"}, headers=editor_headers)
    assert asked.json()["status"] == "pending" and len(opt_in_mails(mailbox, "ada@example.com")) == 1
    same = await client.put(url, json={"status": "pending"}, headers=editor_headers)  # idempotent: no second mail
    assert same.status_code == 200 and len(opt_in_mails(mailbox, "ada@example.com")) == 1
    attested = await client.put(url, json={"status": "subscribed"}, headers=editor_headers)
    assert attested.json()["status"] == "subscribed" and attested.json()["consent_origin"] == "staff"
    assert (await stored_contact(app, "ada@example.com")).consent_at is not None
    assert await sources_of(app, contact["id"]) == {"staff"}
