"""The visitor's personal cancel link: GET shows and changes nothing, POST cancels their own booking."""

from datetime import datetime, timedelta

import jwt
import pytest

from shared.db import utcnow
from shared.security import create_link_token

from .factories import BOOKINGS, berlin, link_in, path_of

CANCEL = "/api/v1/public/bookings/cancel"


@pytest.fixture
async def confirmed(client, mailbox, monday, book, editor_headers):
    """A confirmed booking and the cancel path from its confirmation mail."""
    booking = await book(berlin(monday, "10:00"), topic='<script>alert("x")</script> & more')
    await client.put(f"{BOOKINGS}/{booking['id']}", json={"status": "confirmed"}, headers=editor_headers)
    return booking, path_of(link_in(mailbox.to("ada@example.com")[-1]))


def token_for(app, subject: str, *, purpose: str = "booking-cancel", ttl=timedelta(days=3), secret=None) -> str:
    secret = secret or app.state.settings.secret_key.get_secret_value()
    return create_link_token(purpose=purpose, subject=subject, ttl=ttl, secret=secret)


async def test_opening_the_link_shows_the_booking_and_changes_nothing(client, mailbox, confirmed, editor_headers):
    booking, path = confirmed
    before = (await client.get(f"{BOOKINGS}/{booking['id']}", headers=editor_headers)).json()
    mails_before = len(mailbox.messages)
    for _ in range(3):  # mail scanners, link previews, the visitor
        page = await client.get(path)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
        assert '<form method="post"><button type="submit">Yes, cancel it</button></form>' in page.text
    after = (await client.get(f"{BOOKINGS}/{booking['id']}", headers=editor_headers)).json()
    assert after == before and after["status"] == "confirmed"
    assert len(mailbox.messages) == mails_before


async def test_the_page_escapes_what_the_visitor_typed(client, confirmed):
    _, path = confirmed
    page = (await client.get(path)).text
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more" in page


async def test_posting_the_link_cancels_the_booking_and_mails_the_visitor(client, mailbox, confirmed, editor_headers):
    booking, path = confirmed
    response = await client.post(path)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "cancelled" in response.text
    assert (await client.get(f"{BOOKINGS}/{booking['id']}", headers=editor_headers)).json()["status"] == "cancelled"
    message = mailbox.to("ada@example.com")[-1]
    assert message["Subject"] == "Your consultation has been cancelled"
    assert any(p.get_content_type() == "text/calendar" for p in message.iter_attachments())
    assert "already cancelled" in (await client.get(path)).text
    assert "<form" not in (await client.get(path)).text


async def test_the_token_in_the_link_never_reaches_the_logs(client, confirmed, caplog):
    """Whoever reads the logs must not be able to cancel the visitor's booking."""
    import logging

    _, path = confirmed
    token = path.rsplit("/", 1)[1]
    with caplog.at_level(logging.DEBUG, logger="magnetiq"):
        await client.get(path)
        await client.post(path)
        await client.get(f"{path}/extra")  # no route matches: a 404, no path parameter to go by
        await client.get(f"{path}/")  # a redirect
    access = [r for r in caplog.records if r.name == "magnetiq.access"]
    assert [r.path for r in access][:2] == [f"{CANCEL}/{{token}}"] * 2
    assert [r.path for r in access][2:] == [f"{CANCEL}/{{redacted}}/extra", f"{CANCEL}/{{redacted}}/"]
    ours = [r for r in caplog.records if r.name.startswith("magnetiq")]  # not the test client's own httpx log
    assert ours and not [r for r in ours if token in r.getMessage() or token in str(r.__dict__)]


async def test_cancelling_twice_is_idempotent(client, mailbox, confirmed):
    _, path = confirmed
    await client.post(path)
    mails = len(mailbox.messages)
    again = await client.post(path, headers={"Accept": "application/json"})
    assert again.status_code == 200
    assert again.json()["status"] == "cancelled" and again.json()["already_cancelled"] is True
    assert len(mailbox.messages) == mails


async def test_json_is_answered_when_asked_for(client, confirmed):
    booking, path = confirmed
    response = await client.post(path, headers={"Accept": "application/json"})
    assert response.json() == {
        "id": booking["id"], "status": "cancelled", "starts_at": booking["starts_at"], "already_cancelled": False
    }


async def test_the_received_mail_link_cancels_a_pending_booking(client, mailbox, monday, book, editor_headers):
    booking = await book(berlin(monday, "11:00"))
    path = path_of(link_in(mailbox.to("ada@example.com")[0]))
    assert (await client.post(path)).status_code == 200
    assert (await client.get(f"{BOOKINGS}/{booking['id']}", headers=editor_headers)).json()["status"] == "cancelled"


async def test_the_cancelled_slot_is_free_again(client, confirmed, monday):
    _, path = confirmed
    await client.post(path)
    params = {"from": monday.isoformat(), "to": monday.isoformat()}
    slots = (await client.get(f"{BOOKINGS}/availability", params=params)).json()["slots"]
    assert len(slots) == 16


async def test_forged_expired_or_foreign_tokens_are_404_and_change_nothing(app, client, confirmed, editor_headers):
    booking, _ = confirmed
    subject = str(booking["id"])
    expired = jwt.encode(
        {"sub": subject, "purpose": "booking-cancel", "iat": utcnow() - timedelta(days=2), "exp": utcnow() - timedelta(days=1)},
        app.state.settings.secret_key.get_secret_value(), algorithm="HS256",
    )
    for token in (
        "not-a-token",
        token_for(app, subject, secret="some-other-secret-key-of-sufficient-length"),
        token_for(app, subject, purpose="whitepaper-download"),
        token_for(app, "999999"),
        token_for(app, "not-a-number"),
        token_for(app, "9" * 40),
        expired,
    ):
        for response in (await client.get(f"{CANCEL}/{token}"), await client.post(f"{CANCEL}/{token}")):
            assert response.status_code == 404, token
            assert response.json()["error"]["code"] == "NOT_FOUND"
    assert (await client.get(f"{BOOKINGS}/{booking['id']}", headers=editor_headers)).json()["status"] == "confirmed"


async def test_a_finished_consultation_cannot_be_cancelled_by_link(app, client, confirmed, editor_headers):
    booking, path = confirmed
    await client.put(f"{BOOKINGS}/{booking['id']}", json={"status": "completed"}, headers=editor_headers)
    assert "<form" not in (await client.get(path)).text
    response = await client.post(path)
    assert response.status_code == 409 and response.json()["error"]["code"] == "INVALID_TRANSITION"


async def test_the_link_lasts_until_the_booking_starts(app, client, confirmed):
    booking, path = confirmed
    token = path.split("/")[-1]
    claims = jwt.decode(token, app.state.settings.secret_key.get_secret_value(), algorithms=["HS256"])
    assert claims["purpose"] == "booking-cancel" and claims["sub"] == str(booking["id"])
    starts_at = datetime.fromisoformat(booking["starts_at"]).timestamp()
    assert starts_at - 5 <= claims["exp"] <= starts_at


async def test_cancelling_by_link_is_rate_limited(app, client, confirmed):
    app.state.settings.rate_limit_public_per_minute = 1
    app.state.rate_limiters.clear()
    _, path = confirmed
    assert (await client.post(path)).status_code == 200
    limited = await client.post(path)
    assert limited.status_code == 429 and limited.headers["Retry-After"]
