"""Every way a call to X can end, mapped to one typed error: what publishing decides from."""

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from httpx import ASGITransport

from features.twitter.client import (
    DuplicateContent,
    PermissionMissing,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    Unauthorized,
    XClient,
    parse_rate_limit,
)
from features.twitter.tests.fake_x import Fault
from tests.factories import free_port


@pytest.fixture
def token(fake_x) -> str:
    return fake_x.issue_token(fake_x.signed_in)


async def test_rate_limit_headers_are_read_on_every_response(x, fake_x, token):
    await x.me(access_token=token)
    assert x.last_rate_limit.limit == 75 and x.last_rate_limit.remaining == 74
    assert x.last_rate_limit.reset_at == fake_x.now + timedelta(minutes=15)
    with pytest.raises(ProviderRejected):
        await x.delete_tweet(access_token=token, tweet_id="123")  # a 404 carries them too
    assert x.last_rate_limit.limit == 50 and x.last_rate_limit.remaining == 49


async def test_a_429_says_when_the_window_resets(x, fake_x, token):
    fake_x.fail_next("POST /2/tweets", Fault(status=429, reset_in=600))
    with pytest.raises(RateLimited) as caught:
        await x.create_tweet(access_token=token, text="too many")
    assert caught.value.reset_at == fake_x.now + timedelta(seconds=600)
    assert caught.value.retryable
    assert fake_x.tweets == {}


async def test_a_spent_window_is_a_429_until_its_reset(x, fake_x, token):
    fake_x.limits["POST /2/tweets"] = 2
    await x.create_tweet(access_token=token, text="one")
    await x.create_tweet(access_token=token, text="two")
    assert x.last_rate_limit.remaining == 0
    with pytest.raises(RateLimited) as caught:
        await x.create_tweet(access_token=token, text="three")
    assert caught.value.reset_at == fake_x.now + timedelta(minutes=15)
    fake_x.advance(minutes=15)
    await x.create_tweet(access_token=fake_x.issue_token(fake_x.signed_in), text="three")


async def test_a_spent_24_hour_cap_postpones_until_the_cap_resets_not_the_window(x, fake_x, token):
    fake_x.daily_post_cap = 1
    await x.create_tweet(access_token=token, text="the one of the day")
    with pytest.raises(RateLimited) as caught:
        await x.create_tweet(access_token=token, text="one more")
    assert caught.value.reset_at == fake_x.now + timedelta(days=1)


async def test_a_429_without_headers_waits_a_whole_window(x, fake_x, token):
    fake_x.fail_next("GET /2/users/me", Fault(status=429, rate_headers=False))
    with pytest.raises(RateLimited) as caught:
        await x.me(access_token=token)
    assert caught.value.reset_at == fake_x.now + timedelta(minutes=15)


def test_the_reset_header_is_unix_seconds():
    assert parse_rate_limit(httpx.Headers({})).reset_at is None
    limit = parse_rate_limit(httpx.Headers({"x-rate-limit-reset": "1764590400", "x-rate-limit-remaining": "7"}))
    assert limit.reset_at == datetime(2025, 12, 1, 12, 0, tzinfo=UTC) and limit.remaining == 7


async def test_a_5xx_is_retryable_and_says_x_answered(x, fake_x, token):
    fake_x.fail_next("POST /2/tweets", Fault(status=503))
    with pytest.raises(ProviderUnavailable) as caught:
        await x.create_tweet(access_token=token, text="down")
    assert caught.value.sent and caught.value.status == 503 and caught.value.retryable
    fake_x.fail_next("GET /2/users/me", Fault(status=500))
    with pytest.raises(ProviderUnavailable):
        await x.me(access_token=token)


async def test_a_connection_refused_never_left_so_it_is_safe_to_retry(x_settings):
    x_settings.x_api_base_url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    async with XClient(x_settings) as x:
        with pytest.raises(ProviderUnavailable) as caught:
            await x.create_tweet(access_token="t", text="nobody home")
    assert caught.value.sent is False and caught.value.retryable


async def test_a_hang_after_x_acted_is_a_timeout_whose_outcome_is_unknown(x, fake_x, token):
    fake_x.fail_next("POST /2/tweets", Fault(hang=True, act_first=True))
    started = time.monotonic()
    with pytest.raises(ProviderTimeout) as caught:
        await x.create_tweet(access_token=token, text="did it go out?")
    assert time.monotonic() - started < 2  # PROVIDER_TIMEOUT_SECONDS is 0.5 here
    assert not caught.value.retryable
    assert [t.text for t in fake_x.tweets.values()] == ["did it go out?"]  # it did: hence `unknown`, never a retry


async def test_a_hang_over_a_real_socket_is_a_timeout_after_sending(x_settings, fake_x, fake_x_server, token):
    x_settings.x_api_base_url = fake_x_server
    fake_x.fail_next("POST /2/tweets", Fault(hang=True))
    async with XClient(x_settings) as x:
        assert (await x.me(access_token=token)).username == "magnetiq"  # the real socket works
        with pytest.raises(ProviderTimeout):
            await x.create_tweet(access_token=token, text="hangs")
    fake_x.released.set()
    await asyncio.sleep(0)


async def test_duplicate_content_is_final(x, fake_x, token):
    await x.create_tweet(access_token=token, text="said once")
    with pytest.raises(DuplicateContent) as caught:
        await x.create_tweet(access_token=token, text="said once")
    assert not caught.value.retryable and caught.value.status == 403
    fake_x.fail_next("POST /2/tweets", Fault(status=403))
    with pytest.raises(DuplicateContent):
        await x.create_tweet(access_token=token, text="told to refuse")
    assert len(fake_x.tweets) == 1


async def test_a_401_asks_for_a_reconnect_without_echoing_the_token(x, fake_x, token):
    fake_x.fail_next("POST /2/tweets", Fault(status=401))
    with pytest.raises(Unauthorized) as caught:
        await x.create_tweet(access_token=token, text="who are you")
    assert token not in str(caught.value) and not caught.value.retryable
    with pytest.raises(Unauthorized):
        await x.me(access_token="not-a-token-x-issued")


async def test_a_token_without_a_scope_names_the_missing_scope(x, fake_x):
    token = fake_x.issue_token(fake_x.signed_in, scopes={"tweet.read", "tweet.write", "users.read"})
    with pytest.raises(PermissionMissing) as caught:
        await x.upload_image(access_token=token, content=b"\x89PNG\r\n\x1a\n" + b"\0" * 8, content_type="image/png")
    assert caught.value.scope == "media.write" and "media.write" in str(caught.value)


async def test_the_token_endpoint_is_rate_limited_like_the_rest(x, fake_x):
    fake_x.fail_next("POST /2/oauth2/token", Fault(status=429, reset_in=60))
    with pytest.raises(RateLimited) as caught:
        await x.refresh(refresh_token="whatever")
    assert caught.value.reset_at == fake_x.now + timedelta(seconds=60)


async def test_the_client_gives_up_after_provider_timeout_seconds_even_in_process(x_settings, fake_x, token):
    x_settings.provider_timeout_seconds = 0.2
    fake_x.fail_next("GET /2/tweets", Fault(hang=True))
    async with XClient(x_settings, transport=ASGITransport(app=fake_x.app)) as x:
        started = time.monotonic()
        with pytest.raises(ProviderTimeout) as caught:
            await x.metrics(access_token=token, tweet_ids=["1"])
    assert 0.15 < time.monotonic() - started < 1.5
    assert "0.2 s" in str(caught.value)
