"""Writing LinkedIn posts: validation, drafts and scheduling, edits only while draft or scheduled, cancel and delete."""

from datetime import timedelta

import pytest

from features.linkedin.tests.factories import BASE, publish
from shared.db import utcnow
from tests.factories import assert_declared


def later(minutes: int = 60) -> str:
    return (utcnow() + timedelta(minutes=minutes)).isoformat()


async def test_a_draft_is_written_listed_and_read(client, editor_headers, viewer_headers, connect_account, create_post):
    account = await connect_account()
    post = await create_post(account["id"], "A draft")
    assert post["status"] == "draft" and post["provider_post_id"] is None and post["url"] is None
    listed = (await client.get(f"{BASE}/content?status=draft", headers=viewer_headers)).json()
    assert [p["id"] for p in listed["items"]] == [post["id"]]
    assert (await client.get(f"{BASE}/content?status=published", headers=viewer_headers)).json()["total"] == 0
    assert (await client.get(f"{BASE}/content/{post['id']}", headers=viewer_headers)).json()["text"] == "A draft"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"text": "x" * 3001}, "text"),
        ({"text": "   "}, "text"),
        ({"media_ids": list(range(1, 11))}, "media_ids"),
        ({"media_ids": [1, 1]}, "media_ids"),
        ({"account_id": 999}, "account_id"),
        ({"media_ids": [999]}, "media_ids.0"),
        ({"scheduled_at": "2020-01-01T00:00:00Z"}, "scheduled_at"),
        ({"scheduled_at": "2030-01-01T00:00:00"}, "scheduled_at"),  # no offset
    ],
)
async def test_invalid_content_is_a_422_naming_the_field(client, editor_headers, connect_account, change, field):
    account = await connect_account()
    body = {"account_id": account["id"], "text": "Fine", **change}
    response = await client.post(f"{BASE}/content", json=body, headers=editor_headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


async def test_3000_characters_are_allowed(connect_account, create_post):
    account = await connect_account()
    assert len((await create_post(account["id"], "é" * 3000))["text"]) == 3000


async def test_a_document_is_not_an_image(client, editor_headers, connect_account):
    account = await connect_account()
    pdf = await client.post(
        "/api/v1/content/media", files={"file": ("a.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
                                                 "application/pdf")}, headers=editor_headers,
    )
    body = {"account_id": account["id"], "text": "With a PDF", "media_ids": [pdf.json()["id"]]}
    response = await client.post(f"{BASE}/content", json=body, headers=editor_headers)
    assert response.status_code == 422 and response.json()["error"]["field"] == "media_ids.0"


async def test_scheduling_and_unscheduling_by_put(client, editor_headers, connect_account, create_post):
    account = await connect_account()
    post = await create_post(account["id"])
    scheduled = await client.put(f"{BASE}/content/{post['id']}", json={"scheduled_at": later()}, headers=editor_headers)
    assert scheduled.json()["status"] == "scheduled"
    edited = await client.put(f"{BASE}/content/{post['id']}", json={"text": "Edited"}, headers=editor_headers)
    assert edited.json()["text"] == "Edited" and edited.json()["status"] == "scheduled"
    draft = await client.put(f"{BASE}/content/{post['id']}", json={"scheduled_at": None}, headers=editor_headers)
    assert draft.json()["status"] == "draft" and draft.json()["scheduled_at"] is None
    nulled = await client.put(f"{BASE}/content/{post['id']}", json={"text": None}, headers=editor_headers)
    assert nulled.status_code == 422


async def test_a_published_post_cannot_be_edited(client, editor_headers, connect_account, create_post, linkedin):
    account = await connect_account()
    post = await create_post(account["id"])
    await publish(client, editor_headers, post["id"])
    response = await client.put(f"{BASE}/content/{post['id']}", json={"text": "Too late"}, headers=editor_headers)
    assert response.status_code == 409 and response.json()["error"]["code"] == "INVALID_TRANSITION"


async def test_delete_cancels_a_draft_and_deletes_a_published_post_at_linkedin(
    client, admin_headers, editor_headers, connect_account, create_post, linkedin
):
    account = await connect_account()
    draft, published = await create_post(account["id"], "draft"), await create_post(account["id"], "live")
    await publish(client, editor_headers, published["id"])
    assert len(linkedin.posts) == 1

    assert (await client.delete(f"{BASE}/content/{draft['id']}", headers=admin_headers)).status_code == 204
    assert (await client.delete(f"{BASE}/content/{published['id']}", headers=admin_headers)).status_code == 204

    assert not linkedin.posts
    for post in (draft, published):
        assert (await client.get(f"{BASE}/content/{post['id']}", headers=admin_headers)).json()["status"] == "cancelled"
    assert (await client.delete(f"{BASE}/content/{draft['id']}", headers=admin_headers)).status_code == 409
    assert (await publish(client, editor_headers, draft["id"])).status_code == 409


async def test_a_rate_limited_deletion_is_429_as_declared_and_the_post_stays_published(
    app, client, admin_headers, editor_headers, connect_account, create_post, linkedin
):
    account = await connect_account()
    post = (await publish(client, editor_headers, (await create_post(account["id"], "live"))["id"])).json()
    linkedin.fail_next("/rest/posts/", 429, {"status": 429, "message": "Throttled"})

    response = await client.delete(f"{BASE}/content/{post['id']}", headers=admin_headers)

    assert response.status_code == 429 and response.json()["error"]["code"] == "RATE_LIMITED"
    assert_declared(app, response)
    assert (await client.get(f"{BASE}/content/{post['id']}", headers=admin_headers)).json()["status"] == "published"
    assert post["provider_post_id"] in linkedin.posts


async def test_an_unknown_post_cannot_be_deleted_until_reset(
    client, admin_headers, editor_headers, connect_account, create_post, linkedin
):
    account = await connect_account()
    post = await create_post(account["id"])
    linkedin.hang_after_create = True
    await publish(client, editor_headers, post["id"])
    assert (await client.delete(f"{BASE}/content/{post['id']}", headers=admin_headers)).status_code == 409


async def test_editors_do_not_delete_and_viewers_do_not_write(client, editor_headers, viewer_headers, connect_account, create_post):
    account = await connect_account()
    post = await create_post(account["id"])
    assert (await client.delete(f"{BASE}/content/{post['id']}", headers=editor_headers)).status_code == 403
    body = {"account_id": account["id"], "text": "no"}
    assert (await client.post(f"{BASE}/content", json=body, headers=viewer_headers)).status_code == 403
    assert (await publish(client, viewer_headers, post["id"])).status_code == 403


async def test_an_image_a_post_uses_cannot_be_deleted(client, admin_headers, editor_headers, connect_account, create_post, upload_image):
    account = await connect_account()
    used, freed = await upload_image(1), await upload_image(2)
    post = await create_post(account["id"], "With images", media_ids=[used, freed])
    await client.put(f"{BASE}/content/{post['id']}", json={"media_ids": [used]}, headers=editor_headers)

    refused = await client.delete(f"/api/v1/content/media/{used}", headers=admin_headers)

    assert refused.status_code == 409 and refused.json()["error"]["code"] == "IN_USE"
    assert (await client.delete(f"/api/v1/content/media/{freed}", headers=admin_headers)).status_code == 204
