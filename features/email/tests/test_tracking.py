"""Open and click tracking links (/api/v1/public/email/t/...): signed for one recipient and one
target, so a forged or altered link is a 404 and the redirect goes only where it was signed for."""

import re
from urllib.parse import parse_qs, quote, urlparse

import pytest

from features.email.links import click_url, open_pixel_url
from features.email.tests.campaign_helpers import BASE, seed_contacts, send_all

TARGET = "https://example.com/read?a=1&b=2"


def _local(url: str) -> str:
    """The path and query of one of our absolute links, for the test client."""
    parts = urlparse(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def _tracked_mail(app, client, editor_headers, create_campaign, create_template, html=None):
    """A campaign sent with opens and clicks tracked: the pixel and the tracked links of its one mail."""
    await seed_contacts(app, 1)
    template = await create_template(html_body={"en": html, "de": "<p>x</p>"}) if html else None
    campaign = await create_campaign(track_opens=True, track_clicks=True,
                                     **({"template_id": template["id"]} if template else {}))
    await client.post(f"{BASE}/campaigns/{campaign['id']}/send", headers=editor_headers)
    await send_all(app)
    return campaign


def _links(smtp) -> tuple[str, list[str]]:
    html = smtp.messages[0].get_body(("html",)).get_content()
    pixel = re.search(r'<img src="([^"]+/t/o/[^"]+)"', html).group(1)
    clicks = [link.replace("&amp;", "&") for link in re.findall(r'href="([^"]+/t/c/[^"]+)"', html)]
    return pixel, clicks


async def _stats(client, editor_headers, campaign_id) -> dict:
    return (await client.get(f"{BASE}/campaigns/{campaign_id}", headers=editor_headers)).json()["stats"]


async def test_the_pixel_counts_one_open_however_often_it_loads(app, client, editor_headers, smtp, create_campaign,
                                                                create_template):
    campaign = await _tracked_mail(app, client, editor_headers, create_campaign, create_template)
    pixel, _ = _links(smtp)
    for _ in range(3):
        loaded = await client.get(_local(pixel))
        assert loaded.status_code == 200 and loaded.headers["content-type"] == "image/gif"
        assert "no-store" in loaded.headers["cache-control"]
    stats = await _stats(client, editor_headers, campaign["id"])
    assert stats["opened"] == 1 and stats["clicked"] == 0


async def test_a_click_redirects_to_its_target_and_counts_as_an_open_too(app, client, editor_headers, smtp,
                                                                          create_campaign, create_template):
    campaign = await _tracked_mail(app, client, editor_headers, create_campaign, create_template)
    _, [click] = _links(smtp)
    for _ in range(2):
        followed = await client.get(_local(click))
        assert followed.status_code == 302 and followed.headers["location"] == TARGET
    stats = await _stats(client, editor_headers, campaign["id"])
    assert stats["clicked"] == 1 and stats["opened"] == 1  # the pixel may have been blocked


async def test_a_forged_signature_is_a_404(app, client, editor_headers, smtp, create_campaign, create_template):
    campaign = await _tracked_mail(app, client, editor_headers, create_campaign, create_template)
    pixel, [click] = _links(smtp)
    pixel_signature = re.search(r"/t/o/\d+/([^/]+)\.gif", pixel).group(1)
    click_signature = re.search(r"/t/c/\d+/([^?]+)", click).group(1)
    flipped = "A" if pixel_signature[0] != "A" else "B"
    forged = [
        pixel.replace(pixel_signature, flipped + pixel_signature[1:]),
        pixel.replace(pixel_signature, pixel_signature[:-1]),
        click.replace(click_signature, flipped + click_signature[1:]),
        click.replace(f"/{click_signature}?", f"/{pixel_signature}?"),  # the pixel's signature on a click
        pixel.replace(f"/{pixel_signature}.gif", f"/{click_signature}.gif"),
    ]
    for link in forged:
        response = await client.get(_local(link))
        assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND", link
    stats = await _stats(client, editor_headers, campaign["id"])
    assert stats["opened"] == 0 and stats["clicked"] == 0


async def test_a_link_moved_to_another_recipient_is_a_404(app, client, editor_headers, smtp, create_campaign,
                                                          create_template):
    await _tracked_mail(app, client, editor_headers, create_campaign, create_template)
    pixel, [click] = _links(smtp)
    recipient = re.search(r"/t/o/(\d+)/", pixel).group(1)
    other = str(int(recipient) + 1)
    for link in (pixel.replace(f"/t/o/{recipient}/", f"/t/o/{other}/"),
                 click.replace(f"/t/c/{recipient}/", f"/t/c/{other}/")):
        assert (await client.get(_local(link))).status_code == 404, link


@pytest.mark.parametrize(
    "altered",
    [
        "https://evil.example/read?a=1&b=2",
        "https://example.com/read?a=1&b=3",
        "https://example.com/read?a=1&b=2&next=https://evil.example",
        "https://example.com.evil.example/read?a=1&b=2",
        "http://example.com/read?a=1&b=2",
        "",
    ],
)
async def test_a_link_with_another_target_is_a_404_and_redirects_nowhere(
    app, client, editor_headers, smtp, create_campaign, create_template, altered
):
    campaign = await _tracked_mail(app, client, editor_headers, create_campaign, create_template)
    _, [click] = _links(smtp)
    path = urlparse(click).path
    response = await client.get(f"{path}?u={quote(altered, safe='')}")
    assert response.status_code == 404 and "location" not in response.headers
    assert (await client.get(path)).status_code == 422  # no target at all
    assert (await _stats(client, editor_headers, campaign["id"]))["clicked"] == 0


async def test_a_second_target_in_the_query_cannot_steer_the_redirect(app, client, editor_headers, smtp,
                                                                      create_campaign, create_template):
    await _tracked_mail(app, client, editor_headers, create_campaign, create_template)
    _, [click] = _links(smtp)
    evil = quote("https://evil.example/", safe="")
    for query in (f"{urlparse(click).query}&u={evil}", f"u={evil}&{urlparse(click).query}"):
        response = await client.get(f"{urlparse(click).path}?{query}")
        assert response.headers.get("location") in (None, TARGET), query


@pytest.mark.parametrize(
    "target",
    ["javascript:alert(1)", "//evil.example/x", "data:text/html,<script>alert(1)</script>", "ftp://example.com/f",
     "mailto:someone@example.com", "/api/v1/auth/me"],
)
async def test_a_target_that_is_not_a_web_address_is_a_404_even_when_signed(app, client, target):
    # Signed with our own key, as only a mail of ours could be: still never a redirect.
    link = click_url(app.state.settings, recipient_id=1, target=target)
    response = await client.get(_local(link))
    assert response.status_code == 404 and "location" not in response.headers


async def test_links_written_with_a_capitalised_scheme_still_redirect(app, client, editor_headers, smtp,
                                                                      create_campaign, create_template):
    # The mail tracks every http(s) link whatever its case; the redirect must then follow it.
    html = '<p><a href="HTTPS://Example.com/Offer">Offer</a> <a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
    campaign = await _tracked_mail(app, client, editor_headers, create_campaign, create_template, html=html)
    _, [click] = _links(smtp)
    assert parse_qs(urlparse(click).query)["u"] == ["HTTPS://Example.com/Offer"]
    followed = await client.get(_local(click))
    assert followed.status_code == 302 and followed.headers["location"] == "HTTPS://Example.com/Offer"
    assert (await _stats(client, editor_headers, campaign["id"]))["clicked"] == 1


async def test_a_pixel_signed_for_one_recipient_serves_only_that_one(app, client):
    pixel = open_pixel_url(app.state.settings, recipient_id=41)
    assert (await client.get(_local(pixel))).status_code == 200  # no such recipient: nothing counted, no error
    assert (await client.get(_local(pixel).replace("/41/", "/42/"))).status_code == 404
