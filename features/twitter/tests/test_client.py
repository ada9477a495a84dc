"""The X client against the fake X over real httpx transports: the connect flow, tokens, tweets, images, metrics."""

import secrets
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from httpx import ASGITransport
from pydantic import SecretStr

from features.twitter.client import (
    METRIC_NAMES,
    SCOPES,
    ClientCredentialsRejected,
    MediaInvalid,
    XClient,
)
from features.twitter.tests.factories import approve, connect, credentials
from features.twitter.tests.fake_x import FakeTweet
from shared.oauth import s256_challenge
from shared.publishing import MediaToUpload, ProviderRejected, SegmentToPublish, SocialProvider, Unauthorized

PNG = MediaToUpload(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png", "a.png")
REDIRECT = "http://localhost:3036/x/callback"


def tweet(text: str, *media: str) -> SegmentToPublish:
    return SegmentToPublish(text, tuple(media))


def test_the_client_speaks_the_kernels_provider_interface(x):
    provider: SocialProvider = x
    assert provider.name == "twitter"


def test_the_authorization_url_asks_for_our_scopes_with_an_s256_challenge(x, x_settings):
    url = x.authorization_url(state="abc", redirect_uri=REDIRECT, code_challenge="challenge-value")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == x_settings.x_authorize_url
    query = parse_qs(parts.query)
    assert query["scope"] == ["tweet.read tweet.write users.read offline.access media.write"]
    assert "%20" in parts.query and "+" not in parts.query  # space separated, as X documents
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"] == ["challenge-value"]
    assert query["response_type"] == ["code"] and query["state"] == ["abc"]
    assert query["client_id"] == [x_settings.x_client_id] and query["redirect_uri"] == [REDIRECT]
    assert tuple(query["scope"][0].split()) == SCOPES
    with pytest.raises(ValueError):
        x.authorization_url(state="abc", redirect_uri=REDIRECT, code_challenge=None)


async def test_connecting_exchanges_the_code_with_basic_auth_and_the_verifier(x, fake_x):
    tokens = await connect(x, fake_x)
    assert tokens.refresh_token and tokens.access_token
    assert tokens.expires_at == fake_x.now + timedelta(hours=2)
    assert set(tokens.scopes) == set(SCOPES)
    identity = await x.fetch_identity(tokens.access_token)
    assert identity.provider_user_id == fake_x.signed_in.id
    assert identity.display_name == "Magnetiq GmbH (@magnetiq)"
    assert tokens.access_token not in repr(tokens) and tokens.refresh_token not in repr(tokens)
    account = credentials(fake_x)
    assert account.access_token not in repr(account)


async def test_a_wrong_verifier_or_a_reused_code_is_refused(x, fake_x):
    verifier = secrets.token_urlsafe(48)
    url = x.authorization_url(state="s", redirect_uri=REDIRECT, code_challenge=s256_challenge(verifier))
    redirect = await approve(fake_x, url)
    with pytest.raises(Unauthorized):
        await x.exchange_code(code=redirect["code"], redirect_uri=REDIRECT, code_verifier=secrets.token_urlsafe(48))
    redirect = await approve(fake_x, url)
    await x.exchange_code(code=redirect["code"], redirect_uri=REDIRECT, code_verifier=verifier)
    with pytest.raises(Unauthorized) as caught:
        await x.exchange_code(code=redirect["code"], redirect_uri=REDIRECT, code_verifier=verifier)
    assert redirect["code"] not in str(caught.value)


async def test_a_code_older_than_30_seconds_or_for_another_redirect_is_refused(x, fake_x):
    verifier = secrets.token_urlsafe(48)
    url = x.authorization_url(state="s", redirect_uri=REDIRECT, code_challenge=s256_challenge(verifier))
    redirect = await approve(fake_x, url)
    with pytest.raises(Unauthorized):
        await x.exchange_code(code=redirect["code"], redirect_uri="http://elsewhere.test/cb", code_verifier=verifier)
    redirect = await approve(fake_x, url)
    fake_x.advance(seconds=31)
    with pytest.raises(Unauthorized):
        await x.exchange_code(code=redirect["code"], redirect_uri=REDIRECT, code_verifier=verifier)


async def test_wrong_client_credentials_name_the_variables_to_check(x_settings, fake_x):
    x_settings.x_client_secret = SecretStr("not-the-secret")
    async with XClient(x_settings, transport=ASGITransport(app=fake_x.app)) as wrong:
        verifier = secrets.token_urlsafe(48)
        url = wrong.authorization_url(state="s", redirect_uri=REDIRECT, code_challenge=s256_challenge(verifier))
        redirect = await approve(fake_x, url)
        with pytest.raises(ClientCredentialsRejected) as caught:
            await wrong.exchange_code(code=redirect["code"], redirect_uri=REDIRECT, code_verifier=verifier)
    assert "X_CLIENT_SECRET" in str(caught.value) and "not-the-secret" not in str(caught.value)


async def test_an_access_token_dies_after_two_hours_and_the_refresh_token_rotates(x, fake_x):
    first = await connect(x, fake_x)
    fake_x.advance(hours=2)
    with pytest.raises(Unauthorized) as caught:
        await x.fetch_identity(first.access_token)
    assert first.access_token not in str(caught.value)

    second = await x.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token and second.access_token != first.access_token
    assert second.expires_at == fake_x.now + timedelta(hours=2)
    assert (await x.fetch_identity(second.access_token)).provider_user_id == fake_x.signed_in.id

    with pytest.raises(Unauthorized) as caught:  # the old refresh token was spent by the rotation
        await x.refresh(first.refresh_token)
    assert first.refresh_token not in str(caught.value)
    third = await x.refresh(second.refresh_token)
    assert third.refresh_token not in {first.refresh_token, second.refresh_token}


async def test_a_revoked_token_is_refused(x, fake_x):
    tokens = await connect(x, fake_x)
    await x.revoke(tokens.access_token)
    with pytest.raises(Unauthorized):
        await x.fetch_identity(tokens.access_token)


async def test_a_thread_is_a_chain_of_replies(x, fake_x):
    account = credentials(fake_x)
    first = await x.publish(account, tweet("1/2 a thread"), reply_to=None)
    second = await x.publish(account, tweet("2/2 the end"), reply_to=first)
    assert fake_x.tweets[second].in_reply_to == first
    assert fake_x.tweets[first].text == "1/2 a thread" and fake_x.tweets[first].in_reply_to is None


async def test_a_reply_to_a_tweet_of_another_user_or_a_deleted_one_is_refused(x, fake_x):
    theirs = await x.publish(credentials(fake_x, fake_x.add_user("someone", "Someone")), tweet("not ours"), reply_to=None)
    account = credentials(fake_x)
    with pytest.raises(ProviderRejected) as caught:
        await x.publish(account, tweet("reply"), reply_to=theirs)
    assert "403" in str(caught.value) and "not visible" in str(caught.value)
    mine = await x.publish(account, tweet("mine"), reply_to=None)
    await x.delete(account, mine)
    assert mine not in fake_x.tweets
    with pytest.raises(ProviderRejected):
        await x.publish(account, tweet("reply"), reply_to=mine)


async def test_deleting_a_tweet_already_gone_is_fine_and_another_users_is_refused(x, fake_x):
    theirs = await x.publish(credentials(fake_x, fake_x.add_user("someone", "Someone")), tweet("not ours"), reply_to=None)
    account = credentials(fake_x)
    await x.delete(account, "123456")  # X answers 404: already gone
    with pytest.raises(ProviderRejected):
        await x.delete(account, theirs)
    assert theirs in fake_x.tweets
    with pytest.raises(ProviderRejected):
        await x.delete(account, "../users/me")  # never becomes a path


async def test_an_uploaded_image_is_attached_until_it_expires_a_day_later(x, fake_x):
    account = credentials(fake_x)
    media = await x.upload_media(account, PNG)
    assert media.expires_at == fake_x.now + timedelta(days=1)
    assert fake_x.media[media.provider_media_id].content_type == "image/png"
    posted = await x.publish(account, tweet("with an image", media.provider_media_id), reply_to=None)
    assert fake_x.tweets[posted].media_ids == (media.provider_media_id,)
    fake_x.advance(days=1)
    with pytest.raises(MediaInvalid):
        await x.publish(credentials(fake_x), tweet("the image expired", media.provider_media_id), reply_to=None)


async def test_images_of_another_user_or_more_than_four_are_refused(x, fake_x):
    theirs = await x.upload_media(credentials(fake_x, fake_x.add_user("someone", "Someone")), PNG)
    account = credentials(fake_x)
    with pytest.raises(MediaInvalid):
        await x.publish(account, tweet("not my image", theirs.provider_media_id), reply_to=None)
    mine = [(await x.upload_media(account, PNG)).provider_media_id for _ in range(5)]
    with pytest.raises(ProviderRejected) as caught:
        await x.publish(account, tweet("five images", *mine), reply_to=None)
    assert "maximum of 4" in str(caught.value)
    await x.publish(account, tweet("four images", *mine[:4]), reply_to=None)


async def test_something_that_is_not_an_image_is_refused_by_x(x, fake_x):
    with pytest.raises(ProviderRejected) as caught:
        await x.upload_media(credentials(fake_x), MediaToUpload(b"%PDF-1.7", "image/png"))
    assert "400" in str(caught.value)


async def test_metrics_are_fetched_100_ids_a_call_with_our_names(x, fake_x):
    user = fake_x.signed_in
    ids = []
    for n in range(150):
        posted = FakeTweet(id=str(1_000 + n), author_id=user.id, text=f"t{n}")
        posted.metrics |= {"impression_count": n, "like_count": 2, "reply_count": 3, "retweet_count": 4,
                           "quote_count": 5, "bookmark_count": 6}
        fake_x.tweets[posted.id] = posted
        ids.append(posted.id)
    metrics = await x.fetch_metrics(credentials(fake_x), [*ids, "999999"])
    assert len(fake_x.calls_to("GET /2/tweets")) == 2
    assert "999999" not in metrics and len(metrics) == 150
    assert metrics["1149"] == {"impressions": 149, "likes": 2, "replies": 3, "reposts": 4, "quotes": 5, "bookmarks": 6}
    assert set(metrics["1000"]) == set(METRIC_NAMES.values())
