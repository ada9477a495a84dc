import pytest

from features.pages.tests.factories import page_body


@pytest.fixture
def create_page(client, editor_headers):
    async def create(slug="about-us", **overrides):
        response = await client.post("/api/v1/content/pages", json=page_body(slug, **overrides), headers=editor_headers)
        assert response.status_code == 201, response.text
        return response.json()

    return create
