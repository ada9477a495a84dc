"""Every way a call to X can end, mapped to one of the kernel's typed errors: what publishing decides from."""

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from httpx import ASGITransport

from features.twitter.client import XClient, parse_rate_limit
from features.twitter.tests.factories import credentials
from features.twitter.tests.fake_x import Fault
from shared import publishing
from shared.publishing import Credentials, MediaToUpload, SegmentToPublish, failure_outcome
from tests.factories import free_port


@pytest.fixture
def account(fake_x) -> Credentials:
    return credentials(fake_x)


def tweet(text: str) -> SegmentToPublish:
    return SegmentToPublish(text)


async def test_rate_limit_headers_are_read_on_every_response(x, fake_x, account):
    await x.fetch_identity(account.access_token)
    assert x.last_rate_limit.limit == 75 and x.last_rate_limit.remaining == 74
    assert x.last_rate_limit.reset_at == fake_x.now + timedelta(minutes=15)
    await x.delete(account, "123")  # a 404 carries them too
    assert x.last_rate_limit.limit == 50 and x.last_rate_limit.remaining == 49


async def test_a_429_says_when_the_window_resets(x, fake_x, account):
    fake_x.fail_next("POST /2/tweets", Fault(status=429, reset_in=600))
    with pytest.raises(publishing.RateLimited) as caught:
        await x.publish(account, tweet("too many"), reply_to=None)
    assert caught.value.reset_at == fake_x.now + timedelta(seconds=600)
    assert fake_x.tweets == {}
    outcome = failure_outcome(caught.value, attempts=1, by_worker=True, now=fake_x.now)
    assert outcome.status == "scheduled" and outcome.account_postponed_until == caught.value.reset_at


async def test_a_spent_window_is_a_429_until_its_reset(x, fake_x, account):
    fake_x.limits["POST /2/tweets"] = 2
    await x.publish(account, tweet("one"), reply_to=None)
    await x.publish(account, tweet("two"), reply_to=None)
    assert x.last_rate_limit.remaining == 0
    with pytest.raises(publishing.RateLimited) as caught:
        await x.publish(account, tweet("three"), reply_to=None)
    assert caught.value.reset_at == fake_x.now + timedelta(minutes=15)
    fake_x.advance(minutes=15)
    await x.publish(credentials(fake_x), tweet("three"), reply_to=None)


async def test_a_spent_24_hour_cap_postpones_until_the_cap_resets_not_the_window(x, fake_x, account):
    fake_x.daily_post_cap = 1
    await x.publish(account, tweet("the one of the day"), reply_to=None)
    with pytest.raises(publishing.RateLimited) as caught:
        await x.publish(account, tweet("one more"), reply_to=None)
    assert caught.value.reset_at == fake_x.now + timedelta(days=1)


async def test_a_429_without_headers_waits_a_whole_window(x, fake_x, account):
    fake_x.fail_next("GET /2/users/me", Fault(status=429, rate_headers=False))
    with pytest.raises(publishing.RateLimited) as caught:
        await x.fetch_identity(account.access_token)
    assert caught.value.reset_at == fake_x.now + timedelta(minutes=15)


def test_the_reset_header_is_unix_seconds():
    assert parse_rate_limit(httpx.Headers({})).reset_at is None
    limit = parse_rate_limit(httpx.Headers({"x-rate-limit-reset": "1764590400", "x-rate-limit-remaining": "7"}))
    assert limit.reset_at == datetime(2025, 12, 1, 12, 0, tzinfo=UTC) and limit.remaining == 7


async def test_x_over_capacity_took_nothing_so_it_is_retried(x, fake_x, account):
    fake_x.fail_next("POST /2/tweets", Fault(status=503))
    with pytest.raises(publishing.ProviderUnavailable) as caught:
        await x.publish(account, tweet("down"), reply_to=None)
    assert caught.value.sent is False and caught.value.retryable and "503" in str(caught.value)
    assert failure_outcome(caught.value, attempts=1, by_worker=True, now=fake_x.now).status == "scheduled"


async def test_another_5xx_to_a_new_tweet_may_have_posted_it_so_it_is_unknown(x, fake_x, account):
    fake_x.fail_next("POST /2/tweets", Fault(status=500, act_first=True))
    with pytest.raises(publishing.ProviderUnavailable) as caught:
        await x.publish(account, tweet("stored, then failed"), reply_to=None)
    assert caught.value.sent is True and not caught.value.retryable
    assert len(fake_x.tweets) == 1  # X did store it: a retry would have posted it twice
    assert failure_outcome(caught.value, attempts=1, by_worker=True, now=fake_x.now).status == "unknown"


async def test_a_5xx_to_a_read_is_safe_to_retry(x, fake_x, account):
    for route, call in (
        ("GET /2/users/me", x.fetch_identity(account.access_token)),
        ("GET /2/tweets", x.fetch_metrics(account, ["1"])),
        ("POST /2/media/upload", x.upload_media(account, MediaToUpload(b"GIF89a", "image/gif"))),
    ):
        fake_x.fail_next(route, Fault(status=502))
        with pytest.raises(publishing.ProviderUnavailable) as caught:
            await call
        assert caught.value.sent is False, route


async def test_a_connection_refused_never_left_so_it_is_safe_to_retry(x_settings):
    x_settings.x_api_base_url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    async with XClient(x_settings) as x:
        with pytest.raises(publishing.ProviderUnavailable) as caught:
            await x.publish(Credentials("1", "t"), tweet("nobody home"), reply_to=None)
    assert caught.value.sent is False and caught.value.retryable
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


async def test_a_hang_after_x_acted_is_a_timeout_whose_outcome_is_unknown(x, fake_x, account):
    fake_x.fail_next("POST /2/tweets", Fault(hang=True, act_first=True))
    started = time.monotonic()
    with pytest.raises(publishing.ProviderTimeout) as caught:
        await x.publish(account, tweet("did it go out?"), reply_to=None)
    assert time.monotonic() - started < 2  # PROVIDER_TIMEOUT_SECONDS is 0.5 here
    assert caught.value.sent and not caught.value.retryable
    assert [t.text for t in fake_x.tweets.values()] == ["did it go out?"]  # it did: hence `unknown`, never a retry
    assert failure_outcome(caught.value, attempts=1, by_worker=True, now=fake_x.now).status == "unknown"


async def test_a_hang_over_a_real_socket_is_a_timeout_after_sending(x_settings, fake_x, fake_x_server, account):
    x_settings.x_api_base_url = fake_x_server
    fake_x.fail_next("POST /2/tweets", Fault(hang=True))
    async with XClient(x_settings) as x:
        assert (await x.fetch_identity(account.access_token)).provider_user_id == account.provider_user_id
        with pytest.raises(publishing.ProviderTimeout):
            await x.publish(account, tweet("hangs"), reply_to=None)


async def test_the_client_gives_up_after_provider_timeout_seconds_even_in_process(x_settings, fake_x, account):
    x_settings.provider_timeout_seconds = 0.2
    fake_x.fail_next("GET /2/tweets", Fault(hang=True))
    async with XClient(x_settings, transport=ASGITransport(app=fake_x.app)) as x:
        started = time.monotonic()
        with pytest.raises(publishing.ProviderTimeout) as caught:
            await x.fetch_metrics(account, ["1"])
    assert 0.15 < time.monotonic() - started < 1.5
    assert "0.2 s" in str(caught.value)


async def test_duplicate_content_is_final(x, fake_x, account):
    await x.publish(account, tweet("said once"), reply_to=None)
    with pytest.raises(publishing.DuplicateContent) as caught:
        await x.publish(account, tweet("said once"), reply_to=None)
    assert not caught.value.retryable and "403" in str(caught.value)
    fake_x.fail_next("POST /2/tweets", Fault(status=403))
    with pytest.raises(publishing.DuplicateContent):
        await x.publish(account, tweet("told to refuse"), reply_to=None)
    assert len(fake_x.tweets) == 1
    assert failure_outcome(caught.value, attempts=1, by_worker=True, now=fake_x.now).status == "failed"


async def test_a_401_asks_for_a_reconnect_without_echoing_the_token(x, fake_x, account):
    fake_x.fail_next("POST /2/tweets", Fault(status=401))
    with pytest.raises(publishing.Unauthorized) as caught:
        await x.publish(account, tweet("who are you"), reply_to=None)
    assert account.access_token not in str(caught.value) and not caught.value.retryable
    assert failure_outcome(caught.value, attempts=1, by_worker=True, now=fake_x.now).reconnect_required
    with pytest.raises(publishing.Unauthorized):
        await x.fetch_identity("not-a-token-x-issued")


async def test_a_token_without_a_scope_names_the_missing_scope(x, fake_x):
    account = credentials(fake_x, scopes={"tweet.read", "tweet.write", "users.read"})
    with pytest.raises(publishing.PermissionMissing) as caught:
        await x.upload_media(account, MediaToUpload(b"\x89PNG\r\n\x1a\n" + b"\0" * 8, "image/png"))
    assert caught.value.scope == "media.write" and "media.write" in str(caught.value)


async def test_a_refusal_of_the_body_is_final_and_quotes_x(x, fake_x, account):
    with pytest.raises(publishing.ProviderRejected) as caught:
        await x.publish(account, tweet("x" * 281), reply_to=None)
    assert "400" in str(caught.value) and "too long" in str(caught.value)


async def test_the_token_endpoint_is_rate_limited_like_the_rest(x, fake_x):
    fake_x.fail_next("POST /2/oauth2/token", Fault(status=429, reset_in=60))
    with pytest.raises(publishing.RateLimited) as caught:
        await x.refresh("whatever")
    assert caught.value.reset_at == fake_x.now + timedelta(seconds=60)
