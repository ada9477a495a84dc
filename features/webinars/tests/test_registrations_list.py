import csv
import io

from features.webinars.tests.factories import BASE
from tests.factories import visitor


async def _register_three(client, webinar_id):
    for email, first, consent in (("c@example.com", "Carol", True), ("a@example.com", "Alan", False), ("b@example.com", "Bea", True)):
        response = await client.post(f"{BASE}/{webinar_id}/register", json=visitor(email, first_name=first, consent_marketing=consent))
        assert response.status_code == 201


async def test_staff_list_registrants_with_pagination_filters_and_sorting(client, create_webinar, viewer_headers):
    webinar = await create_webinar()
    await _register_three(client, webinar["id"])
    url = f"{BASE}/{webinar['id']}/registrations"

    page = await client.get(url, params={"limit": 2}, headers=viewer_headers)
    assert page.status_code == 200
    body = page.json()
    assert body["total"] == 3 and body["limit"] == 2 and body["offset"] == 0
    assert [r["email"] for r in body["items"]] == ["c@example.com", "a@example.com"]  # in order of registration
    first = body["items"][0]
    assert first["first_name"] == "Carol" and first["company"] == "Navy" and first["language"] == "en"
    assert first["consent_marketing"] is True and first["webinar_id"] == webinar["id"]

    by_email = await client.get(url, params={"sort": "email"}, headers=viewer_headers)
    assert [r["email"] for r in by_email.json()["items"]] == ["a@example.com", "b@example.com", "c@example.com"]
    consenting = await client.get(url, params={"consent_marketing": "true"}, headers=viewer_headers)
    assert {r["email"] for r in consenting.json()["items"]} == {"b@example.com", "c@example.com"}
    bad_sort = await client.get(url, params={"sort": "company"}, headers=viewer_headers)
    assert bad_sort.status_code == 422 and bad_sort.json()["error"]["field"] == "sort"


async def test_visitors_cannot_list_registrants(client, create_webinar):
    webinar = await create_webinar()
    response = await client.get(f"{BASE}/{webinar['id']}/registrations")
    assert response.status_code == 401 and response.json()["error"]["code"] == "AUTHENTICATION_REQUIRED"
    assert (await client.get(f"{BASE}/{webinar['id']}/registrations", params={"format": "csv"})).status_code == 401


async def test_csv_export_is_quoted_and_formula_safe(client, create_webinar, viewer_headers):
    webinar = await create_webinar()
    url = f"{BASE}/{webinar['id']}/registrations"
    evil = visitor("evil@example.com", first_name='=HYPERLINK("http://x","y")', last_name="+1", company='Acme, "Inc"')
    assert (await client.post(f"{BASE}/{webinar['id']}/register", json=evil)).status_code == 201
    await _register_three(client, webinar["id"])

    response = await client.get(url, params={"format": "csv", "limit": 1}, headers=viewer_headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    header, *records = rows
    assert header == ["id", "webinar_id", "email", "first_name", "last_name", "company", "language", "consent_marketing", "created_at"]
    assert len(records) == 4  # every registrant, not one page
    first = dict(zip(header, records[0], strict=True))
    assert first["first_name"] == '\'=HYPERLINK("http://x","y")'
    assert first["last_name"] == "'+1"
    assert first["company"] == 'Acme, "Inc"'
    assert '"Acme, ""Inc"""' in response.content.decode("utf-8-sig")


async def test_the_export_streams_every_row_batch_after_batch_in_order(client, create_webinar, viewer_headers, monkeypatch):
    import shared.export

    monkeypatch.setattr(shared.export, "EXPORT_BATCH", 2)  # three batches for five rows
    webinar = await create_webinar()
    for n in range(5):
        response = await client.post(f"{BASE}/{webinar['id']}/register", json=visitor(f"r{n}@example.com"))
        assert response.status_code == 201
    url = f"{BASE}/{webinar['id']}/registrations"
    response = await client.get(url, params={"format": "csv", "sort": "-email"}, headers=viewer_headers)
    header, *records = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [dict(zip(header, r, strict=True))["email"] for r in records] == [f"r{n}@example.com" for n in (4, 3, 2, 1, 0)]
    assert response.content.count(b"\xef\xbb\xbf") == 1  # one byte-order mark, at the start
