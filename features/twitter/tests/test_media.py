"""X media ids expire (a day after upload): an expired id is uploaded again before posting, and one X has
forgotten early is refused (400, nothing posted), then uploaded again and the tweet sent once more."""

from datetime import timedelta

from sqlalchemy import update

from features.twitter.models import TwitterMedia
from features.twitter.tests.factories import BASE, png_bytes
from shared.db import utcnow


async def _uploaded_ahead(client, editor_headers, account_id: int) -> int:
    response = await client.post(f"{BASE}/media", data={"account_id": str(account_id)},
                                 files={"file": ("p.png", png_bytes((9, 9, 9)), "image/png")}, headers=editor_headers)
    assert response.status_code == 201, response.text
    return response.json()["media_id"]


async def test_a_media_id_x_forgot_early_is_uploaded_again_and_the_tweet_sent_once(
    client, editor_headers, connect_account, create_post, twitter
):
    account = await connect_account()
    image = await _uploaded_ahead(client, editor_headers, account["id"])
    post = await create_post(account["id"], "first", "second, with the image", images={1: [image]})
    for item in twitter.media.values():  # X forgot it before the expiry it announced; we still trust it
        item.expires_at = twitter.now - timedelta(seconds=1)

    response = await client.post(f"{BASE}/content/{post['id']}/publish", headers=editor_headers)

    assert response.status_code == 200, response.text
    first, second = (twitter.tweets[s["provider_post_id"]] for s in response.json()["segments"])
    assert [t.text for t in twitter.tweets.values()] == ["first", "second, with the image"]  # each once
    assert second.in_reply_to == first.id and twitter.media[second.media_ids[0]].expires_at > twitter.now
    assert len(twitter.calls_to("POST /2/tweets")) == 3  # first, second refused for its media, second again
    assert len(twitter.calls_to("POST /2/media/upload")) == 2


async def test_a_media_id_older_than_a_day_is_uploaded_again_before_posting(
    app, client, editor_headers, connect_account, create_post, twitter
):
    account = await connect_account()
    image = await _uploaded_ahead(client, editor_headers, account["id"])
    async with app.state.db.session() as session:  # uploaded 25 hours ago; no expiry recorded
        await session.exec(update(TwitterMedia).values(uploaded_at=utcnow() - timedelta(hours=25), expires_at=None))
    for item in twitter.media.values():
        item.expires_at = twitter.now - timedelta(hours=1)
    post = await create_post(account["id"], "with yesterday's image", images={0: [image]})

    response = await client.post(f"{BASE}/content/{post['id']}/publish", headers=editor_headers)

    assert response.status_code == 200, response.text
    assert len(twitter.calls_to("POST /2/tweets")) == 1  # uploaded again first, never refused
    assert len(twitter.calls_to("POST /2/media/upload")) == 2
