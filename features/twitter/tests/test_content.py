"""Writing X posts: weighted length and images checked per segment (422 naming it), edits, engagement."""

from datetime import timedelta

from features.twitter.tests.factories import BASE
from features.twitter.tests.fake_x import Fault
from features.twitter.worker import fetch_engagement
from shared.db import utcnow
from tests.factories import job_context


async def test_a_segment_over_280_weighted_characters_is_refused_by_its_index(
    client, editor_headers, connect_account, twitter
):
    account = await connect_account()
    body = {"account_id": account["id"], "segments": [{"text": "fine"}, {"text": "の" * 141}]}
    response = await client.post(f"{BASE}/content", json=body, headers=editor_headers)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "segments.1.text" and "282" in error["message"]
    long_url = "https://example.com/" + "a" * 400  # weighs 23 however long
    body = {"account_id": account["id"], "segments": [{"text": f"{'x' * 250} {long_url}"}]}
    assert (await client.post(f"{BASE}/content", json=body, headers=editor_headers)).status_code == 201


async def test_images_are_checked_per_segment(client, editor_headers, connect_account, upload_image, twitter):
    account = await connect_account()
    images = [await upload_image((n, n, n)) for n in range(5)]
    five = {"account_id": account["id"], "segments": [{"text": "a", "media_ids": images}]}
    response = await client.post(f"{BASE}/content", json=five, headers=editor_headers)
    assert response.status_code == 422 and response.json()["error"]["field"].startswith("segments.0.media_ids")
    unknown = {"account_id": account["id"], "segments": [{"text": "a"}, {"text": "b", "media_ids": [999]}]}
    response = await client.post(f"{BASE}/content", json=unknown, headers=editor_headers)
    assert response.status_code == 422 and response.json()["error"]["field"] == "segments.1.media_ids.0"


async def test_a_scheduled_thread_can_be_edited_until_x_took_part_of_it(
    client, editor_headers, connect_account, create_post, twitter
):
    account = await connect_account()
    post = await create_post(account["id"], "one", "two", scheduled_at=(utcnow() + timedelta(days=1)).isoformat())
    edited = await client.put(f"{BASE}/content/{post['id']}", json={"segments": [{"text": "only one"}]},
                              headers=editor_headers)
    assert edited.status_code == 200 and [s["text"] for s in edited.json()["segments"]] == ["only one"]
    assert (await client.post(f"{BASE}/content/{post['id']}/publish", headers=editor_headers)).status_code == 200
    again = await client.put(f"{BASE}/content/{post['id']}", json={"segments": [{"text": "late"}]},
                             headers=editor_headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "INVALID_TRANSITION"


async def test_engagement_sums_a_threads_tweets_and_keeps_history(
    app, client, editor_headers, connect_account, create_post, twitter
):
    account = await connect_account()
    post = await create_post(account["id"], "first", "second")
    published = (await client.post(f"{BASE}/content/{post['id']}/publish", headers=editor_headers)).json()
    ids = [s["provider_post_id"] for s in published["segments"]]
    for n, tweet_id in enumerate(ids, start=1):
        twitter.tweets[tweet_id].metrics |= {"impression_count": 100 * n, "like_count": n, "retweet_count": 1}

    fresh = await client.get(f"{BASE}/engagement/{post['id']}?refresh=true", headers=editor_headers)

    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["metrics"] == {"impressions": 300, "likes": 3, "replies": 0, "reposts": 2, "quotes": 0,
                                       "bookmarks": 0}
    twitter.tweets[ids[0]].metrics["like_count"] = 10
    await fetch_engagement(job_context(app, clock=lambda: utcnow() + timedelta(hours=2)))
    figures = (await client.get(f"{BASE}/engagement/{post['id']}", headers=editor_headers)).json()
    assert figures["metrics"]["likes"] == 12 and len(figures["history"]) == 2
    totals = (await client.get(f"{BASE}/engagement", headers=editor_headers)).json()
    assert totals["totals"]["likes"] == 12 and totals["totals"]["impressions"] == 300
    assert [p["post_id"] for p in totals["posts"]] == [post["id"]]


async def test_a_401_while_fetching_figures_marks_the_account_reconnect_required(
    client, editor_headers, admin_headers, connect_account, create_post, twitter
):
    account = await connect_account()
    post = await create_post(account["id"], "figures please")
    assert (await client.post(f"{BASE}/content/{post['id']}/publish", headers=editor_headers)).status_code == 200
    twitter.fail_next("GET /2/tweets", Fault(status=401))

    response = await client.get(f"{BASE}/engagement/{post['id']}?refresh=true", headers=editor_headers)

    assert response.status_code == 502 and response.json()["error"]["code"] == "PROVIDER_ERROR"
    [listed] = (await client.get(f"{BASE}/accounts", headers=admin_headers)).json()["items"]
    assert listed["status"] == "reconnect_required"


async def test_system_health_counts_x_accounts(client, admin_headers, connect_account, twitter):
    await connect_account()
    health = (await client.get("/api/v1/admin/system-health", headers=admin_headers)).json()
    assert health["checks"]["providers"]["twitter"] == {"configured": True, "active": 1, "expiring": 0,
                                                        "reconnect_required": 0}


async def test_an_image_a_post_uses_cannot_be_deleted(client, editor_headers, admin_headers, connect_account,
                                                       create_post, upload_image, twitter):
    account = await connect_account()
    kept, dropped = await upload_image((1, 1, 1)), await upload_image((2, 2, 2))
    post = await create_post(account["id"], "one", "two", images={1: [kept]})
    refused = await client.delete(f"/api/v1/content/media/{kept}", headers=admin_headers)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "IN_USE"
    await client.put(f"{BASE}/content/{post['id']}", json={"segments": [{"text": "other", "media_ids": [dropped]}]},
                     headers=editor_headers)
    assert (await client.delete(f"/api/v1/content/media/{kept}", headers=admin_headers)).status_code == 204
