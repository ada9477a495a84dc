"""The worker's health rule for LinkedIn: the slice never refreshes, so the access token's end is what warns."""

from datetime import timedelta

from sqlalchemy import update

from features.linkedin.models import LinkedInAccount
from features.linkedin.worker import watch_account_expiry
from shared.db import utcnow
from shared.token_crypto import token_cipher
from tests.factories import job_context


async def test_a_refresh_token_linkedin_granted_but_we_never_spend_does_not_hide_the_expiry(app, connect_account):
    account = await connect_account()
    async with app.state.db.session() as session:  # an MDP partner app: LinkedIn handed out a refresh token
        await session.exec(update(LinkedInAccount).values(
            token_expires_at=utcnow() + timedelta(days=3),
            refresh_token_encrypted=token_cipher(app.state.settings).encrypt("linkedin-refresh"),
        ))

    await watch_account_expiry(job_context(app))

    async with app.state.db.session(write=False) as session:
        assert (await session.get(LinkedInAccount, account["id"])).status == "expiring"
