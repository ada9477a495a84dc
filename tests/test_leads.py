"""One person through every lead form: one normalized address in every table and every event."""

from features.bookings.tests.conftest import monday as monday  # a fixture
from features.bookings.tests.factories import berlin, booking_body
from features.webinars.tests.conftest import create_webinar as create_webinar  # a fixture
from features.whitepapers.tests.conftest import create_whitepaper as create_whitepaper  # a fixture
from features.whitepapers.tests.conftest import new_document as new_document  # a fixture
from features.whitepapers.tests.conftest import upload_media as upload_media  # a fixture
from features.whitepapers.tests.factories import visitor as whitepaper_visitor
from tests.engines import outside_the_app
from tests.factories import visitor as webinar_visitor

TYPED = " Grace@Example.COM "
STORED = "grace@example.com"


def _stored_addresses(settings) -> dict[str, list[str]]:
    """Each table's addresses as stored, read past the app (its models could normalize on the way out)."""
    tables = ("webinar_registrations", "whitepaper_downloads", "bookings")
    rows = outside_the_app(settings.database_url, *(f"SELECT email FROM {table} ORDER BY id" for table in tables))
    return {table: [email for (email,) in found] for table, found in zip(tables, rows, strict=True)}


async def test_the_same_person_through_all_three_forms_is_one_address(
    client, settings, leads, create_webinar, create_whitepaper, monday
):
    webinar = await create_webinar()
    whitepaper = await create_whitepaper()
    registered = await client.post(
        f"/api/v1/business/webinars/{webinar['id']}/register", json=webinar_visitor(TYPED)
    )
    downloaded = await client.post(
        f"/api/v1/business/whitepapers/{whitepaper['id']}/download", json=whitepaper_visitor(email=TYPED)
    )
    booked = await client.post("/api/v1/business/bookings", json=booking_body(berlin(monday, "10:00"), email=TYPED))
    assert (registered.status_code, downloaded.status_code, booked.status_code) == (201, 201, 201)

    assert [lead.email for lead in leads] == [STORED] * 3
    assert [lead.source.split(":")[0] for lead in leads] == ["webinar", "whitepaper", "booking"]
    assert registered.json()["email"] == STORED
    assert _stored_addresses(settings) == {table: [STORED] for table in _stored_addresses(settings)}


async def test_a_lead_is_news_when_its_record_is_new_or_newly_consents(client, leads, create_webinar, create_whitepaper):
    """The one rule, seen through two forms: a repeat that records nothing or withdraws consent is no news."""
    webinar = await create_webinar()
    url = f"/api/v1/business/webinars/{webinar['id']}/register"
    await client.post(url, json=webinar_visitor(STORED, consent_marketing=False))
    await client.post(url, json=webinar_visitor(STORED, consent_marketing=True))  # a repeat records nothing
    whitepaper = await create_whitepaper()
    url = f"/api/v1/business/whitepapers/{whitepaper['id']}/download"
    for consent in (False, True, False):  # new, newly consents, withdraws
        await client.post(url, json=whitepaper_visitor(email=STORED, consent_marketing=consent))
    assert [(lead.source.split(":")[0], lead.consent_marketing) for lead in leads] == [
        ("webinar", False), ("whitepaper", False), ("whitepaper", True),
    ]
