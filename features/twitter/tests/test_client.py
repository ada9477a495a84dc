"""The X client against the fake X over real httpx transports: the connect flow, tokens, tweets, images, metrics."""

import secrets
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr

from features.twitter.client import (
    METRIC_NAMES,
    SCOPES,
    ClientCredentialsRejected,
    MediaInvalid,
    ProviderRejected,
    Unauthorized,
    XClient,
    code_challenge,
)
from features.twitter.tests.conftest import approve, connect
from features.twitter.tests.fake_x import FakeTweet

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_the_authorization_url_asks_for_our_scopes_with_an_s256_challenge(x, x_settings):
    url = x.authorization_url(state="abc", code_challenge="challenge-value")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == x_settings.x_authorize_url
    query = parse_qs(parts.query)
    assert query["scope"] == ["tweet.read tweet.write users.read offline.access media.write"]
    assert "%20" in parts.query and "+" not in parts.query  # space separated, as X documents
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"] == ["challenge-value"]
    assert query["response_type"] == ["code"] and query["state"] == ["abc"]
    assert query["client_id"] == [x_settings.x_client_id] and query["redirect_uri"] == [x_settings.x_redirect_uri]
    assert tuple(query["scope"][0].split()) == SCOPES


def test_the_pkce_challenge_is_rfc_7636s_example():
    assert code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


async def test_connecting_exchanges_the_code_with_basic_auth_and_the_verifier(x, fake_x):
    tokens = await connect(x, fake_x)
    assert tokens.refresh_token and tokens.access_token
    assert tokens.expires_at == fake_x.now + timedelta(hours=2)
    assert set(tokens.scopes) == set(SCOPES)
    me = await x.me(access_token=tokens.access_token)
    assert (me.id, me.username, me.name) == (fake_x.signed_in.id, "magnetiq", "Magnetiq GmbH")
    assert tokens.access_token not in repr(tokens) and tokens.refresh_token not in repr(tokens)


async def test_a_wrong_verifier_or_a_reused_code_is_refused(x, fake_x):
    verifier = secrets.token_urlsafe(48)
    redirect = await approve(fake_x, x.authorization_url(state="s", code_challenge=code_challenge(verifier)))
    with pytest.raises(Unauthorized):
        await x.exchange_code(code=redirect["code"], code_verifier=secrets.token_urlsafe(48))
    redirect = await approve(fake_x, x.authorization_url(state="s", code_challenge=code_challenge(verifier)))
    await x.exchange_code(code=redirect["code"], code_verifier=verifier)
    with pytest.raises(Unauthorized) as caught:
        await x.exchange_code(code=redirect["code"], code_verifier=verifier)
    assert redirect["code"] not in str(caught.value)


async def test_a_code_older_than_30_seconds_is_refused(x, fake_x):
    verifier = secrets.token_urlsafe(48)
    redirect = await approve(fake_x, x.authorization_url(state="s", code_challenge=code_challenge(verifier)))
    fake_x.advance(seconds=31)
    with pytest.raises(Unauthorized):
        await x.exchange_code(code=redirect["code"], code_verifier=verifier)


async def test_wrong_client_credentials_name_the_variables_to_check(x_settings, fake_x):
    from httpx import ASGITransport

    x_settings.x_client_secret = SecretStr("not-the-secret")
    async with XClient(x_settings, transport=ASGITransport(app=fake_x.app)) as wrong:
        verifier = secrets.token_urlsafe(48)
        redirect = await approve(fake_x, wrong.authorization_url(state="s", code_challenge=code_challenge(verifier)))
        with pytest.raises(ClientCredentialsRejected) as caught:
            await wrong.exchange_code(code=redirect["code"], code_verifier=verifier)
    assert "X_CLIENT_SECRET" in str(caught.value) and "not-the-secret" not in str(caught.value)


async def test_an_access_token_dies_after_two_hours_and_the_refresh_token_rotates(x, fake_x):
    first = await connect(x, fake_x)
    fake_x.advance(hours=2)
    with pytest.raises(Unauthorized) as caught:
        await x.me(access_token=first.access_token)
    assert first.access_token not in str(caught.value)

    second = await x.refresh(refresh_token=first.refresh_token)
    assert second.refresh_token != first.refresh_token and second.access_token != first.access_token
    assert second.expires_at == fake_x.now + timedelta(hours=2)
    assert (await x.me(access_token=second.access_token)).username == "magnetiq"

    with pytest.raises(Unauthorized):  # the old refresh token was spent by the rotation
        await x.refresh(refresh_token=first.refresh_token)
    third = await x.refresh(refresh_token=second.refresh_token)
    assert third.refresh_token not in {first.refresh_token, second.refresh_token}


async def test_a_revoked_token_is_refused(x, fake_x):
    tokens = await connect(x, fake_x)
    await x.revoke(token=tokens.access_token)
    with pytest.raises(Unauthorized):
        await x.me(access_token=tokens.access_token)


async def test_a_thread_is_a_chain_of_replies(x, fake_x):
    token = fake_x.issue_token(fake_x.signed_in)
    first = await x.create_tweet(access_token=token, text="1/2 a thread")
    second = await x.create_tweet(access_token=token, text="2/2 the end", in_reply_to_tweet_id=first.id)
    assert fake_x.tweets[second.id].in_reply_to == first.id
    assert fake_x.tweets[first.id].text == "1/2 a thread"
    assert second.url == f"https://x.com/i/web/status/{second.id}"


async def test_a_reply_to_a_tweet_of_another_user_or_a_deleted_one_is_refused(x, fake_x):
    other = fake_x.add_user("someone", "Someone")
    theirs = await x.create_tweet(access_token=fake_x.issue_token(other), text="not ours")
    token = fake_x.issue_token(fake_x.signed_in)
    with pytest.raises(ProviderRejected) as caught:
        await x.create_tweet(access_token=token, text="reply", in_reply_to_tweet_id=theirs.id)
    assert caught.value.status == 403 and "not visible" in str(caught.value)
    mine = await x.create_tweet(access_token=token, text="mine")
    assert await x.delete_tweet(access_token=token, tweet_id=mine.id) is True
    with pytest.raises(ProviderRejected):
        await x.create_tweet(access_token=token, text="reply", in_reply_to_tweet_id=mine.id)


async def test_deleting_another_users_tweet_is_refused(x, fake_x):
    other = fake_x.add_user("someone", "Someone")
    theirs = await x.create_tweet(access_token=fake_x.issue_token(other), text="not ours")
    with pytest.raises(ProviderRejected):
        await x.delete_tweet(access_token=fake_x.issue_token(fake_x.signed_in), tweet_id=theirs.id)
    assert theirs.id in fake_x.tweets


async def test_an_uploaded_image_is_attached_until_it_expires_a_day_later(x, fake_x):
    token = fake_x.issue_token(fake_x.signed_in)
    media = await x.upload_image(access_token=token, content=PNG, content_type="image/png", filename="a.png")
    assert media.expires_at == fake_x.now + timedelta(days=1)
    assert media.media_key == f"3_{media.media_id}"
    tweet = await x.create_tweet(access_token=token, text="with an image", media_ids=[media.media_id])
    assert fake_x.tweets[tweet.id].media_ids == (media.media_id,)
    fake_x.advance(days=1)
    token = fake_x.issue_token(fake_x.signed_in)
    with pytest.raises(MediaInvalid):
        await x.create_tweet(access_token=token, text="the image expired", media_ids=[media.media_id])


async def test_images_of_another_user_or_more_than_four_are_refused(x, fake_x):
    other = fake_x.add_user("someone", "Someone")
    theirs = await x.upload_image(access_token=fake_x.issue_token(other), content=PNG, content_type="image/png")
    token = fake_x.issue_token(fake_x.signed_in)
    with pytest.raises(MediaInvalid):
        await x.create_tweet(access_token=token, text="not my image", media_ids=[theirs.media_id])
    mine = [(await x.upload_image(access_token=token, content=PNG, content_type="image/png")).media_id for _ in range(5)]
    with pytest.raises(ProviderRejected) as caught:
        await x.create_tweet(access_token=token, text="five images", media_ids=mine)
    assert "maximum of 4" in str(caught.value)
    await x.create_tweet(access_token=token, text="four images", media_ids=mine[:4])


async def test_something_that_is_not_an_image_is_refused_by_x(x, fake_x):
    with pytest.raises(ProviderRejected) as caught:
        await x.upload_image(access_token=fake_x.issue_token(fake_x.signed_in), content=b"%PDF-1.7", content_type="image/png")
    assert caught.value.status == 400


async def test_metrics_are_fetched_100_ids_a_call_with_our_names(x, fake_x):
    user = fake_x.signed_in
    ids = []
    for n in range(150):
        tweet = FakeTweet(id=str(1_000 + n), author_id=user.id, text=f"t{n}")
        tweet.metrics |= {"impression_count": n, "like_count": 2, "reply_count": 3, "retweet_count": 4,
                          "quote_count": 5, "bookmark_count": 6}
        fake_x.tweets[tweet.id] = tweet
        ids.append(tweet.id)
    result = await x.metrics(access_token=fake_x.issue_token(user), tweet_ids=[*ids, "999999"])
    assert len(fake_x.calls_to("GET /2/tweets")) == 2
    assert result.missing == {"999999"}
    assert result.metrics["1149"] == {"impressions": 149, "likes": 2, "replies": 3, "reposts": 4, "quotes": 5, "bookmarks": 6}
    assert set(result.metrics["1000"]) == set(METRIC_NAMES.values())
    assert len(result.metrics) == 150
