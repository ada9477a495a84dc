import pytest


def page_body(slug="about-us", **overrides):
    return {
        "slug": slug,
        "title": {"en": "About us", "de": "Über uns"},
        "content": {"en": "<p>We build things.</p>", "de": "<p>Wir bauen Dinge.</p>"},
        "meta_description": {"en": "Who we are"},
        **overrides,
    }


@pytest.fixture
def create_page(client, editor_headers):
    async def create(slug="about-us", **overrides):
        response = await client.post("/api/v1/content/pages", json=page_body(slug, **overrides), headers=editor_headers)
        assert response.status_code == 201, response.text
        return response.json()

    return create
