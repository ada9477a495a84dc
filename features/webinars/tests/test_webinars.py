from datetime import datetime

from features.webinars.tests.factories import BASE, in_days, webinar_body
from tests.factories import visitor


async def test_editor_creates_a_webinar_stored_in_utc_with_seats_left(client, editor_headers):
    body = webinar_body(starts_at="2030-05-07T14:00:00+02:00", capacity=50)
    response = await client.post(BASE, json=body, headers=editor_headers)
    assert response.status_code == 201, response.text
    webinar = response.json()
    assert webinar["slug"] == "lead-scoring-101" and webinar["title"] == body["title"]
    assert datetime.fromisoformat(webinar["starts_at"]) == datetime.fromisoformat("2030-05-07T12:00:00+00:00")
    assert webinar["starts_at"].endswith(("+00:00", "Z"))
    assert datetime.fromisoformat(webinar["ends_at"]) == datetime.fromisoformat("2030-05-07T12:45:00+00:00")
    assert webinar["seats_left"] == 50 and webinar["registrations_count"] == 0
    assert webinar["join_url"] == body["join_url"]


async def test_roles_viewers_read_editors_write_admins_delete(client, create_webinar, viewer_headers, editor_headers, admin_headers):
    assert (await client.post(BASE, json=webinar_body())).status_code == 401
    assert (await client.post(BASE, json=webinar_body(), headers=viewer_headers)).status_code == 403
    webinar = await create_webinar()
    url = f"{BASE}/{webinar['id']}"
    assert (await client.put(url, json={"capacity": 5})).status_code == 401
    assert (await client.put(url, json={"capacity": 5}, headers=viewer_headers)).status_code == 403
    updated = await client.put(url, json={"capacity": 5, "presenter": "Grace"}, headers=editor_headers)
    assert updated.status_code == 200 and updated.json()["capacity"] == 5 and updated.json()["presenter"] == "Grace"
    assert (await client.delete(url, headers=editor_headers)).status_code == 403
    assert (await client.delete(url, headers=admin_headers)).status_code == 204
    assert (await client.get(url, headers=admin_headers)).status_code == 404


async def test_visitors_see_published_webinars_only_and_never_the_join_url(client, create_webinar, viewer_headers):
    published = await create_webinar("open-one")
    draft = await create_webinar("draft-one", status="draft")
    cancelled = await create_webinar("cancelled-one", status="cancelled")

    listed = await client.get(BASE)
    assert listed.status_code == 200
    assert [w["slug"] for w in listed.json()["items"]] == ["open-one"] and listed.json()["total"] == 1
    assert "join_url" not in listed.json()["items"][0] and "registrations_count" not in listed.json()["items"][0]
    detail = await client.get(f"{BASE}/{published['id']}")
    assert detail.status_code == 200 and "join_url" not in detail.json() and "join_url" not in detail.text
    assert detail.json()["seats_left"] is None
    for hidden in (draft, cancelled):
        response = await client.get(f"{BASE}/{hidden['id']}")
        assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"
    # Asking for drafts does not show them to visitors either.
    assert (await client.get(BASE, params={"status": "draft"})).json()["items"] == []

    staff = await client.get(BASE, headers=viewer_headers)
    assert {w["slug"] for w in staff.json()["items"]} == {"open-one", "draft-one", "cancelled-one"}
    assert all("join_url" in w for w in staff.json()["items"])
    assert (await client.get(f"{BASE}/{draft['id']}", headers=viewer_headers)).json()["join_url"]
    drafts = await client.get(BASE, params={"status": "draft"}, headers=viewer_headers)
    assert [w["slug"] for w in drafts.json()["items"]] == ["draft-one"]


async def test_a_bad_token_is_refused_not_treated_as_a_visitor(client, create_webinar):
    await create_webinar()
    response = await client.get(BASE, headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401 and response.json()["error"]["code"] == "INVALID_TOKEN"


async def test_upcoming_come_first_soonest_first_then_past_latest_first(client, create_webinar):
    await create_webinar("long-ago", starts_at=in_days(-30))
    await create_webinar("in-a-month", starts_at=in_days(30))
    await create_webinar("yesterday", starts_at=in_days(-1))
    await create_webinar("tomorrow", starts_at=in_days(1))

    everything = await client.get(BASE)
    assert [w["slug"] for w in everything.json()["items"]] == ["tomorrow", "in-a-month", "yesterday", "long-ago"]
    upcoming = await client.get(BASE, params={"when": "upcoming"})
    assert [w["slug"] for w in upcoming.json()["items"]] == ["tomorrow", "in-a-month"]
    past = await client.get(BASE, params={"when": "past"})
    assert [w["slug"] for w in past.json()["items"]] == ["yesterday", "long-ago"]
    page = await client.get(BASE, params={"limit": 1, "offset": 1})
    assert page.json() | {"items": None} == {"items": None, "total": 4, "limit": 1, "offset": 1}
    assert [w["slug"] for w in page.json()["items"]] == ["in-a-month"]


async def test_sorting_on_documented_fields_only(client, create_webinar):
    for slug in ("bravo", "alpha", "charlie"):
        await create_webinar(slug)
    by_slug = await client.get(BASE, params={"sort": "-slug"})
    assert [w["slug"] for w in by_slug.json()["items"]] == ["charlie", "bravo", "alpha"]
    unknown = await client.get(BASE, params={"sort": "join_url"})
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "sort"


async def test_search_in_titles(client, create_webinar):
    await create_webinar("scoring", title={"en": "Lead scoring", "de": "Bewertung"})
    await create_webinar("nurturing", title={"en": "Nurturing", "de": "Pflege"})
    found = await client.get(BASE, params={"q": "bewert"})
    assert [w["slug"] for w in found.json()["items"]] == ["scoring"]


async def test_slug_is_unique_and_shaped(client, create_webinar, editor_headers):
    first = await create_webinar("launch")
    clash = await client.post(BASE, json=webinar_body("launch"), headers=editor_headers)
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "SLUG_TAKEN"
    other = await create_webinar("other")
    rename = await client.put(f"{BASE}/{other['id']}", json={"slug": "launch"}, headers=editor_headers)
    assert rename.status_code == 409 and rename.json()["error"]["code"] == "SLUG_TAKEN"
    same = await client.put(f"{BASE}/{first['id']}", json={"slug": "launch"}, headers=editor_headers)
    assert same.status_code == 200
    for slug in ("Launch Day", "launch_day", "-launch", "launch--day", ""):
        response = await client.post(BASE, json=webinar_body(slug), headers=editor_headers)
        assert response.status_code == 422 and response.json()["error"]["field"] == "slug", slug


async def test_fields_are_validated(client, editor_headers):
    cases = {
        "timezone": {"timezone": "Mars/Olympus"},
        "starts_at": {"starts_at": "2030-05-07T14:00:00"},  # no offset
        "duration_minutes": {"duration_minutes": 0},
        "capacity": {"capacity": 0},
        "join_url": {"join_url": "javascript:alert(1)"},
        "title.fr": {"title": {"en": "A", "fr": "B"}},
        "title.en": {"title": {"de": "Nur Deutsch"}},
        "title.de": {"title": {"en": "One", "de": "Zwei\nZeilen"}},  # a title becomes a mail subject
        "presenter": {"presenter": "Ada\r\nBcc: x@example.com"},
    }
    for field, override in cases.items():
        response = await client.post(BASE, json=webinar_body(**override), headers=editor_headers)
        assert response.status_code == 422, (field, response.text)
        assert response.json()["error"]["field"] == field
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    far = await client.post(BASE, json=webinar_body(starts_at="9999-12-31T23:59:59-23:59"), headers=editor_headers)
    assert far.status_code == 422 and far.json()["error"]["field"] == "starts_at"
    for zone in ("localtime", "Factory", "posix/Europe/Berlin"):  # files of the zone database, not IANA names
        response = await client.post(BASE, json=webinar_body(timezone=zone), headers=editor_headers)
        assert response.status_code == 422 and response.json()["error"]["field"] == "timezone", zone


async def test_a_published_webinar_needs_a_join_url(client, create_webinar, editor_headers):
    response = await client.post(BASE, json=webinar_body(join_url=None), headers=editor_headers)
    assert response.status_code == 422 and response.json()["error"]["field"] == "join_url"
    draft = await create_webinar(status="draft", join_url=None)
    publish = await client.put(f"{BASE}/{draft['id']}", json={"status": "published"}, headers=editor_headers)
    assert publish.status_code == 422 and publish.json()["error"]["field"] == "join_url"


async def test_required_fields_cannot_be_set_to_null(client, create_webinar, editor_headers):
    webinar = await create_webinar()
    response = await client.put(f"{BASE}/{webinar['id']}", json={"title": None}, headers=editor_headers)
    assert response.status_code == 422 and response.json()["error"]["field"] == "title"
    unlimited = await client.put(f"{BASE}/{webinar['id']}", json={"capacity": None}, headers=editor_headers)
    assert unlimited.status_code == 200 and unlimited.json()["capacity"] is None


async def test_description_html_is_sanitized(client, create_webinar):
    webinar = await create_webinar(description={"en": '<p onclick="x()">Hi<script>alert(1)</script></p>'})
    stored = (await client.get(f"{BASE}/{webinar['id']}")).json()["description"]["en"]
    assert stored == "<p>Hi</p>"


async def test_seats_left_counts_registrations(client, create_webinar, viewer_headers):
    webinar = await create_webinar(capacity=3)
    await client.post(f"{BASE}/{webinar['id']}/register", json=visitor("a@example.com"))
    public = (await client.get(f"{BASE}/{webinar['id']}")).json()
    assert public["seats_left"] == 2
    staff = (await client.get(BASE, headers=viewer_headers)).json()["items"][0]
    assert staff["seats_left"] == 2 and staff["registrations_count"] == 1


async def test_capacity_cannot_drop_below_the_registrations(client, create_webinar, editor_headers):
    webinar = await create_webinar(capacity=5)
    for n in range(2):
        await client.post(f"{BASE}/{webinar['id']}/register", json=visitor(f"v{n}@example.com"))
    lower = await client.put(f"{BASE}/{webinar['id']}", json={"capacity": 1}, headers=editor_headers)
    assert lower.status_code == 422 and lower.json()["error"]["field"] == "capacity"
    assert (await client.put(f"{BASE}/{webinar['id']}", json={"capacity": 2}, headers=editor_headers)).status_code == 200


async def test_delete_is_refused_once_someone_registered(client, create_webinar, admin_headers):
    webinar = await create_webinar()
    await client.post(f"{BASE}/{webinar['id']}/register", json=visitor())
    response = await client.delete(f"{BASE}/{webinar['id']}", headers=admin_headers)
    assert response.status_code == 409 and response.json()["error"]["code"] == "IN_USE"
    assert (await client.get(f"{BASE}/{webinar['id']}")).status_code == 200


async def test_a_cancelled_webinar_stays_cancelled(client, create_webinar, editor_headers):
    webinar = await create_webinar()
    url = f"{BASE}/{webinar['id']}"
    cancelled = await client.put(url, json={"status": "cancelled"}, headers=editor_headers)
    assert cancelled.status_code == 200 and cancelled.json()["cancelled_at"]
    reopen = await client.put(url, json={"status": "published"}, headers=editor_headers)
    assert reopen.status_code == 409 and reopen.json()["error"]["code"] == "INVALID_TRANSITION"
    edit = await client.put(url, json={"presenter": "Someone else"}, headers=editor_headers)
    assert edit.status_code == 200 and edit.json()["status"] == "cancelled"


async def test_unknown_webinar_is_404(client, viewer_headers, editor_headers):
    assert (await client.get(f"{BASE}/999")).status_code == 404
    assert (await client.put(f"{BASE}/999", json={"capacity": 3}, headers=editor_headers)).status_code == 404
    assert (await client.get(f"{BASE}/999/registrations", headers=viewer_headers)).status_code == 404


async def test_control_characters_in_plain_text_are_422_and_nothing_is_stored(client, editor_headers):
    cases = {
        "title.en": {"title": {"en": "Lead\u0000scoring"}},
        "title.de": {"title": {"en": "Lead scoring", "de": "Lead\u009bScoring"}},  # a C1 control
        "presenter": {"presenter": "Ada\u007f"},
        "description.en": {"description": {"en": "<p>\u0000</p>"}},
    }
    for field, override in cases.items():
        response = await client.post(BASE, json=webinar_body(**override), headers=editor_headers)
        assert response.status_code == 422, (field, response.text)
        assert response.json()["error"]["field"] == field
        assert "must not contain control characters" in response.json()["error"]["message"]
    assert (await client.get(BASE, headers=editor_headers)).json()["total"] == 0
    kept = await client.post(BASE, json=webinar_body(description={"en": "<p>One</p>\n<p>Two</p>"}), headers=editor_headers)
    assert kept.status_code == 201 and kept.json()["description"]["en"].count("\n") == 1
