"""Figures under X's rate limit: a 429 postpones the account's figure fetching until X's reset, no call meanwhile."""

from datetime import timedelta

from features.twitter.models import TwitterAccount
from features.twitter.tests.factories import BASE
from features.twitter.tests.fake_x import Fault
from features.twitter.worker import fetch_engagement
from shared.db import utcnow
from tests.factories import job_context


async def test_a_429_on_figures_postpones_the_account_until_xs_reset(
    app, client, editor_headers, connect_account, create_post, twitter
):
    account = await connect_account()
    post = await create_post(account["id"], "count me")
    assert (await client.post(f"{BASE}/content/{post['id']}/publish", headers=editor_headers)).status_code == 200
    twitter.fail_next("GET /2/tweets", Fault(status=429, reset_in=600))
    now = utcnow()

    await fetch_engagement(job_context(app, clock=lambda: now))
    async with app.state.db.session(write=False) as session:
        until = (await session.get(TwitterAccount, account["id"])).postponed_until
    assert until is not None and abs((until - (twitter.now + timedelta(seconds=600))).total_seconds()) <= 1
    for minutes in (1, 5, 9):  # the worker runs meanwhile; a person asks for fresh figures
        await fetch_engagement(job_context(app, clock=lambda m=minutes: now + timedelta(minutes=m)))
    refused = await client.get(f"{BASE}/engagement/{post['id']}?refresh=true", headers=editor_headers)

    assert len(twitter.calls_to("GET /2/tweets")) == 1
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 500
    [tweet] = twitter.tweets.values()
    tweet.metrics["like_count"] = 4
    await fetch_engagement(job_context(app, clock=lambda: until + timedelta(seconds=1)))
    figures = (await client.get(f"{BASE}/engagement/{post['id']}", headers=editor_headers)).json()
    assert len(twitter.calls_to("GET /2/tweets")) == 2 and figures["metrics"]["likes"] == 4
