"""The worker's health rule for X: access tokens live two hours and are refreshed before use, so with a
refresh token their end is no warning; without one (offline.access not granted) it is."""

from datetime import timedelta

from sqlalchemy import update

from features.twitter.models import TwitterAccount
from features.twitter.worker import watch_account_health
from shared.db import utcnow
from tests.factories import job_context


async def _health_after(app, account_id: int, *, expires_in: timedelta, keep_refresh_token: bool) -> str:
    values = {"token_expires_at": utcnow() + expires_in}
    if not keep_refresh_token:
        values["refresh_token_encrypted"] = None
    async with app.state.db.session() as session:
        await session.exec(update(TwitterAccount).where(TwitterAccount.id == account_id).values(**values))
    await watch_account_health(job_context(app))
    async with app.state.db.session(write=False) as session:
        return (await session.get(TwitterAccount, account_id)).status


async def test_an_account_with_a_refresh_token_stays_active_while_its_access_token_dies(
    app, client, admin_headers, connect_account
):
    account = await connect_account()

    assert await _health_after(app, account["id"], expires_in=timedelta(minutes=30), keep_refresh_token=True) == "active"
    assert await _health_after(app, account["id"], expires_in=timedelta(hours=-1), keep_refresh_token=True) == "active"
    [listed] = (await client.get("/api/v1/communication/twitter/accounts", headers=admin_headers)).json()["items"]
    assert listed["status"] == "active"


async def test_an_account_without_a_refresh_token_warns_then_needs_reconnecting(app, connect_account):
    account = await connect_account()

    assert await _health_after(app, account["id"], expires_in=timedelta(minutes=30), keep_refresh_token=False) == "expiring"
    assert await _health_after(app, account["id"], expires_in=timedelta(minutes=-1), keep_refresh_token=False) == (
        "reconnect_required"
    )
