"""Engagement: snapshots on demand and by the worker (hourly, then daily), totals, a missing analytics scope."""

from datetime import timedelta

from features.linkedin.models import LinkedInAccount
from features.linkedin.tests.factories import BASE, png_bytes, publish
from features.linkedin.worker import fetch_engagement
from shared.db import utcnow
from tests.factories import job_context


async def published(client, editor_headers, connect_account, create_post, text="Figures"):
    account = await connect_account()
    post = await create_post(account["id"], text)
    response = await publish(client, editor_headers, post["id"])
    return account, response.json()


async def test_refresh_fetches_figures_and_keeps_their_history(client, editor_headers, connect_account, create_post, linkedin):
    _, post = await published(client, editor_headers, connect_account, create_post)
    linkedin.metrics[post["provider_post_id"]] = {"IMPRESSION": 120, "MEMBERS_REACHED": 90, "REACTION": 8, "COMMENT": 2}

    first = await client.get(f"{BASE}/engagement/{post['id']}?refresh=true", headers=editor_headers)
    linkedin.metrics[post["provider_post_id"]]["IMPRESSION"] = 150
    second = await client.get(f"{BASE}/engagement/{post['id']}?refresh=true", headers=editor_headers)
    stored = await client.get(f"{BASE}/engagement/{post['id']}", headers=editor_headers)

    assert first.status_code == 200, first.text
    assert first.json()["metrics"] == {"impressions": 120, "members_reached": 90, "reactions": 8, "comments": 2, "reshares": 0}
    assert second.json()["metrics"]["impressions"] == 150
    assert [h["metrics"]["impressions"] for h in stored.json()["history"]] == [150, 120]
    assert stored.json()["metrics"]["impressions"] == 150


async def test_a_missing_analytics_scope_is_a_403_naming_it(client, editor_headers, connect_account, create_post, linkedin):
    _, post = await published(client, editor_headers, connect_account, create_post)
    linkedin.analytics_allowed = False
    response = await client.get(f"{BASE}/engagement/{post['id']}?refresh=true", headers=editor_headers)
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "PROVIDER_ERROR" and "r_member_postAnalytics" in error["message"]
    assert error["details"] == [{"scope": "r_member_postAnalytics"}]


async def test_a_draft_has_no_figures_to_fetch(client, editor_headers, connect_account, create_post, linkedin):
    account = await connect_account()
    post = await create_post(account["id"])
    assert (await client.get(f"{BASE}/engagement/{post['id']}?refresh=true", headers=editor_headers)).status_code == 422
    empty = await client.get(f"{BASE}/engagement/{post['id']}", headers=editor_headers)
    assert empty.json() == {"post_id": post["id"], "status": "draft", "metrics": {}, "fetched_at": None, "history": []}


async def test_the_worker_fetches_hourly_in_the_first_week_and_totals_add_up(
    app, client, editor_headers, connect_account, create_post, linkedin
):
    account, one = await published(client, editor_headers, connect_account, create_post, "one")
    two = (await publish(client, editor_headers, (await create_post(account["id"], "two"))["id"])).json()
    linkedin.metrics[one["provider_post_id"]] = {"IMPRESSION": 10, "REACTION": 1}
    linkedin.metrics[two["provider_post_id"]] = {"IMPRESSION": 5}

    await fetch_engagement(job_context(app))
    analytics_calls = len([r for r in linkedin.requests if "Analytics" in r[1]])
    await fetch_engagement(job_context(app, lambda: utcnow() + timedelta(minutes=30)))  # not due yet
    assert len([r for r in linkedin.requests if "Analytics" in r[1]]) == analytics_calls == 10
    await fetch_engagement(job_context(app, lambda: utcnow() + timedelta(minutes=61)))
    assert len([r for r in linkedin.requests if "Analytics" in r[1]]) == 20

    totals = (await client.get(f"{BASE}/engagement", headers=editor_headers)).json()
    assert totals["totals"] == {"impressions": 15, "members_reached": 0, "reactions": 1, "comments": 0, "reshares": 0}
    assert sorted(p["post_id"] for p in totals["posts"]) == sorted([one["id"], two["id"]])
    future = (utcnow() + timedelta(days=1)).isoformat()
    none = await client.get(f"{BASE}/engagement", params={"from": future}, headers=editor_headers)
    assert none.json()["totals"]["impressions"] == 0 and none.json()["posts"] == []
    other = await client.get(f"{BASE}/engagement", params={"account_id": account["id"] + 1}, headers=editor_headers)
    assert other.json()["posts"] == []


async def test_an_image_uploaded_ahead_is_reused_when_published(client, editor_headers, connect_account, create_post, linkedin):
    account = await connect_account()
    response = await client.post(
        f"{BASE}/media", files={"file": ("photo.png", png_bytes(), "image/png")},
        data={"account_id": str(account["id"])}, headers=editor_headers,
    )
    assert response.status_code == 201, response.text
    uploaded = response.json()
    assert uploaded["provider_media_id"] in linkedin.images and uploaded["expires_at"] is None

    post = await create_post(account["id"], "With the photo", media_ids=[uploaded["media_id"]])
    assert (await publish(client, editor_headers, post["id"])).status_code == 200

    [body] = linkedin.posts.values()
    assert body["content"]["media"]["id"] == uploaded["provider_media_id"]
    assert len([r for r in linkedin.requests if r[1] == "/rest/images"]) == 1


async def test_an_image_upload_needs_a_known_account(client, editor_headers, linkedin):
    files = {"file": ("photo.png", png_bytes(), "image/png")}
    missing = await client.post(f"{BASE}/media", files=files, headers=editor_headers)
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "account_id"
    for odd in ("\u00b2", "\u0663", "1e3"):  # digits int() refuses or reads differently
        refused = await client.post(f"{BASE}/media", files=files, data={"account_id": odd}, headers=editor_headers)
        assert refused.status_code == 422 and refused.json()["error"]["field"] == "account_id", odd
    unknown = await client.post(f"{BASE}/media", files=files, data={"account_id": "77"}, headers=editor_headers)
    assert unknown.status_code == 404


async def test_a_429_on_figures_postpones_the_account_and_no_call_is_made_before_the_backoff_ends(
    app, client, editor_headers, connect_account, create_post, linkedin
):
    account, post = await published(client, editor_headers, connect_account, create_post)
    linkedin.fail_next("/rest/memberCreatorPostAnalytics", 429)  # LinkedIn says neither how long nor why
    now = utcnow()

    def analytics_calls():
        return sum(path.startswith("/rest/memberCreatorPostAnalytics") for _, path in linkedin.requests)

    await fetch_engagement(job_context(app, clock=lambda: now))
    async with app.state.db.session(write=False) as session:
        until = (await session.get(LinkedInAccount, account["id"])).postponed_until
    assert until is not None and until > now  # backing off, there being no reset to wait for
    calls = analytics_calls()
    await fetch_engagement(job_context(app, clock=lambda: now + (until - now) / 2))
    assert analytics_calls() == calls
    linkedin.metrics[post["provider_post_id"]] = {"IMPRESSION": 5}
    await fetch_engagement(job_context(app, clock=lambda: until + timedelta(seconds=1)))
    figures = (await client.get(f"{BASE}/engagement/{post['id']}", headers=editor_headers)).json()
    assert analytics_calls() > calls and figures["metrics"]["impressions"] == 5
