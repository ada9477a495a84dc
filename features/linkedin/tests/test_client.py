"""The LinkedIn client against the fake over real HTTP: each failure becomes the typed error the policy expects."""

import httpx
import pytest

from features.linkedin.client import LinkedInClient
from features.linkedin.tests.factories import BASE, publish
from features.linkedin.tests.fake_linkedin import CLIENT_ID, LITTLE_RESERVED
from shared.publishing import (
    Credentials,
    DuplicateContent,
    PermissionMissing,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    SegmentToPublish,
    Unauthorized,
)
from tests.factories import free_port


@pytest.fixture
def member(linkedin) -> Credentials:
    linkedin.tokens["AQV-test"] = "member-ada"
    return Credentials("member-ada", "AQV-test")


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (429, {"status": 429, "message": "Resource level throttle"}, RateLimited),
        (500, {"status": 500, "message": "Internal"}, ProviderUnavailable),
        (503, None, ProviderUnavailable),
        (401, {"status": 401, "code": "REVOKED_ACCESS_TOKEN", "message": "revoked"}, Unauthorized),
        (422, {"status": 422, "code": "DUPLICATE_POST", "message": "Content is a duplicate"}, DuplicateContent),
        (403, {"status": 403, "message": "Not enough permissions"}, PermissionMissing),
        (400, {"status": 400, "message": "bad field"}, ProviderRejected),
    ],
)
async def test_each_refusal_is_its_typed_error(app, linkedin, member, status, body, error):
    linkedin.fail_next("/rest/posts", status, body)
    async with LinkedInClient(app.state.settings) as client:
        with pytest.raises(error) as raised:
            await client.publish(member, SegmentToPublish("hello"), reply_to=None)
    if isinstance(raised.value, ProviderUnavailable):
        # A 503 says LinkedIn took nothing; another 5xx to a new post may follow its creation.
        assert raised.value.sent is (status != 503)
    if isinstance(raised.value, RateLimited):
        assert raised.value.reset_at is None  # LinkedIn sends no reset: the policy backs off
    assert "AQV-test" not in raised.value.message


@pytest.mark.parametrize("reserved", sorted(LITTLE_RESERVED))
async def test_each_reserved_character_reaches_members_as_written(app, linkedin, member, reserved):
    text = f"Before {reserved} middle{reserved}x {reserved}{reserved} after"
    async with LinkedInClient(app.state.settings) as client:
        urn = await client.publish(member, SegmentToPublish(text), reply_to=None)
    assert linkedin.posts[urn]["rendered"] == text


async def test_hashtags_stay_hashtags_and_a_url_fragment_is_text(app, linkedin, member):
    text = "Launch day #python #3rd (see https://example.com/docs_v2#intro) # alone, C# and ~50% off: a\\b"
    async with LinkedInClient(app.state.settings) as client:
        urn = await client.publish(member, SegmentToPublish(text), reply_to=None)
    sent = linkedin.posts[urn]
    assert sent["rendered"] == text
    assert "#python #3rd" in sent["commentary"] and "\\(see" in sent["commentary"]
    assert "docs\\_v2\\#intro" in sent["commentary"] and "\\# alone" in sent["commentary"]
    assert "C\\# and \\~50%" in sent["commentary"] and "a\\\\b" in sent["commentary"]


async def test_the_fake_refuses_an_unescaped_reserved_character_as_linkedin_would_cut_there(linkedin, member):
    async with httpx.AsyncClient(base_url=linkedin.base_url) as http:
        response = await http.post("/rest/posts", json={
            "author": "urn:li:person:member-ada", "commentary": "Cut (here", "visibility": "PUBLIC",
            "distribution": {}, "lifecycleState": "PUBLISHED",
        }, headers={"Authorization": "Bearer AQV-test", "LinkedIn-Version": "202601", "X-Restli-Protocol-Version": "2.0.0"})
    assert response.status_code == 422 and "unescaped reserved character at 4" in response.text
    assert not linkedin.posts


async def test_no_server_listening_is_unavailable_before_sending(app, member):
    app.state.settings.linkedin_api_base_url = f"http://127.0.0.1:{free_port()}"
    async with LinkedInClient(app.state.settings) as client:
        with pytest.raises(ProviderUnavailable) as raised:
            await client.publish(member, SegmentToPublish("hello"), reply_to=None)
    assert raised.value.sent is False and not isinstance(raised.value, ProviderTimeout)


async def test_no_answer_after_sending_is_a_timeout(app, linkedin, member):
    linkedin.hang_after_create = True
    async with LinkedInClient(app.state.settings) as client:
        with pytest.raises(ProviderTimeout) as raised:
            await client.publish(member, SegmentToPublish("hello"), reply_to=None)
    assert raised.value.sent is True and len(linkedin.posts) == 1


async def test_a_created_post_without_its_urn_is_unknown(client, editor_headers, connect_account, create_post, linkedin):
    account = await connect_account()
    post = await create_post(account["id"])
    linkedin.fail_next("/rest/posts", 201, {})  # created, but no x-restli-id header
    assert (await publish(client, editor_headers, post["id"])).status_code == 502
    stored = (await client.get(f"{BASE}/content/{post['id']}", headers=editor_headers)).json()
    assert stored["status"] == "unknown" and "x-restli-id" in stored["error"]


async def test_analytics_without_the_scope_names_it(app, linkedin, member):
    linkedin.analytics_allowed = False
    linkedin.posts["urn:li:share:1"] = {"author": "urn:li:person:member-ada", "commentary": "x"}
    async with LinkedInClient(app.state.settings) as client:
        with pytest.raises(PermissionMissing) as raised:
            await client.fetch_metrics(member, ["urn:li:share:1"])
    assert raised.value.scope == "r_member_postAnalytics"


async def test_a_401_on_figures_marks_the_account(client, admin_headers, editor_headers, connect_account, create_post, linkedin):
    account = await connect_account()
    post = (await publish(client, editor_headers, (await create_post(account["id"]))["id"])).json()
    linkedin.expire_all_tokens()
    response = await client.get(f"{BASE}/engagement/{post['id']}?refresh=true", headers=editor_headers)
    assert response.status_code == 502
    listed = (await client.get(f"{BASE}/accounts", headers=admin_headers)).json()["items"]
    assert listed[0]["status"] == "reconnect_required"


async def test_the_authorization_url_asks_for_every_scope(app, linkedin):
    async with LinkedInClient(app.state.settings) as client:
        url = client.authorization_url(state="s1", redirect_uri="https://a.example/cb")
    assert f"client_id={CLIENT_ID}" in url and "state=s1" in url and "redirect_uri=https%3A%2F%2Fa.example%2Fcb" in url
    assert "scope=openid%20profile%20w_member_social%20r_member_postAnalytics" in url
