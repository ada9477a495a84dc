import re
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

from sqlalchemy import update

from features.auth.models import PasswordResetToken
from shared.db import utcnow
from shared.security import digest
from tests.factories import TEST_PASSWORD, database_bytes, login_headers, make_user

NEW_PASSWORD = "a-brand-new-passphrase"


def _token_from(message) -> str:
    link = re.search(r"https?://\S+", message.get_body(preferencelist=("plain",)).get_content()).group(0)
    assert link.startswith("http://localhost:8036/reset-password?")
    return parse_qs(urlparse(link).query)["token"][0]


async def test_forgot_password_mails_a_reset_link_to_an_active_user(app, client, mailbox):
    await make_user(app, email="forgetful@example.com")
    response = await client.post("/api/v1/auth/forgot-password", json={"email": "forgetful@example.com"})
    assert response.status_code == 202
    [message] = mailbox.to("forgetful@example.com")
    assert "reset" in message["Subject"].lower()
    token = _token_from(message)
    async with app.state.db.session(write=False) as session:
        stored = (await session.exec(PasswordResetToken.__table__.select())).all()
    # Only a digest of the token is stored, never the token itself.
    assert [row.token_digest for row in stored] == [digest(token)]
    assert token not in str(stored)


async def test_forgot_password_answers_the_same_for_unknown_addresses(app, client, mailbox):
    await make_user(app, email="known@example.com")
    known = await client.post("/api/v1/auth/forgot-password", json={"email": "known@example.com"})
    unknown = await client.post("/api/v1/auth/forgot-password", json={"email": "unknown@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert mailbox.to("unknown@example.com") == []


async def test_inactive_user_gets_no_reset_mail(app, client, mailbox, admin_headers):
    user = await make_user(app, email="inactive@example.com")
    await client.put(f"/api/v1/admin/users/{user.id}", json={"is_active": False}, headers=admin_headers)
    assert (await client.post("/api/v1/auth/forgot-password", json={"email": user.email})).status_code == 202
    assert mailbox.to(user.email) == []


async def test_reset_sets_password_burns_token_and_ends_every_login(app, client, mailbox):
    user = await make_user(app, email="reset@example.com")
    old_login = (await client.post("/api/v1/auth/login", json={"email": user.email, "password": TEST_PASSWORD})).json()
    await client.post("/api/v1/auth/forgot-password", json={"email": user.email})
    token = _token_from(mailbox.to(user.email)[0])

    response = await client.post("/api/v1/auth/reset-password", json={"token": token, "new_password": NEW_PASSWORD})
    assert response.status_code == 204
    assert await login_headers(client, user.email, NEW_PASSWORD)
    old = await client.post("/api/v1/auth/login", json={"email": user.email, "password": TEST_PASSWORD})
    assert old.status_code == 401
    assert (await client.post("/api/v1/auth/refresh", json={"refresh_token": old_login["refresh_token"]})).status_code == 401
    stale_access = {"Authorization": f"Bearer {old_login['access_token']}"}
    assert (await client.get("/api/v1/auth/me", headers=stale_access)).status_code == 401

    again = await client.post("/api/v1/auth/reset-password", json={"token": token, "new_password": "yet-another-passphrase"})
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "INVALID_RESET_TOKEN"


async def test_reset_token_expires_after_thirty_minutes(app, client, mailbox):
    user = await make_user(app, email="slow@example.com")
    before = utcnow()
    await client.post("/api/v1/auth/forgot-password", json={"email": user.email})
    token = _token_from(mailbox.to(user.email)[0])
    async with app.state.db.session(write=False) as session:
        [stored] = (await session.exec(PasswordResetToken.__table__.select())).all()
    assert timedelta(minutes=30) <= stored.expires_at.replace(tzinfo=before.tzinfo) - before < timedelta(minutes=31)
    async with app.state.db.session() as session:
        await session.exec(update(PasswordResetToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    response = await client.post("/api/v1/auth/reset-password", json={"token": token, "new_password": NEW_PASSWORD})
    assert response.status_code == 400


async def test_forgot_password_is_rate_limited_per_client(app, client, mailbox):
    app.state.settings.rate_limit_public_per_minute = 2
    for _ in range(2):
        assert (await client.post("/api/v1/auth/forgot-password", json={"email": "x@example.com"})).status_code == 202
    limited = await client.post("/api/v1/auth/forgot-password", json={"email": "x@example.com"})
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "RATE_LIMITED"
    assert int(limited.headers["Retry-After"]) >= 1


async def test_forged_token_and_weak_password_are_refused(app, client, mailbox):
    bogus = await client.post("/api/v1/auth/reset-password", json={"token": "made-up", "new_password": NEW_PASSWORD})
    assert bogus.status_code == 400
    user = await make_user(app, email="weak@example.com")
    await client.post("/api/v1/auth/forgot-password", json={"email": user.email})
    token = _token_from(mailbox.to(user.email)[0])
    weak = await client.post("/api/v1/auth/reset-password", json={"token": token, "new_password": "password"})
    assert weak.status_code == 422 and weak.json()["error"]["field"] == "new_password"


async def test_mail_failure_keeps_the_message_for_the_worker(app, client, smtp_server):
    """With no SMTP server listening, the reset mail stays queued; once one listens, delivery retries."""
    from shared.mail import OutgoingMail, deliver_due_mail

    user = await make_user(app, email="queued@example.com")
    assert (await client.post("/api/v1/auth/forgot-password", json={"email": user.email})).status_code == 202
    async with app.state.db.session(write=False) as session:
        [row] = (await session.exec(OutgoingMail.__table__.select())).all()
    assert row.status == "pending" and row.attempts == 1 and row.last_error

    recorder, port = smtp_server
    app.state.settings.smtp_port = port
    async with app.state.db.session() as session:
        await session.exec(update(OutgoingMail).values(next_attempt_at=utcnow()))
    assert await deliver_due_mail(app.state.db, app.state.mailer) == 1
    assert len(recorder.to(user.email)) == 1


async def test_one_undeliverable_message_does_not_hold_up_the_batch(app, smtp_server):
    """An address SMTP cannot encode fails alone; the message after it is still delivered."""
    from shared.mail import OutgoingMail, build_message, deliver_due_mail, queue_mail

    recorder, port = smtp_server
    app.state.settings.smtp_port = port
    async with app.state.db.session() as session:
        for to in ("bad@example.com", "good@example.com"):
            await queue_mail(session, message=build_message(app.state.settings, to=to, subject="Hi", text="Hello"))
        bad = (await session.exec(OutgoingMail.__table__.select().where(OutgoingMail.recipient == "bad@example.com"))).one()
        await session.exec(OutgoingMail.__table__.update().where(OutgoingMail.id == bad.id).values(recipient="bäd@exämple.com"))
    assert await deliver_due_mail(app.state.db, app.state.mailer) == 1
    assert len(recorder.to("good@example.com")) == 1
    async with app.state.db.session(write=False) as session:
        failed = (await session.exec(OutgoingMail.__table__.select().where(OutgoingMail.id == bad.id))).one()
    assert failed.status == "pending" and failed.attempts == 1 and failed.claim_id is None


async def test_no_usable_reset_token_is_ever_stored_not_even_in_the_mail_queue(app, client, smtp_server, settings):
    """A copy of the database (a backup, a leak) must not let anyone reset a password."""
    from shared.mail import OutgoingMail, deliver_due_mail

    user = await make_user(app, email="careful@example.com")
    await client.post("/api/v1/auth/forgot-password", json={"email": user.email})  # no SMTP yet: it stays queued

    queued = database_bytes(settings)
    recorder, port = smtp_server
    app.state.settings.smtp_port = port
    async with app.state.db.session() as session:
        await session.exec(update(OutgoingMail).values(next_attempt_at=utcnow()))
    assert await deliver_due_mail(app.state.db, app.state.mailer) == 1
    token = _token_from(recorder.to(user.email)[0])
    assert token.encode() not in queued and token.encode() not in database_bytes(settings)
    assert (
        await client.post("/api/v1/auth/reset-password", json={"token": token, "new_password": NEW_PASSWORD})
    ).status_code == 204


async def test_a_reset_mail_whose_link_died_while_queued_is_not_sent(app, client, smtp_server, admin_headers):
    from shared.mail import OutgoingMail, deliver_due_mail

    user = await make_user(app, email="gone@example.com")
    await client.post("/api/v1/auth/forgot-password", json={"email": user.email})  # no SMTP yet: it stays queued
    await client.put(f"/api/v1/admin/users/{user.id}", json={"is_active": False}, headers=admin_headers)
    recorder, port = smtp_server
    app.state.settings.smtp_port = port
    async with app.state.db.session() as session:
        await session.exec(update(OutgoingMail).values(next_attempt_at=utcnow()))
    assert await deliver_due_mail(app.state.db, app.state.mailer) == 0
    assert recorder.to(user.email) == []
    async with app.state.db.session(write=False) as session:
        [row] = (await session.exec(OutgoingMail.__table__.select())).all()
    assert row.status == "skipped"


async def test_the_reset_mail_is_in_the_language_the_browser_accepts_else_the_default(app, client, mailbox):
    from shared.i18n import accepted_language

    await make_user(app, email="deutsch@example.com")
    await make_user(app, email="francais@example.com")
    german = {"Accept-Language": "fr-CH, fr;q=0.9, de-DE;q=0.8, en;q=0.7"}  # fr unsupported: de ranks next
    await client.post("/api/v1/auth/forgot-password", json={"email": "deutsch@example.com"}, headers=german)
    await client.post("/api/v1/auth/forgot-password", json={"email": "francais@example.com"}, headers={"Accept-Language": "fr"})
    [message] = mailbox.to("deutsch@example.com")
    assert message["Content-Language"] == "de" and message["Subject"] == "Ihr Magnetiq-Passwort zurücksetzen"
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert body.startswith("Hallo ") and "30 Minuten" in body and "/reset-password?token=" in body
    [default] = mailbox.to("francais@example.com")
    assert default["Content-Language"] == "en" and default["Subject"] == "Reset your Magnetiq password"
    assert accepted_language("en;q=0, de;q=0.1", app.state.settings) == "de"
    assert accepted_language("garbage;q=x", app.state.settings) == "en"


def test_the_reset_mail_is_written_in_every_default_supported_language():
    from features.auth.mails import PASSWORD_RESET
    from shared.config import Settings

    assert set(Settings(_env_file=None).supported_languages) <= PASSWORD_RESET.languages
