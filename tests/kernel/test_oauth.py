"""OAuth state: single use, 10 minutes, for one provider, stored as a digest; PKCE verifier encrypted."""

from datetime import timedelta

import pytest
from sqlalchemy import text

from shared.db import utcnow
from shared.oauth import InvalidState, consume_authorization, s256_challenge, start_authorization


async def test_a_state_is_taken_back_once_with_its_verifier(app, settings):
    async with app.state.db.session() as session:
        pending = await start_authorization(
            session, settings=settings, provider="twitter", redirect_uri="https://app.example/cb", pkce=True
        )
    async with app.state.db.session() as session:
        consumed = await consume_authorization(session, settings=settings, provider="twitter", state=pending.state)
    assert consumed.redirect_uri == "https://app.example/cb"
    assert s256_challenge(consumed.code_verifier) == pending.code_challenge
    assert pending.code_challenge_method == "S256"
    async with app.state.db.session() as session:
        with pytest.raises(InvalidState):
            await consume_authorization(session, settings=settings, provider="twitter", state=pending.state)


async def test_the_table_holds_neither_the_state_nor_the_verifier(app, settings):
    async with app.state.db.session() as session:
        pending = await start_authorization(
            session, settings=settings, provider="twitter", redirect_uri="https://app.example/cb", pkce=True
        )
    async with app.state.db.session() as session:
        consumed_later = (await session.exec(text("SELECT * FROM oauth_states"))).all()
    row = " ".join(str(value) for value in consumed_later[0])
    assert pending.state not in row
    async with app.state.db.session() as session:
        consumed = await consume_authorization(session, settings=settings, provider="twitter", state=pending.state)
    assert consumed.code_verifier not in row


async def test_without_pkce_there_is_no_challenge(app, settings):
    async with app.state.db.session() as session:
        pending = await start_authorization(
            session, settings=settings, provider="linkedin", redirect_uri="https://app.example/cb", pkce=False
        )
    assert pending.code_challenge is None and pending.code_challenge_method is None
    async with app.state.db.session() as session:
        consumed = await consume_authorization(session, settings=settings, provider="linkedin", state=pending.state)
    assert consumed.code_verifier is None


@pytest.mark.parametrize("case", ["expired", "other provider", "unknown", "empty"])
async def test_a_bad_state_is_refused(app, settings, case):
    now = utcnow()
    async with app.state.db.session() as session:
        pending = await start_authorization(
            session, settings=settings, provider="linkedin", redirect_uri="https://app.example/cb", pkce=False,
            now=now - timedelta(minutes=11) if case == "expired" else now,
        )
    state = {"unknown": "made-up", "empty": ""}.get(case, pending.state)
    provider = "twitter" if case == "other provider" else "linkedin"
    async with app.state.db.session() as session:
        with pytest.raises(InvalidState) as raised:
            await consume_authorization(session, settings=settings, provider=provider, state=state, now=now)
    assert raised.value.status_code == 400 and raised.value.error_code == "INVALID_STATE"


def test_s256_matches_rfc_7636_appendix_b():
    assert s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
