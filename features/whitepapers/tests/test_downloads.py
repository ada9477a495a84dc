import asyncio
import csv
import io
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import jwt
from sqlmodel import select

from features.whitepapers.tests.factories import BASE, PUBLIC_BASE_URL, local, pdf_bytes, visitor
from shared.db import utcnow
from shared.events import LeadCaptured
from shared.mail import OutgoingMail
from shared.security import create_link_token


def _token(url: str) -> str:
    return parse_qs(urlparse(url).query)["token"][0]


def _link_in(message) -> str:
    return re.search(r"https?://\S+", message.get_body(preferencelist=("plain",)).get_content()).group(0)


def _signed(settings, subject: str, *, ttl=timedelta(hours=1), purpose="whitepaper-download", secret=None) -> str:
    return create_link_token(
        purpose=purpose, subject=subject, ttl=ttl, secret=secret or settings.secret_key.get_secret_value()
    )


async def _download(client, whitepaper_id: int, **overrides):
    return await client.post(f"{BASE}/{whitepaper_id}/download", json=visitor(**overrides))


async def test_download_returns_a_link_that_streams_the_exact_bytes(client, upload_media, create_whitepaper):
    data = pdf_bytes("exact-bytes")
    document = await upload_media("Grid Guide.pdf", data)
    whitepaper = await create_whitepaper(document_media_id=document["id"])
    before = utcnow()
    response = await _download(client, whitepaper["id"])
    assert response.status_code == 201, response.text
    link = response.json()
    assert link["download_url"].startswith(f"{PUBLIC_BASE_URL}{BASE}/{whitepaper['id']}/file?token=")
    claims = jwt.decode(_token(link["download_url"]), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 24 * 3600
    expires_at = link["expires_at"]
    assert expires_at.endswith(("Z", "+00:00"))
    # The announced expiry is truncated to the second, so it may be up to a second after `before` + 24 h.
    assert timedelta(hours=23, minutes=59) < utcnow().fromisoformat(expires_at) - before <= timedelta(hours=24, seconds=1)

    file = await client.get(local(link["download_url"]))
    assert file.status_code == 200
    assert file.content == data
    assert file.headers["content-type"] == "application/pdf"
    assert file.headers["content-disposition"] == "attachment; filename*=utf-8''Grid%20Guide.pdf"
    assert file.headers["x-content-type-options"] == "nosniff"
    assert "no-store" in file.headers["cache-control"] and "private" in file.headers["cache-control"]
    resumed = await client.get(local(link["download_url"]), headers={"Range": "bytes=10-"})  # a resumed download
    assert resumed.status_code == 206 and resumed.content == data[10:]
    beyond = await client.get(local(link["download_url"]), headers={"Range": f"bytes={len(data)}-"})
    assert beyond.status_code == 416 and beyond.json()["error"]["code"] == "RANGE_NOT_SATISFIABLE"


async def test_the_mail_carries_the_same_link(client, mailbox, create_whitepaper):
    whitepaper = await create_whitepaper()
    link = (await _download(client, whitepaper["id"], email="Reader@Example.com")).json()["download_url"]
    [message] = mailbox.to("reader@example.com")
    assert message["Subject"] == "Your download: The grid storage guide"
    assert message["Content-Language"] == "en"
    assert _link_in(message) == link
    assert (await client.get(local(_link_in(message)))).status_code == 200


async def test_the_mail_is_in_german_when_the_visitor_asks_for_it(client, mailbox, create_whitepaper):
    whitepaper = await create_whitepaper()
    link = (await _download(client, whitepaper["id"], language="de")).json()["download_url"]
    [message] = mailbox.to("ada@example.com")
    assert message["Subject"] == "Ihr Download: Der Netzspeicher-Leitfaden"
    assert message["Content-Language"] == "de"
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert body.startswith("Hallo Ada,") and "herunterladen" in body
    assert _link_in(message) == link


async def test_a_mail_failure_never_loses_the_download(app, client, create_whitepaper):
    """Nothing listens on the SMTP port: the lead and the queued mail are kept for the worker."""
    whitepaper = await create_whitepaper()
    assert (await _download(client, whitepaper["id"])).status_code == 201
    async with app.state.db.session(write=False) as session:
        [mail] = (await session.exec(select(OutgoingMail))).all()
    assert mail.recipient == "ada@example.com" and mail.status == "pending" and mail.last_error


async def test_forged_expired_and_other_whitepapers_tokens_are_refused(client, settings, create_whitepaper):
    whitepaper = await create_whitepaper()
    other = await create_whitepaper()
    url = f"{BASE}/{whitepaper['id']}/file"
    good = _token((await _download(client, whitepaper["id"])).json()["download_url"])
    other_token = _token((await _download(client, other["id"])).json()["download_url"])
    refused = {
        "forged": _signed(settings, str(whitepaper["id"]), secret="someone-elses-secret-of-enough-length"),
        "tampered": good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"),
        "expired": _signed(settings, str(whitepaper["id"]), ttl=timedelta(seconds=-1)),
        "other whitepaper": other_token,
        "other purpose": _signed(settings, str(whitepaper["id"]), purpose="password-reset"),
        "garbage": "not-a-token",
        "empty": "",
    }
    for name, token in refused.items():
        response = await client.get(url, params={"token": token})
        assert response.status_code == 403, name
        assert response.json()["error"]["code"] == "INSUFFICIENT_PERMISSIONS", name
    assert (await client.get(url, params={"token": good})).status_code == 200


async def test_no_token_is_a_403(client, create_whitepaper):
    """Documented choice: a missing token is refused like a bad one (403), not as a malformed request (422)."""
    whitepaper = await create_whitepaper()
    response = await client.get(f"{BASE}/{whitepaper['id']}/file")
    assert response.status_code == 403 and response.json()["error"]["code"] == "INSUFFICIENT_PERMISSIONS"


async def test_a_valid_token_of_an_unpublished_or_deleted_whitepaper_finds_nothing(
    client, settings, admin_headers, editor_headers, create_whitepaper
):
    whitepaper = await create_whitepaper()
    url = local((await _download(client, whitepaper["id"])).json()["download_url"])
    await client.put(f"{BASE}/{whitepaper['id']}", json={"status": "draft"}, headers=editor_headers)
    assert (await client.get(url)).status_code == 404
    await client.put(f"{BASE}/{whitepaper['id']}", json={"status": "published"}, headers=editor_headers)
    assert (await client.get(url)).status_code == 200
    await client.delete(f"{BASE}/{whitepaper['id']}", headers=admin_headers)
    assert (await client.get(url)).status_code == 404
    unknown = await client.get(f"{BASE}/987654/file", params={"token": _signed(settings, "987654")})
    assert unknown.status_code == 404


async def test_only_published_whitepapers_can_be_requested(client, create_whitepaper):
    draft = await create_whitepaper(status="draft")
    assert (await _download(client, draft["id"])).status_code == 404
    assert (await _download(client, 987654)).status_code == 404


async def test_downloads_are_counted_and_leads_listed_once_per_email(
    client, viewer_headers, editor_headers, create_whitepaper
):
    whitepaper = await create_whitepaper()
    await _download(client, whitepaper["id"], consent_marketing=False)
    await _download(client, whitepaper["id"], email="ADA@example.com", company="Analytical Engines", consent_marketing=True)
    await _download(
        client, whitepaper["id"], email="grace@example.com", first_name="Grace", last_name="Hopper",
        consent_marketing=True,
    )
    detail = (await client.get(f"{BASE}/{whitepaper['id']}", headers=editor_headers)).json()
    assert detail["download_count"] == 3

    leads = await client.get(f"{BASE}/{whitepaper['id']}/downloads", headers=viewer_headers)
    assert leads.status_code == 200
    body = leads.json()
    assert body["total"] == 2 and body["limit"] == 20 and body["offset"] == 0
    by_email = {lead["email"]: lead for lead in body["items"]}
    assert by_email["ada@example.com"]["times"] == 2
    # The latest answers win.
    assert by_email["ada@example.com"]["company"] == "Analytical Engines"
    assert by_email["ada@example.com"]["consent_marketing"] is True
    assert by_email["grace@example.com"]["first_name"] == "Grace"
    assert [lead["email"] for lead in body["items"]] == ["grace@example.com", "ada@example.com"]
    page = (await client.get(f"{BASE}/{whitepaper['id']}/downloads?limit=1&offset=1", headers=viewer_headers)).json()
    assert [lead["email"] for lead in page["items"]] == ["ada@example.com"] and page["total"] == 2
    only_consenting = await client.get(
        f"{BASE}/{whitepaper['id']}/downloads", params={"consent_marketing": "true"}, headers=viewer_headers
    )
    assert only_consenting.json()["total"] == 2


async def test_leads_are_for_staff_only(client, create_whitepaper):
    whitepaper = await create_whitepaper()
    assert (await client.get(f"{BASE}/{whitepaper['id']}/downloads")).status_code == 401


async def test_each_download_publishes_lead_captured(client, create_whitepaper, leads):
    whitepaper = await create_whitepaper()
    await _download(client, whitepaper["id"], email="Ada@Example.com", language="de", consent_marketing=False)
    assert leads == [
        LeadCaptured(
            email="ada@example.com", first_name="Ada", last_name="Lovelace", company="Engines Ltd", language="de",
            consent_marketing=False, source=f"whitepaper:{whitepaper['id']}",
        )
    ]


async def test_a_repeat_download_is_not_a_new_lead_unless_it_gives_consent(client, create_whitepaper, leads):
    whitepaper = await create_whitepaper()
    for consent in (False, False, True, True, False):
        assert (await _download(client, whitepaper["id"], consent_marketing=consent)).status_code == 201
    assert [event.consent_marketing for event in leads] == [False, True]


async def test_addresses_plain_smtp_cannot_carry_are_refused_and_idn_domains_are_punycoded(
    client, mailbox, create_whitepaper
):
    whitepaper = await create_whitepaper()
    refused = await _download(client, whitepaper["id"], email="jürgen@example.com")
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "email"
    assert (await _download(client, whitepaper["id"], email="info@bücher.example")).status_code == 201
    [message] = mailbox.to("info@xn--bcher-kva.example")
    assert _link_in(message).startswith(PUBLIC_BASE_URL)


async def test_consent_must_be_an_explicit_choice(client, app, create_whitepaper):
    whitepaper = await create_whitepaper()
    body = visitor()
    del body["consent_marketing"]
    missing = await client.post(f"{BASE}/{whitepaper['id']}/download", json=body)
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "consent_marketing"
    declined = await _download(client, whitepaper["id"], consent_marketing=False)
    assert declined.status_code == 201


async def test_visitor_fields_are_validated(client, create_whitepaper):
    whitepaper = await create_whitepaper()
    for field, value in (("email", "not-an-email"), ("first_name", ""), ("language", "english"), ("extra", 1)):
        response = await _download(client, whitepaper["id"], **{field: value})
        assert response.status_code == 422, field
        assert response.json()["error"]["field"] == field


async def test_downloads_are_rate_limited_per_client(app, client, create_whitepaper):
    app.state.settings.rate_limit_public_per_minute = 2
    whitepaper = await create_whitepaper()
    assert (await _download(client, whitepaper["id"])).status_code == 201
    assert (await _download(client, whitepaper["id"])).status_code == 201
    limited = await _download(client, whitepaper["id"])
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "RATE_LIMITED"
    assert int(limited.headers["retry-after"]) >= 1


async def test_csv_export_is_quoted_and_formula_safe(client, viewer_headers, create_whitepaper):
    whitepaper = await create_whitepaper()
    await _download(
        client, whitepaper["id"], first_name='=HYPERLINK("http://evil")', last_name="+1", company="@SUM(A1)",
        consent_marketing=True,
    )
    await _download(client, whitepaper["id"], email="b@example.com", last_name="-2", company='Acme, "Inc"')
    response = await client.get(f"{BASE}/{whitepaper['id']}/downloads?format=csv", headers=viewer_headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == f'attachment; filename="whitepaper-{whitepaper["id"]}-downloads.csv"'
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    by_email = {row["email"]: row for row in rows}
    assert by_email["ada@example.com"]["first_name"] == "'=HYPERLINK(\"http://evil\")"
    assert by_email["ada@example.com"]["last_name"] == "'+1"
    assert by_email["ada@example.com"]["company"] == "'@SUM(A1)"
    assert by_email["b@example.com"]["last_name"] == "'-2" and by_email["b@example.com"]["company"] == 'Acme, "Inc"'
    assert by_email["ada@example.com"]["consent_marketing"] == "True" and by_email["ada@example.com"]["times"] == "1"


async def test_the_file_is_missing_on_disk_is_a_404_not_a_500(client, settings, create_whitepaper):
    whitepaper = await create_whitepaper()
    url = local((await _download(client, whitepaper["id"])).json()["download_url"])
    for path in Path(settings.upload_dir).glob("*.pdf"):
        path.unlink()
    response = await client.get(url)
    assert response.status_code == 404 and response.json()["success"] is False


async def test_simultaneous_downloads_are_all_counted_and_never_double_a_lead(client, viewer_headers, create_whitepaper):
    whitepaper = await create_whitepaper()
    responses = await asyncio.gather(*(_download(client, whitepaper["id"]) for _ in range(20)))
    assert [r.status_code for r in responses] == [201] * 20
    detail = (await client.get(f"{BASE}/{whitepaper['id']}", headers=viewer_headers)).json()
    assert detail["download_count"] == 20
    leads = (await client.get(f"{BASE}/{whitepaper['id']}/downloads", headers=viewer_headers)).json()
    assert leads["total"] == 1 and leads["items"][0]["times"] == 20


async def test_a_control_character_in_a_visitor_field_is_422_and_no_lead_is_kept(client, viewer_headers, create_whitepaper):
    whitepaper = await create_whitepaper()
    for field in ("first_name", "last_name", "company"):
        response = await _download(client, whitepaper["id"], **{field: "Ada\u0000"})
        assert response.status_code == 422 and response.json()["error"]["field"] == field, field
    leads = await client.get(f"{BASE}/{whitepaper['id']}/downloads", headers=viewer_headers)
    assert leads.json()["total"] == 0


async def test_the_outbox_holds_no_link_until_the_mail_is_rendered_at_delivery(app, client, create_whitepaper):
    whitepaper = await create_whitepaper()  # no SMTP server listens: the mail waits in the outbox
    link = (await _download(client, whitepaper["id"])).json()["download_url"]
    async with app.state.db.session(write=False) as session:
        [row] = (await session.exec(OutgoingMail.__table__.select())).all()
    dumped = repr(tuple(row))
    assert row.template == "whitepapers.download" and row.message is None
    assert _token(link) not in dumped and "token" not in dumped and "/file" not in dumped
